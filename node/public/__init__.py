"""The public face of a node, without log-in, at /public/ when `public.enabled` is true:
an index of debunks with search, one page per debunk with schema.org ClaimReview
markup, and an Atom feed. What it shows is decided by policy.is_public_debunk alone
(TLP:CLEAR, a verdict, not withdrawn), read through the incident index's public term.
"""
from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("public", __name__, url_prefix="/public", template_folder="templates")

from . import views  # noqa: E402,F401  (views register here)
