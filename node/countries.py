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


def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code in use (KZ), not merely two letters (XK, ZZ)."""
    return code in _table()


def location_properties(code: str) -> dict:
    """`name`, `country` and, where M49 places it, `region` of a country location."""
    known = _table()[code]
    return {"name": known["name"], "country": code, **({"region": known["region"]} if known["region"] else {})}
