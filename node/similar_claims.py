"""Near-duplicate claims, from any node and in either script: MinHash signatures and LSH
bands kept in SQLite beside the incident index (node/incident_index.py writes them on
ingest; node/web/index.py asks them).

A claim is folded to its transliteration key (node/textkey: Cyrillic and Latin Kazakh,
Uzbek and Azerbaijani give one key, lower case, no punctuation) and cut into character
3-grams of the key with a space at each end. Measured on bench/claim_pairs.yaml, 3-grams
keep a light rewording or another inflection above 0.57 Jaccard and a different claim on
the same topic below 0.42; 4- and 5-grams and whole words separated the two less (words
cut to five letters did about as well, on a rule of thumb for stems; 3-grams need none).

The signature is a one-permutation MinHash: every 3-gram is hashed once (BLAKE2b, 64 bits,
kept in a cache: a language has a few thousand 3-grams in use), the hash picks one of SLOTS slots and each slot keeps the smallest value it was given; a
slot nothing fell into borrows from the first filled slot in its own fixed donor order
(densification, Shrivastava 2017), so two claims agree on a slot with probability about
their Jaccard similarity. The score shown is the share of slots that agree. Pure Python,
one hash per 3-gram (a K-permutation MinHash costs K per 3-gram; datasketch would bring
numpy and scipy for the same sums).

LSH: BANDS bands of ROWS slots each become one term per band in a contentless FTS5 table,
one row per incident (rowid = the incident's index row `n`); incidents that share any
band term are candidates, checked against their stored signatures. FTS5 keeps its terms
in segments it appends and merges, where a (band, bucket, n) B-tree took a random page
write per band and incident: at 90,000 incidents 0.4 ms an incident against 0.03 ms.

Changing the fold, the shingles or these numbers changes every signature: that needs a
schema step that calls `sign_all`. The tables are made by node/migrations.py (step 9).
"""
from __future__ import annotations

import hashlib
import sqlite3
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from .textkey import fold

SHINGLE = 3
SLOTS = 128
# P(candidate) = 1 - (1 - J**4)**32: 0.87 at J = 0.5, 0.96 at 0.57, 0.99 at 0.65; 0.003 at 0.1.
# Three slots a band (42 bands) would find a few more at 0.5 but make over 10 times as
# many candidates of unrelated claims (J 0.05 to 0.15) and cost ingest 40% more a claim.
BANDS, ROWS = 32, 4
THRESHOLD = 0.5  # listed from this score up (bench/similar_claims.py --quality prints the pairs on each side)
MAX_CLAIM = 4000  # characters of a claim that are shingled
MAX_CANDIDATES = 2000  # newest first, when a band term is very common (many copies of one claim)

_EMPTY = 1 << 16
_PACK = struct.Struct(f"<{SLOTS}H")


def _hash64(text: str) -> int:
    """BLAKE2b, 64 bits: the same in every process (str's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


@lru_cache(maxsize=1)
def _donors() -> tuple[tuple[int, ...], ...]:
    """For each slot, the other slots in a fixed pseudo-random order (the same in every process)."""
    return tuple(tuple(sorted((j for j in range(SLOTS) if j != i), key=lambda j: _hash64(f"{i} {j}")))
                 for i in range(SLOTS))


def shingles(claim: str) -> set[str]:
    """The claim's folded 3-grams (its key with a space at each end)."""
    key = fold(claim[:MAX_CLAIM])
    padded = f" {key} " if key else ""
    return {padded[i:i + SHINGLE] for i in range(len(padded) - SHINGLE + 1)}


_placed: dict[str, tuple[int, int]] = {}  # 3-gram → (slot, value): the few thousand in use, hashed once


def _place(gram: str) -> tuple[int, int]:
    placed = _placed.get(gram)
    if placed is None:
        if len(_placed) >= 200_000:
            _placed.clear()  # other scripts pass the fold unchanged: keep the cache bounded
        h = _hash64(gram)
        placed = _placed[gram] = ((h >> 48) * SLOTS) >> 16, h & 0xFFFF
    return placed


def signature(claim: str | None) -> bytes | None:
    """The claim's MinHash signature (SLOTS 16-bit values), or None for no claim."""
    grams = shingles(claim) if isinstance(claim, str) else set()
    if not grams:
        return None
    mins = [_EMPTY] * SLOTS
    for gram in grams:
        slot, value = _placed.get(gram) or _place(gram)
        if value < mins[slot]:
            mins[slot] = value
    dense, donors = list(mins), _donors()
    for slot in range(SLOTS):
        if mins[slot] == _EMPTY:  # borrow from a slot that was given a value (not one that borrowed)
            for donor in donors[slot]:
                if mins[donor] != _EMPTY:
                    dense[slot] = mins[donor]
                    break
    return _PACK.pack(*dense)


_LANE_LOW_BITS = int.from_bytes(b"\x01\x00" * SLOTS, "little")


def score(a: bytes, b: bytes) -> float:
    """The Jaccard estimate of two signatures: the share of slots that agree. (The slots
    that differ are the 16-bit lanes of a XOR b with a bit set: each lane's bits are ORed
    into its lowest bit, and those are counted.)"""
    x = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    for shift in (8, 4, 2, 1):
        x |= x >> shift
    return (SLOTS - (x & _LANE_LOW_BITS).bit_count()) / SLOTS


def band_terms(sig: bytes) -> list[str]:
    """One term per band: its number and its ROWS values (ascii letters and digits)."""
    width = 2 * ROWS
    return [f"b{band}x{sig[band * width:(band + 1) * width].hex()}" for band in range(BANDS)]


# -- the tables ----------------------------------------------------------------------------

def index_claim(conn: sqlite3.Connection, n: int, claim: str | None) -> None:
    """Keep incident row `n`'s signature and band terms in step with its claim."""
    new = signature(claim)
    row = conn.execute("SELECT signature FROM claim_signatures WHERE incident = ?", [n]).fetchone()
    old = row[0] if row else None
    if old == new:
        return
    if old is not None:
        # A contentless FTS5 table forgets a row when told the terms it was given.
        conn.execute("INSERT INTO claim_bands (claim_bands, rowid, terms) VALUES ('delete', ?, ?)",
                     [n, " ".join(band_terms(old))])
        conn.execute("DELETE FROM claim_signatures WHERE incident = ?", [n])
    if new is not None:
        conn.execute("INSERT INTO claim_signatures (incident, signature) VALUES (?, ?)", [n, new])
        conn.execute("INSERT INTO claim_bands (rowid, terms) VALUES (?, ?)", [n, " ".join(band_terms(new))])


def sign_all(conn: sqlite3.Connection, batch: int = 2000) -> int:
    """Sign every indexed incident's claim afresh (a schema step, in its transaction); returns how many."""
    conn.execute("DELETE FROM claim_signatures")
    conn.execute("INSERT INTO claim_bands (claim_bands) VALUES ('delete-all')")
    signed, last = 0, 0
    while True:
        rows = conn.execute("SELECT n, claim FROM web_incidents WHERE n > ? AND claim IS NOT NULL ORDER BY n"
                            " LIMIT ?", [last, batch]).fetchall()
        if not rows:
            return signed
        pairs = [(n, sig) for n, sig in ((n, signature(claim)) for n, claim in rows) if sig is not None]
        conn.executemany("INSERT INTO claim_signatures (incident, signature) VALUES (?, ?)", pairs)
        conn.executemany("INSERT INTO claim_bands (rowid, terms) VALUES (?, ?)",
                         [(n, " ".join(band_terms(sig))) for n, sig in pairs])
        signed += len(pairs)
        last = rows[-1][0]


@dataclass(frozen=True)
class Match:
    n: int  # the other incident's index row
    score: float


def similar(conn: sqlite3.Connection, n: int, threshold: float = THRESHOLD, limit: int = 50) -> list[Match]:
    """Incidents whose claim is a near duplicate of row `n`'s, best first; never `n` itself."""
    row = conn.execute("SELECT signature FROM claim_signatures WHERE incident = ?", [n]).fetchone()
    if row is None:
        return []
    mine = row[0]
    query = " OR ".join(band_terms(mine))
    candidates = [r[0] for r in conn.execute(
        "SELECT rowid FROM claim_bands WHERE claim_bands MATCH ? ORDER BY rowid DESC LIMIT ?",
        [query, MAX_CANDIDATES + 1]) if r[0] != n]
    matches = [Match(other, s) for other, sig in _signatures(conn, candidates)
               if (s := score(mine, sig)) >= threshold]
    return sorted(matches, key=lambda m: (-m.score, -m.n))[:limit]


def _signatures(conn: sqlite3.Connection, ns: Iterable[int]) -> Iterable[tuple[int, bytes]]:
    ns = list(ns)
    for start in range(0, len(ns), 500):
        chunk = ns[start:start + 500]
        yield from conn.execute(f"SELECT incident, signature FROM claim_signatures WHERE incident IN"
                                f" ({', '.join('?' for _ in chunk)})", chunk)
