"""Rendered rate bodies, cached per snapshot version and normalised query, and their negotiation.

Bodies carry `age_seconds`/`stale`, so one rendering serves one second of age; the table inside is
serialised once per snapshot (default view) or once per query (LRU) and spliced in as bytes.
Both the FastAPI routes and the fast path answer through these functions, so they cannot drift.
"""

import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

from crypto_rates.conversion import cross_rate
from crypto_rates.http_caching import GZIP_MIN_BYTES, accepts_gzip, cache_control, etag_matches
from crypto_rates.runtime import Runtime
from crypto_rates.snapshot import Snapshot, dumps, rows_json

T = TypeVar("T")
CacheStatus = Literal["fresh", "cached", "stale"]
RawHeaders = list[tuple[bytes, bytes]]


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


class Freshness(NamedTuple):
    age_seconds: int
    stale: bool
    cache_status: CacheStatus


def freshness(snapshot: Snapshot, refresh_interval: float, stale_after: float) -> Freshness:
    return freshness_at(snapshot, time.time() - snapshot.fetched_ts, refresh_interval, stale_after)


def freshness_at(
    snapshot: Snapshot, age: float, refresh_interval: float, stale_after: float
) -> Freshness:
    age = max(0.0, age)
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


def render_list(
    views: ViewCache,
    snapshot: Snapshot,
    fresh: Freshness,
    base: str = "btc",
    types: tuple[str, ...] = (),
    search: str | None = None,
) -> Rendered:
    """The /api/v1/rates body for a normalised query (base known, types sorted, search lower)."""

    def render() -> Rendered:
        rows, count = views.get(
            (snapshot.version, "rows", base, types, search),
            lambda: table_rows(snapshot, base, types, search),
        )
        body = (
            b"{" + envelope(snapshot, base, fresh)
            + b',"count":' + str(count).encode() + b',"rates":' + rows + b"}"
        )  # fmt: skip
        return Rendered(body, etag_for(snapshot, "list", base, types, search, fresh.stale))

    key = (snapshot.version, "list", base, types, search, fresh.age_seconds, fresh.stale)
    return views.get(key, render)


def render_legacy(views: ViewCache, snapshot: Snapshot, fresh: Freshness) -> Rendered:
    """The /api/rates body: the old service's shape, values per 1 BTC."""

    def render() -> Rendered:
        body = (
            b'{"last_updated":"' + snapshot.fetched_at_iso.encode()
            + b'","rates":' + snapshot.legacy_rates_json
            + b',"total_currencies":' + str(len(snapshot.rates)).encode()
            + b',"data_source":"' + snapshot.source.encode()
            + b'","cache_status":"' + fresh.cache_status.encode() + b'"}'
        )  # fmt: skip
        return Rendered(body, etag_for(snapshot, "legacy", fresh.cache_status))

    return views.get((snapshot.version, "legacy", fresh.cache_status), render)


def negotiate(
    rendered: Rendered, if_none_match: str | None, accept_encoding: str | None, cache_control: str
) -> tuple[int, RawHeaders, bytes]:
    """Status, headers and body for a rendering: 304 on a matching ETag, gzip when accepted."""
    headers: RawHeaders = [
        (b"etag", rendered.etag.encode()),
        (b"cache-control", cache_control.encode()),
        (b"vary", b"Accept-Encoding"),
    ]
    if if_none_match is not None and etag_matches(if_none_match, rendered.etag):
        return 304, headers, b""
    body = rendered.body
    if len(body) >= GZIP_MIN_BYTES and accepts_gzip(accept_encoding):
        body = rendered.gzipped()
        headers.append((b"content-encoding", b"gzip"))
    headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    return 200, headers, body


class RateViews:
    """Everything a rate response needs from the runtime, shared by the routes and the fast path."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.cache = ViewCache()
        self._interval = runtime.settings.refresh_interval
        self._stale_after = runtime.settings.effective_stale_after
        self._cache_control = (-1, "")  # (unix second, header): it changes once a second

    def current(self) -> Snapshot | None:
        return self.runtime.store.current

    def freshness(self, snapshot: Snapshot) -> Freshness:
        return freshness(snapshot, self._interval, self._stale_after)

    def list(
        self,
        snapshot: Snapshot,
        base: str = "btc",
        types: tuple[str, ...] = (),
        q: str | None = None,
    ) -> Rendered:
        return render_list(self.cache, snapshot, self.freshness(snapshot), base, types, q)

    def legacy(self, snapshot: Snapshot) -> Rendered:
        return render_legacy(self.cache, snapshot, self.freshness(snapshot))

    def respond(
        self, rendered: Rendered, if_none_match: str | None, accept_encoding: str | None
    ) -> tuple[int, RawHeaders, bytes]:
        now = time.time()
        second, header = self._cache_control
        if int(now) != second:
            max_age = self.runtime.seconds_to_next_refresh(now)
            header = cache_control(max_age, self._stale_after)
            self._cache_control = (int(now), header)
        return negotiate(rendered, if_none_match, accept_encoding, header)
