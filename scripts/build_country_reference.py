#!/usr/bin/env python3
"""Build node/data/countries.json: ISO 3166-1 alpha-2 code → English short name and STIX
`region-ov` region, what a `location` carries beside its `country` code.

    scripts/build_country_reference.py [/usr/share/iso-codes/json/iso_3166-1.json] [-o OUT]

Names come from Debian's iso-codes (its `common_name` where it has one: "Iran", not
"Iran, Islamic Republic of"); regions are the UN M49 (sub-/intermediate) regions, which
STIX 2.1's region-ov names. Codes M49 does not place (Taiwan, Antarctica) are placed
below by hand.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ISO_CODES = Path("/usr/share/iso-codes/json/iso_3166-1.json")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "node" / "data" / "countries.json"

# UN M49 geographic regions (intermediate region where M49 has one, else sub-region),
# under their STIX 2.1 region-ov names.
M49 = {
    "south-america": "AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE",
    "western-africa": "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG",
    "central-america": "BZ CR GT HN MX NI PA SV",
    "eastern-africa": "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW",
    "northern-africa": "DZ EG EH LY MA SD TN",
    "middle-africa": "AO CD CF CG CM GA GQ ST TD",
    "southern-africa": "BW LS NA SZ ZA",
    "northern-america": "BM CA GL PM US",
    "caribbean": "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI",
    "eastern-asia": "CN HK JP KP KR MN MO TW",
    "southern-asia": "AF BD BT IN IR LK MV NP PK",
    "south-eastern-asia": "BN ID KH LA MM MY PH SG TH TL VN",
    "southern-europe": "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA",
    "australia-new-zealand": "AU CC CX HM NF NZ",
    "melanesia": "FJ NC PG SB VU",
    "micronesia": "FM GU KI MH MP NR PW UM",
    "polynesia": "AS CK NU PF PN TK TO TV WF WS",
    "central-asia": "KG KZ TJ TM UZ",
    "western-asia": "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE",
    "eastern-europe": "BG BY CZ HU MD PL RO RU SK UA",
    "northern-europe": "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ",
    "western-europe": "AT BE CH DE FR LI LU MC NL",
    "antarctica": "AQ",
}


def build(iso_codes: dict) -> dict:
    region_of = {code: region for region, codes in M49.items() for code in codes.split()}
    countries = {}
    for entry in sorted(iso_codes["3166-1"], key=lambda e: e["alpha_2"]):
        code = entry["alpha_2"]
        countries[code] = {"name": entry.get("common_name") or entry["name"], "region": region_of.get(code)}
    return countries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iso_codes", nargs="?", type=Path, default=ISO_CODES)
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    countries = build(json.loads(args.iso_codes.read_text("utf-8")))
    lines = [f"  {json.dumps(code)}: {json.dumps(value, ensure_ascii=False)}" for code, value in countries.items()]
    args.out.write_text("{\n" + ",\n".join(lines) + "\n}\n", "utf-8")
    print(f"{args.out}: {len(countries)} countries, {sum(1 for v in countries.values() if v['region'])} with a region")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
