"""The analyst web UI: a Flask blueprint served at / beside TAXII at /taxii2/.

Every page but log-in needs an account (`qalqan user add`); admin pages need the
admin role. Forms are Flask-WTF forms, so each POST carries a CSRF token; templates
autoescape and never render user HTML; the Content-Security-Policy allows scripts and
styles from this origin only.
"""
from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/assets")



@blueprint.context_processor
def who_the_node_is() -> dict:
    """`organisation` for base.html: the name on this node's card (`qalqan card --org`)."""
    from ..appctx import current_node
    return {"organisation": current_node().organisation()}


from . import (access, admin, auth, corrections, dashboard, filters, incidents, pairing, reactions,  # noqa: E402,F401
               responses, security, watches)  # (views register here)
