"""Status resources of POSTs (spec 4.3.1): built from the ingest outcomes, kept in the
store, readable by the peer that posted.

Ingest finishes before the POST answers, so every status is `complete`:
accepted and duplicate objects are successes (a duplicate is not an error, A4);
rejected objects are failures with the reason; quarantined objects (signer not yet
trusted) are failures too, with a message saying they are held and will be stored
once the signer's card is pinned — never `pending`, which would make clients poll
for something only an operator can resolve.

An outcome that reveals what the node holds (a duplicate, an equivocation, the creator
rule) about an object the poster may not read is answered as a new object would be
(docs/security.md, "POST status answers"); the audit log keeps the truth.
"""
from __future__ import annotations

import json
import uuid

from ..ingest import ACCEPTED, DUPLICATE, QUARANTINED
from ..store import Store
from ..timefmt import now_us, us_to_taxii
from ..verify import Outcome

RETENTION_US = 7 * 24 * 3600 * 1_000_000  # the spec asks for at least 24 hours


def build(outcomes: list[Outcome], objects: list, received_us: int, unpublished: set[tuple[str, str]]) -> dict:
    """`outcomes`: one per posted object, as the poster may see them (writes.py);
    `unpublished`: (id, version) accepted but kept out of the posted-to feed by policy."""
    successes, failures = [], []
    for index, outcome in enumerate(outcomes):
        detail = _detail(outcome, objects[index] if index < len(objects) else None, index)
        if outcome.status == ACCEPTED:
            if (outcome.id, outcome.version) in unpublished:
                detail["message"] = ("stored, but the sharing policy keeps it out of this collection "
                                     "(TLP above the feed's ceiling, or not relayable)")
            successes.append(detail)
        elif outcome.status == DUPLICATE:
            detail["message"] = "already held: duplicate"
            successes.append(detail)
        elif outcome.status == QUARANTINED:
            detail["message"] = f"quarantined until its signer's card is pinned: {outcome.reason}"
            failures.append(detail)
        else:
            detail["message"] = outcome.reason or "rejected"
            failures.append(detail)
    resource = {
        "id": str(uuid.uuid4()), "status": "complete", "request_timestamp": us_to_taxii(received_us),
        "total_count": len(successes) + len(failures), "success_count": len(successes),
        "failure_count": len(failures), "pending_count": 0,
    }
    if successes:
        resource["successes"] = successes
    if failures:
        resource["failures"] = failures
    return resource


def _detail(outcome, obj, index: int) -> dict:
    detail = {"id": outcome.id or f"objects[{index}]"}
    version = outcome.version
    if version is None and isinstance(obj, dict):
        version = obj.get("modified") or obj.get("created")
    if isinstance(version, str):
        detail["version"] = version
    return detail


def save(store: Store, resource: dict, owner: str) -> None:
    now = now_us()
    with store.transaction() as db:
        db.execute("DELETE FROM statuses WHERE created < ?", [now - RETENTION_US])
        db.execute("INSERT INTO statuses (id, created, owner, json) VALUES (?, ?, ?, ?)",
                   [resource["id"], now, owner, json.dumps(resource, ensure_ascii=False, separators=(",", ":"))])


def load(store: Store, status_id: str, owner: str) -> str | None:
    row = store.one("SELECT json FROM statuses WHERE id = ? AND owner = ?", [status_id, owner])
    return row["json"] if row else None
