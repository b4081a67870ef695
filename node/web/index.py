"""The UI's queries over the incident index (node/incident_index.py keeps it):
filtered and searched lists, counts, term values and related incidents.

Rows are numbered in order of first arrival (`n`); lists are newest first by `n`,
which lets filter terms, the FTS index and paging all walk one order.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from ..incident_index import OBSERVABLE_TYPES
from ..platforms import is_platform_domain
from ..store import Store
from ..textkey import is_language_word, query_words

TERM_KINDS = ("platform", "country", "technique", "tlp", "verdict", "node", "language", "public")
PAGE_SIZE = 50
# An observable in more reports than this (t.me, youtube.com) is too common to relate incidents.
COMMON_OBSERVABLE = 200


@dataclass
class Filters:
    text: str = ""
    terms: dict[str, str] = field(default_factory=dict)  # kind → value, kinds from TERM_KINDS
    seen_from_us: int | None = None
    seen_until_us: int | None = None
    before: int | None = None  # paging cursor: show rows with n below this
    limit: int = PAGE_SIZE


# The columns that hold the text as written; `keys` holds their search keys (node/textkey).
TYPED_COLUMNS = "{title summary claim threat_actor observables case_id}"


def fts_query(text: str) -> str | None:
    """User words → an FTS5 query: every word must occur. A word of letters matches
    through the search keys (node/textkey): its transliteration key as a prefix (the word
    or its beginning, in either script) or one of its stems (another form of it). Any
    other word (a case id, URL, account, hash, number) and a one-letter word match as
    typed, as a prefix. No FTS syntax passes. NUL separates words too: FTS5 ends a quoted
    string at it ("unterminated string")."""
    words = [w for w in text.replace("\x00", " ").split() if any(c.isalnum() for c in w)]
    if not words:
        return None
    return " AND ".join(_word_query(w) for w in words)


def _word_query(word: str) -> str:
    parts = query_words(word) if is_language_word(word) else []  # миш-миш has two parts
    if not parts:
        return f"({TYPED_COLUMNS} : {_quoted(word)}*)"
    return "(keys : (" + " AND ".join(
        "(" + " OR ".join([f"{_quoted(k)}*" for k in part.prefixes] + [_quoted(k) for k in part.stems]) + ")"
        for part in parts) + "))"


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


@dataclass
class _Plan:
    """How to find the matching rows: a driving table whose key walks the row numbers
    newest first, and the conditions each candidate must pass."""

    source: str
    key: str
    conds: list[str]
    params: list
    needs_row: bool  # conditions on web_incidents columns (the date range)


def _term_size(store: Store, kind: str, value: str, cap: int = 20_000) -> int:
    return store.one("SELECT COUNT(*) AS n FROM (SELECT 1 FROM web_incident_terms WHERE kind = ? AND value = ?"
                     " LIMIT ?)", [kind, value, cap])["n"]


def _plan(store: Store, filters: Filters) -> _Plan:
    # Drive from the FTS index when there is text (FTS5 walks rowids in order), else from
    # the smallest filter term's slice of the terms index, else from the rows themselves;
    # every other filter is a point lookup per candidate.
    terms = [(kind, value) for kind, value in filters.terms.items() if kind in TERM_KINDS and value]
    match = fts_query(filters.text)
    conds, params = [], []
    if match:
        source, key = "web_incident_fts", "web_incident_fts.rowid"
        conds.append("web_incident_fts MATCH ?")
        params.append(match)
    elif terms:
        terms.sort(key=lambda term: _term_size(store, *term))
        kind, value = terms.pop(0)
        source, key = "web_incident_terms t0", "t0.incident"
        conds.append("t0.kind = ? AND t0.value = ?")
        params += [kind, value]
    else:
        source, key = "web_incidents i", "i.n"
    for j, (kind, value) in enumerate(terms, 1):
        conds.append(f"EXISTS (SELECT 1 FROM web_incident_terms t{j} WHERE t{j}.kind = ? AND t{j}.value = ?"
                     f" AND t{j}.incident = {key})")
        params += [kind, value]
    for bound, op in ((filters.seen_from_us, ">="), (filters.seen_until_us, "<")):
        if bound is not None:
            conds.append(f"i.first_seen_us {op} ?")
            params.append(bound)
    needs_row = filters.seen_from_us is not None or filters.seen_until_us is not None
    return _Plan(source, key, conds, params, needs_row)


def _from(plan: _Plan, with_row: bool) -> str:
    if plan.key == "i.n" or not with_row:
        return plan.source
    return f"{plan.source} CROSS JOIN web_incidents i ON i.n = {plan.key}"


LIST_COLUMNS = ("i.n, i.incident_id, i.title, i.verdict, i.tlp, i.language, i.first_seen, i.created, i.case_id,"
                " i.created_by, i.origin, i.source, i.received, c.name AS node_name, c.country AS node_country")


def list_incidents(store: Store, filters: Filters) -> list[dict]:
    """One page, newest first; a row beyond the limit tells the caller there is a next page."""
    plan = _plan(store, filters)
    conds, params = list(plan.conds), list(plan.params)
    if filters.before is not None:
        conds.append(f"{plan.key} < ?")
        params.append(filters.before)
    where = " AND ".join(conds) or "1"
    rows = store.query(
        f"SELECT {LIST_COLUMNS} FROM {_from(plan, True)} LEFT JOIN cards c ON c.identity = i.created_by"
        f" WHERE {where} ORDER BY {plan.key} DESC LIMIT ?", [*params, filters.limit + 1])
    return _with_terms(store, rows)


def count_incidents(store: Store, filters: Filters, cap: int = 10_000) -> tuple[int, bool]:
    """How many match, counted up to `cap` so a broad search stays cheap; (count, capped)."""
    plan = _plan(store, filters)
    where = " AND ".join(plan.conds) or "1"
    n = store.one(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {_from(plan, plan.needs_row)} WHERE {where} LIMIT ?)",
                  [*plan.params, cap + 1])["n"]
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


def indexed_incident(store: Store, incident_id: str) -> dict | None:
    return store.one("SELECT i.*, c.name AS node_name, c.country AS node_country FROM web_incidents i"
                     " LEFT JOIN cards c ON c.identity = i.created_by WHERE i.incident_id = ?", [incident_id])


def term_values(store: Store, kind: str) -> list[str]:
    """Values a filter can take (distinct values via the terms index: a skip-scan per value)."""
    values, last = [], ""
    while len(values) < 500:
        row = store.one("SELECT value FROM web_incident_terms WHERE kind = ? AND value > ? ORDER BY value LIMIT 1",
                        [kind, last])
        if row is None:
            break
        values.append(row["value"])
        last = row["value"]
    return values


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
