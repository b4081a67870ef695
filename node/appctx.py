"""The request's node: what blueprints call to reach the library, without importing
the module that builds the app (so there is no import cycle)."""
from __future__ import annotations

from flask import current_app

from .home import Node


def current_node() -> Node:
    return current_app.extensions["qalqan_node"]
