"""Platform names (`telegram`, `tiktok`, `x`, …) as STIX and OpenCTI spell them.

A `user-account`'s `account_type` uses STIX 2.1's account-type-ov where it has the
platform (facebook, twitter, skype); any other platform keeps its own name, which the
open vocabulary allows (docs/data-model.md, "Strict validation")."""
from __future__ import annotations

ACCOUNT_TYPE_OV = {"facebook": "facebook", "x": "twitter", "twitter": "twitter", "skype": "skype"}


def account_type(platform: str) -> str:
    return ACCOUNT_TYPE_OV.get(platform, platform)
