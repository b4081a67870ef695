"""Countries as a STIX `location` names them: ISO 3166-1 alpha-2 code → English short
name and UN M49 region (STIX 2.1 region-ov), from node/data/countries.json (built by
scripts/build_country_reference.py). Importers key a country on its name (OpenCTI
names a location after `name`, else after the bare code)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _table() -> dict[str, dict]:
    return json.loads(resources.files(__package__).joinpath("data/countries.json").read_text("utf-8"))


def location_properties(code: str) -> dict:
    """`name`, `country` and, where M49 places it, `region` of a country location. A
    code ISO 3166-1 does not assign (a user-assigned one such as XK) is its own name."""
    known = _table().get(code)
    if known is None:
        return {"name": code, "country": code}
    return {"name": known["name"], "country": code, **({"region": known["region"]} if known["region"] else {})}
