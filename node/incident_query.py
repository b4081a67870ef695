"""Filters over the incident index (node/incident_index.py keeps it): what "an incident
matches these filters" means, in one place.

The UI's lists, counts and CSV (node/web/index.py) and the watches (node/alerts/) all
ask here: a list walks the matching rows newest first; a watch asks which of a few
rows that just changed match (`matching_rows`). Both build the same conditions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .incident_index import WITHDRAWN_TERM
from .sco import deterministic_id
from .store import Store
from .textkey import is_language_word, query_words

TERM_KINDS = ("platform", "country", "technique", "tlp", "verdict", "node", "language", "public", "state",
              "opinion")
PAGE_SIZE = 50


@dataclass
class Filters:
    text: str = ""
    terms: dict[str, str] = field(default_factory=dict)  # kind → value, kinds from TERM_KINDS
    seen_from_us: int | None = None
    seen_until_us: int | None = None
    before: int | None = None  # paging cursor: show rows with n below this
    limit: int = PAGE_SIZE
    # An observable the incident's report must name: a URL as recorded, or an account login
    # on any platform (with or without @).
    observable: str = ""


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


def _terms(filters: Filters) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in filters.terms.items() if kind in TERM_KINDS and value]


def _conditions(filters: Filters, key: str, terms: list[tuple[str, str]], text: bool) -> tuple[list[str], list]:
    """The conditions a row numbered `key` must pass: `terms` (those the driving table
    does not already hold), the text unless the FTS table drives (`text` False), the
    observables, withdrawn rows only when asked for, the date range."""
    conds, params = [], []
    match = fts_query(filters.text) if text else None
    if match:
        conds.append(f"EXISTS (SELECT 1 FROM web_incident_fts WHERE web_incident_fts.rowid = {key}"
                     " AND web_incident_fts MATCH ?)")
        params.append(match)
    for j, (kind, value) in enumerate(terms, 1):
        conds.append(f"EXISTS (SELECT 1 FROM web_incident_terms t{j} WHERE t{j}.kind = ? AND t{j}.value = ?"
                     f" AND t{j}.incident = {key})")
        params += [kind, value]
    if filters.observable.strip():
        cond, more = _observable_condition(filters.observable.strip(), key)
        conds.append(cond)
        params += more
    if "state" not in filters.terms:  # withdrawn incidents only when asked for
        conds.append(f"NOT EXISTS (SELECT 1 FROM web_incident_terms w WHERE w.kind = ? AND w.value = ?"
                     f" AND w.incident = {key})")
        params += list(WITHDRAWN_TERM)
    for bound, op in ((filters.seen_from_us, ">="), (filters.seen_until_us, "<")):
        if bound is not None:
            conds.append(f"i.first_seen_us {op} ?")
            params.append(bound)
    return conds, params


def plan(store: Store, filters: Filters) -> _Plan:
    # Drive from the FTS index when there is text (FTS5 walks rowids in order), else from
    # the smallest filter term's slice of the terms index, else from the rows themselves;
    # every other filter is a point lookup per candidate.
    terms = _terms(filters)
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
    more, more_params = _conditions(filters, key, terms, text=False)
    needs_row = filters.seen_from_us is not None or filters.seen_until_us is not None
    return _Plan(source, key, conds + more, params + more_params, needs_row)


def from_clause(plan_: _Plan, with_row: bool) -> str:
    if plan_.key == "i.n" or not with_row:
        return plan_.source
    return f"{plan_.source} CROSS JOIN web_incidents i ON i.n = {plan_.key}"


def matching_rows(store: Store, filters: Filters, rows: list[int]) -> set[int]:
    """Which of these index rows (web_incidents.n) the filters match: the conditions of
    a list, each row looked up by its number (a watch asks about the few rows a batch
    of objects changed)."""
    found: set[int] = set()
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        conds, params = _conditions(filters, "i.n", _terms(filters), text=True)
        where = " AND ".join([f"i.n IN ({', '.join('?' for _ in chunk)})", *conds])
        found.update(r["n"] for r in store.query(f"SELECT i.n FROM web_incidents i WHERE {where}",
                                                 [*chunk, *params]))
    return found


def _observable_condition(value: str, key: str) -> tuple[str, list]:
    """The report of the row numbered `key` names this URL (its id derives from the value,
    node/sco.py) or an account with this login, whatever its platform."""
    refs = f"FROM web_incidents io JOIN report_refs ro ON ro.report = io.report_id WHERE io.n = {key}"
    if value.lower().startswith(("http://", "https://")):
        return f"EXISTS (SELECT 1 {refs} AND ro.ref = ?)", [deterministic_id({"type": "url", "value": value})]
    logins = sorted({value, value.lstrip("@"), "@" + value.lstrip("@")} - {"", "@"})
    return (f"EXISTS (SELECT 1 FROM web_incidents io JOIN report_refs ro ON ro.report = io.report_id"
            f" JOIN objects oo ON oo.id = ro.ref AND oo.latest = 1 WHERE io.n = {key}"
            f" AND ro.ref LIKE 'user-account--%' AND json_extract(oo.json, '$.account_login')"
            f" IN ({', '.join('?' for _ in logins)}))", logins)


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
