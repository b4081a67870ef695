"""Platforms: their names (`telegram`, `tiktok`, `x`, …) as STIX and OpenCTI spell them,
and the domains they serve content from.

A `user-account`'s `account_type` uses STIX 2.1's account-type-ov where it has the
platform (facebook, twitter, skype); any other platform keeps its own name, which the
open vocabulary allows (docs/data-model.md, "Strict validation")."""
from __future__ import annotations

ACCOUNT_TYPE_OV = {"facebook": "facebook", "x": "twitter", "twitter": "twitter", "skype": "skype"}


def account_type(platform: str) -> str:
    return ACCOUNT_TYPE_OV.get(platform, platform)


def platform_of_account_type(kind: str | None) -> str | None:
    """The platform an account type was written for (`twitter` was recorded as `x`)."""
    return "x" if kind == "twitter" else kind


# Where platforms serve everyone's content: two incidents on the same platform share
# these domains by nature, so a domain here (or under one) never relates them by itself.
PLATFORM_DOMAINS = frozenset({
    "t.me", "telegram.me", "telegram.org", "tiktok.com", "youtube.com", "youtu.be", "facebook.com", "fb.com",
    "fb.watch", "x.com", "twitter.com", "t.co", "instagram.com", "vk.com", "vk.ru", "ok.ru", "whatsapp.com",
    "wa.me", "threads.net", "linkedin.com", "reddit.com", "rutube.ru", "dzen.ru", "max.ru", "snapchat.com",
    "pinterest.com", "discord.com", "discord.gg", "twitch.tv", "bsky.app", "mastodon.social",
})


def is_platform_domain(host: str) -> bool:
    """True for a platform's domain or a name under one (www.youtube.com, vm.tiktok.com)."""
    name = host.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in PLATFORM_DOMAINS)
