"""Splitting a judging run over machines: ``bixse judge --shard i/n``.

Shard ``i`` of ``n`` (1-based) takes the pairs whose label-cache key falls in it::

    shard(pair) = int(sha256(query_sha256 + ":" + doc_sha256)[:16], 16) mod n      (0-based)

The key is the cache's own (the sha256 of the query and document texts), so the share is
disjoint and deterministic whatever the order, the candidate file or the machine: a pair mined
twice, or from two collections, lands in one shard, and no two shards' caches hold the same
label. Each shard writes its own cache; ``bixse labels merge`` (``merge_caches``) joins them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bixse.errors import InputError
from bixse.judging.cache import TextKey
from bixse.judging.identity import text_sha256
from bixse.mining.candidates import Candidate

Shard = tuple[int, int]  # (i, n), 1 <= i <= n


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> ``(2, 4)``; anything else (``3/2``, ``0/2``, ``2``) is an ``InputError``."""
    index, sep, count = text.strip().partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (0, 0)
    if not sep or not 1 <= shard[0] <= shard[1]:
        raise InputError(f"expected i/n with 1 <= i <= n (e.g. 2/4), got {text!r}", field="shard")
    return shard


def shard_of_key(key: TextKey, count: int) -> int:
    """The 1-based shard of ``count`` that a (query sha256, document sha256) key belongs to."""
    digest = hashlib.sha256(f"{key[0]}:{key[1]}".encode()).hexdigest()
    return int(digest[:16], 16) % count + 1


def in_shard(query: str, document: str, shard: Shard) -> bool:
    return shard_of_key((text_sha256(query), text_sha256(document)), shard[1]) == shard[0]


def select_shard(candidates: Sequence[Candidate], shard: Shard | None) -> list[Candidate]:
    """The candidates of ``shard`` (all of them for ``None`` or ``1/1``), in file order.

    Their texts must be filled in (``read_candidates`` with a collection): the texts decide.
    """
    if shard is None or shard[1] == 1:
        return list(candidates)
    index, count = shard
    if not 1 <= index <= count:
        raise InputError(f"expected 1 <= i <= n, got shard {index}/{count}", field="shard")
    missing = next((c for c in candidates if not c.has_texts), None)
    if missing is not None:
        raise InputError(f"candidate ({missing.query_id}, {missing.doc_id}) has no texts to shard by: "
                         "read the file with a collection", field="candidates")
    return [c for c in candidates if in_shard(c.query, c.document, shard)]  # type: ignore[arg-type]
