"""Sync with partner nodes: pull, push, cursors, retries, peer health, the background loop.

design/README.md (Sync): for each peer and each feed to pull, GET objects with
`added_after` = the saved cursor, follow `next`, ingest each page, then save the
cursor; push own objects to the peers' push feeds; pull remains the safety net.

Only the command definition is imported here: every `qalqan` start loads this
package, and the sync machinery (stix2, the store, taxii2-client) is not cheap.
"""
from __future__ import annotations

from .cli import add_sync_command

__all__ = ["add_sync_command"]
