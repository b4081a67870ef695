"""The UI's queries over the incident index (node/incident_index.py keeps it):
filtered and searched lists, counts, term values and related incidents.

Rows are numbered in order of first arrival (`n`); lists are newest first by `n`,
which lets filter terms, the FTS index and paging all walk one order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from ..incident_index import OBSERVABLE_TYPES
from ..incident_query import PAGE_SIZE, TERM_KINDS, Filters, fts_query, from_clause, plan, term_values  # noqa: F401
from ..platforms import is_platform_domain
from ..similar_claims import similar
from ..store import Store

# An observable in more reports than this (t.me, youtube.com) is too common to relate incidents.
COMMON_OBSERVABLE = 200


LIST_COLUMNS = ("i.n, i.incident_id, i.title, i.verdict, i.tlp, i.language, i.first_seen, i.created, i.case_id,"
                " i.created_by, i.origin, i.source, i.received, c.name AS node_name, c.country AS node_country")


def list_incidents(store: Store, filters: Filters) -> list[dict]:
    """One page, newest first; a row beyond the limit tells the caller there is a next page."""
    plan_ = plan(store, filters)
    conds, params = list(plan_.conds), list(plan_.params)
    if filters.before is not None:
        conds.append(f"{plan_.key} < ?")
        params.append(filters.before)
    where = " AND ".join(conds) or "1"
    rows = store.query(
        f"SELECT {LIST_COLUMNS} FROM {from_clause(plan_, True)} LEFT JOIN cards c ON c.identity = i.created_by"
        f" WHERE {where} ORDER BY {plan_.key} DESC LIMIT ?", [*params, filters.limit + 1])
    return _with_terms(store, rows)


def count_incidents(store: Store, filters: Filters, cap: int = 10_000) -> tuple[int, bool]:
    """How many match, counted up to `cap` so a broad search stays cheap; (count, capped)."""
    plan_ = plan(store, filters)
    where = " AND ".join(plan_.conds) or "1"
    n = store.one(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {from_clause(plan_, plan_.needs_row)} WHERE {where}"
                  " LIMIT ?)", [*plan_.params, cap + 1])["n"]
    return min(n, cap), n > cap


def _with_terms(store: Store, rows: list[dict]) -> list[dict]:
    if not rows:
        return rows
    ns = [r["n"] for r in rows]
    terms: dict[int, dict[str, list[str]]] = {n: {} for n in ns}
    for t in store.query(f"SELECT incident, kind, value FROM web_incident_terms WHERE incident IN "
                         f"({', '.join('?' for _ in ns)}) AND kind IN ('platform', 'country', 'technique')"
                         " ORDER BY value", ns):
        terms[t["incident"]].setdefault(t["kind"], []).append(t["value"])
    for r in rows:
        r["terms"] = terms[r["n"]]
    return rows


# An incident's index row as the incident page shows it, and the ones it lists beside it.
_INDEXED = ("SELECT i.*, c.name AS node_name, c.country AS node_country FROM web_incidents i"
            " LEFT JOIN cards c ON c.identity = i.created_by")


def indexed_incident(store: Store, incident_id: str) -> dict | None:
    return store.one(f"{_INDEXED} WHERE i.incident_id = ?", [incident_id])


def _indexed_rows(store: Store, ns: list[int]) -> dict[int, dict]:
    return {row["n"]: row for row in store.query(f"{_INDEXED} WHERE i.n IN ({', '.join('?' for _ in ns)})", ns)}


@dataclass
class Related:
    incidents: list[dict]
    too_common: list[tuple[str, str, int]]  # (kind, value, reports holding it): not used to relate
    platform_domains: list[str]  # the platforms' own domains it holds: never used to relate


def related_incidents(store: Store, incident_id: str, limit: int = 50, common: int = COMMON_OBSERVABLE) -> Related:
    """Other incidents, from any node, whose reports share an observable with this one's.

    Observable ids are deterministic (UUIDv5 of the value), so the same URL recorded at
    two nodes is one id and the report_refs index finds the match directly. An observable
    in more than `common` reports relates nothing, nor does a platform's domain (t.me,
    youtube.com: node/platforms.py): both are named instead. Incidents sharing a URL,
    account or media hash rank above domain-only ones."""
    like = " OR ".join(f"mine.ref LIKE '{t}--%'" for t in OBSERVABLE_TYPES)
    observables = [r["ref"] for r in store.query(
        "SELECT DISTINCT mine.ref FROM report_refs own JOIN report_refs mine ON mine.report = own.report"
        f" WHERE own.ref = ? AND ({like})", [incident_id])]
    domains = observable_values(store, [r for r in observables if r.startswith("domain-name--")])
    platform = {ref for ref, (_, host) in domains.items() if is_platform_domain(host)}
    shared: dict[str, list[str]] = {}
    too_common = []
    for ref in [r for r in observables if r not in platform]:
        reports = [r["report"] for r in store.query(
            "SELECT report FROM report_refs WHERE ref = ? LIMIT ?", [ref, common + 1])]
        if len(reports) > common:
            too_common.append(ref)
            continue
        for other in _incidents_of_reports(store, reports):
            if other != incident_id:
                shared.setdefault(other, []).append(ref)
    ranked = sorted(shared.items(), key=lambda kv: (-sum(_weight(r) for r in kv[1]), kv[0]))[:limit]
    values = observable_values(store, {ref for _, refs in ranked for ref in refs} | set(too_common))
    incidents = []
    for other_id, refs in ranked:
        entry = indexed_incident(store, other_id) or {"incident_id": other_id, "title": None}
        entry["shared"] = sorted(values.get(ref, (ref.split("--")[0], ref)) for ref in refs)
        incidents.append(entry)
    counted = [(*values.get(ref, ("?", ref)), _count_reports(store, ref)) for ref in too_common]
    return Related(incidents, counted, sorted(domains[ref][1] for ref in platform))


def similar_claims(store: Store, incident_id: str, limit: int = 50) -> list[dict]:
    """Other incidents, from any node, whose claim is a near duplicate of this one's (either
    script, light rewording; node/similar_claims.py), best first, each with its `score`."""
    row = store.one("SELECT n FROM web_incidents WHERE incident_id = ?", [incident_id])
    matches = similar(store.conn, row["n"], limit=limit) if row else []
    rows = _indexed_rows(store, [m.n for m in matches]) if matches else {}
    return [{**rows[m.n], "score": m.score} for m in matches if m.n in rows]


def _weight(ref: str) -> int:
    # A shared domain alone is weak evidence; a shared URL, account or media hash is strong.
    return 1 if ref.startswith("domain-name--") else 10


def _incidents_of_reports(store: Store, reports: list[str]) -> list[str]:
    out = []
    for start in range(0, len(reports), 500):
        chunk = reports[start:start + 500]
        out += [r["ref"] for r in store.query(
            f"SELECT ref FROM report_refs WHERE report IN ({', '.join('?' for _ in chunk)})"
            " AND ref LIKE 'incident--%'", chunk)]
    return out


def _count_reports(store: Store, ref: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM report_refs WHERE ref = ?", [ref])["n"]


def observable_values(store: Store, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """id → (kind, the value as an analyst reads it) for observables the node holds."""
    ids = list(ids)
    out = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in store.query(f"SELECT id, json FROM objects WHERE latest = 1 AND id IN "
                               f"({', '.join('?' for _ in chunk)})", chunk):
            out[row["id"]] = describe_observable(json.loads(row["json"]))
    return out


def describe_observable(obj: dict) -> tuple[str, str]:
    kind = obj.get("type", "")
    if kind in ("url", "domain-name"):
        return kind, str(obj.get("value", ""))
    if kind == "user-account":
        return "account", f"{obj.get('account_type', '')}: {obj.get('account_login', '')}"
    if kind == "file":
        hashes = obj.get("hashes") or {}
        return "media", str(hashes.get("SHA-256") or next(iter(hashes.values()), ""))
    return kind, obj.get("id", "")
