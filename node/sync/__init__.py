"""Sync with partner nodes: pull, push, cursors, retries, peer health, the background loop.

design/README.md (Sync): for each peer and each feed to pull, GET objects with
`added_after` = the saved cursor, follow `next`, ingest each page, then save the
cursor; push own objects to the peers' push feeds; pull remains the safety net.
"""
from .cli import add_sync_command
from .loop import start_background_sync
from .rounds import PeerResult, sync_peer, sync_round

__all__ = ["add_sync_command", "start_background_sync", "sync_peer", "sync_round", "PeerResult"]
