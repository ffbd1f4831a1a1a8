"""Rendered response bodies, cached per snapshot version and normalised query.

Bodies carry `age_seconds`/`stale`, so a rendering is valid for one second of age; the table itself
is serialised once per snapshot (default view) or once per query (LRU), and spliced in.
"""

import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from crypto_rates.conversion import cross_rate
from crypto_rates.snapshot import Snapshot, dumps, rows_json

T = TypeVar("T")
CacheStatus = Literal["fresh", "cached", "stale"]


@dataclass(slots=True)
class Rendered:
    body: bytes
    etag: str
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self._gzipped is None:  # compressed once, then served from the cache
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


def etag_for(snapshot: Snapshot, *parts: object) -> str:
    # Weak: the same data is served with a growing age_seconds, which is not byte-identical.
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()
    return f'W/"{snapshot.version}-{digest}"'


@dataclass(frozen=True, slots=True)
class Freshness:
    age_seconds: int
    stale: bool
    cache_status: CacheStatus


def freshness(snapshot: Snapshot, refresh_interval: float, stale_after: float) -> Freshness:
    age = max(0.0, time.time() - snapshot.fetched_at.timestamp())
    stale = snapshot.source == "sample" or age > stale_after
    status: CacheStatus = "stale" if stale else ("fresh" if age < refresh_interval else "cached")
    return Freshness(int(age), stale, status)


class ViewCache:
    """A small LRU: keys start with the snapshot version, so old snapshots age out by themselves."""

    def __init__(self, maxsize: int = 512) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, render: Callable[[], T]) -> T:
        try:
            value = self._entries[key]
        except KeyError:
            value = render()
            self._entries[key] = value
            if len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return value  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._entries)


def table_rows(
    snapshot: Snapshot, base: str, types: tuple[str, ...], q: str | None
) -> tuple[bytes, int]:
    """The `rates` array for a query and its length; the default view is pre-serialised."""
    if base == "btc" and not types and not q:
        return snapshot.btc_rows_json, len(snapshot.rates)
    base_value = snapshot.rates[base].value
    rows = [
        (rate, cross_rate(rate.value, base_value))
        for rate in snapshot.rates.values()
        if (not types or rate.type in types) and (not q or q in rate.code or q in rate.name.lower())
    ]
    return rows_json(rows), len(rows)


def envelope(snapshot: Snapshot, base: str, fresh: Freshness) -> bytes:
    """The fields shared by list and detail bodies, without braces."""
    return (
        b'"base":' + dumps(base) + b',"fetched_at":"' + snapshot.fetched_at_iso.encode() + b'"'
        b',"age_seconds":' + str(fresh.age_seconds).encode()
        + b',"stale":' + (b"true" if fresh.stale else b"false")
        + b',"source":"' + snapshot.source.encode() + b'"'
    )  # fmt: skip
