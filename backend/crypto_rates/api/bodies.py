"""The JSON bodies of the rate endpoints, rendered as bytes with their ETags.

Response models (`schemas.py`) only document these shapes; the bytes are built here. Bodies carry
`age_seconds`/`stale`, so a rendering serves one second of age; a list's table and a history's
points are serialised once per (snapshot, query) and spliced in as bytes.
"""

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import TypeVar

from crypto_rates.coingecko_payload import rates_payload
from crypto_rates.conversion import convert, cross_rate
from crypto_rates.history import SeriesOut, Window
from crypto_rates.http_caching import Representation
from crypto_rates.json_encoding import dumps, iso
from crypto_rates.rate import Rate
from crypto_rates.snapshot import Freshness, Snapshot

T = TypeVar("T")


class BodyCache:
    """A small LRU: keys start with the snapshot version, so old snapshots age out by themselves.

    Bounded, so parameters a client varies at will (search terms, amounts) cost at most `maxsize`
    renderings in memory; they are rendered anew once evicted.
    """

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


def etag_for(snapshot: Snapshot, *parts: object) -> str:
    # Weak: the same data is served with a growing age_seconds, which is not byte-identical.
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()
    return f'W/"{snapshot.version}-{digest}"'


def rate_row(rate: Rate, value: float) -> dict[str, object]:
    """One rate as /api/v1 shows it: `value` is in the requested base."""
    return {
        "code": rate.code,
        "name": rate.name,
        "unit": rate.unit,
        "type": rate.type,
        "value": value,
    }


def table_rows(
    snapshot: Snapshot, base: str, types: tuple[str, ...], q: str | None
) -> tuple[bytes, int]:
    """The `rates` array of /api/v1/rates for a normalised query, and its length."""
    if base == "btc" and not types and not q:  # the default table: upstream's values as they are
        return dumps([rate_row(r, r.value) for r in snapshot.rates.values()]), len(snapshot.rates)
    base_value = snapshot.rates[base].value
    rows = [
        rate_row(rate, cross_rate(rate.value, base_value))
        for rate in snapshot.rates.values()
        if (not types or rate.type in types) and (not q or q in rate.code or q in rate.name.lower())
    ]
    return dumps(rows), len(rows)


def freshness_fields(snapshot: Snapshot, fresh: Freshness) -> bytes:
    """`fetched_at`, `age_seconds`, `stale` and `source`: every /api/v1 body has them."""
    return (
        b'"fetched_at":"' + snapshot.fetched_at_iso.encode() + b'"'
        b',"age_seconds":' + str(fresh.age_seconds).encode()
        + b',"stale":' + (b"true" if fresh.stale else b"false")
        + b',"source":"' + snapshot.source.encode() + b'"'
    )  # fmt: skip


def envelope(snapshot: Snapshot, base: str, fresh: Freshness) -> bytes:
    """The fields shared by list and detail bodies, without braces."""
    return b'"base":' + dumps(base) + b"," + freshness_fields(snapshot, fresh)


def list_body(
    cache: BodyCache,
    snapshot: Snapshot,
    fresh: Freshness,
    base: str = "btc",
    types: tuple[str, ...] = (),
    search: str | None = None,
) -> Representation:
    """The /api/v1/rates body for a normalised query (base known, types sorted, search lower)."""

    def render() -> Representation:
        rows, count = cache.get(
            (snapshot.version, "rows", base, types, search),
            lambda: table_rows(snapshot, base, types, search),
        )
        body = (
            b"{" + envelope(snapshot, base, fresh)
            + b',"count":' + str(count).encode() + b',"rates":' + rows + b"}"
        )  # fmt: skip
        return Representation(body, etag_for(snapshot, "list", base, types, search, fresh.stale))

    key = (snapshot.version, "list", base, types, search, fresh.age_seconds, fresh.stale)
    return cache.get(key, render)


def legacy_body(cache: BodyCache, snapshot: Snapshot, fresh: Freshness) -> Representation:
    """The /api/rates body: the old service's shape, values per 1 BTC."""

    def render() -> Representation:
        body = (
            b'{"last_updated":"' + snapshot.fetched_at_iso.encode()
            + b'","rates":' + dumps(rates_payload(snapshot.rates))
            + b',"total_currencies":' + str(len(snapshot.rates)).encode()
            + b',"data_source":"' + snapshot.source.encode()
            + b'","cache_status":"' + fresh.cache_status.encode() + b'"}'
        )  # fmt: skip
        return Representation(body, etag_for(snapshot, "legacy", fresh.cache_status))

    return cache.get((snapshot.version, "legacy", fresh.cache_status), render)


def detail_body(
    cache: BodyCache, snapshot: Snapshot, fresh: Freshness, code: str, base: str
) -> Representation:
    """The /api/v1/rates/{code} body (code and base known)."""

    def render() -> Representation:
        rate = snapshot.rates[code]
        row = dumps(rate_row(rate, cross_rate(rate.value, snapshot.rates[base].value)))
        body = b"{" + envelope(snapshot, base, fresh) + b',"rate":' + row + b"}"
        return Representation(body, etag_for(snapshot, code, base, fresh.stale))

    key = (snapshot.version, "detail", code, base, fresh.age_seconds, fresh.stale)
    return cache.get(key, render)


def history_body(
    snapshot: Snapshot,
    fresh: Freshness,
    code: str,
    base: str,
    window: Window,
    series: SeriesOut,
    archive_version: str,
    csv: bool,
) -> Representation:
    """The /api/v1/rates/{code}/history body (code and base known), as JSON or as CSV."""
    points = series.points
    etag = etag_for(
        snapshot,
        "history",
        code,
        base,
        csv,
        series.resolution_seconds,
        len(points),
        points[0][0] if points else None,
        points[-1][0] if points else None,
        archive_version,
        fresh.stale,
    )
    if csv:
        rows = "".join(f"{_iso(t)},{v!r}\n" for t, v in points)
        body = f"t,value\n{rows}".encode()
        return Representation(body, etag, b"text/csv; charset=utf-8", b"Accept, Accept-Encoding")
    body = (
        b'{"code":' + dumps(code) + b',"base":' + dumps(base)
        + b"," + freshness_fields(snapshot, fresh)
        + b',"from":"' + _iso(window.start).encode() + b'","to":"' + _iso(window.end).encode()
        + b'","resolution_seconds":' + str(series.resolution_seconds).encode()
        + b',"count":' + str(len(points)).encode()
        + b',"points":' + dumps([{"t": _iso(t), "value": v} for t, v in points]) + b"}"
    )  # fmt: skip
    return Representation(body, etag, vary=b"Accept, Accept-Encoding")


def _iso(unix: float) -> str:
    return iso(datetime.fromtimestamp(unix, UTC))


def conversion_body(
    cache: BodyCache,
    snapshot: Snapshot,
    fresh: Freshness,
    source: str,
    target: str,
    amount: float,
) -> Representation:
    """The /api/v1/convert body (both codes known, the amount within the route's bounds)."""

    def render() -> Representation:
        value_from, value_to = snapshot.rates[source].value, snapshot.rates[target].value
        # Cannot fail: the route admits amounts up to MAX_AMOUNT (api/rates.py); times rates up
        # to 1e30 that stays far below overflow.
        result = convert(amount, value_from, value_to)
        rate = cross_rate(value_to, value_from)
        fields = {"from": source, "to": target, "amount": amount, "rate": rate, "result": result}
        body = dumps(fields)[:-1] + b"," + freshness_fields(snapshot, fresh) + b"}"
        return Representation(body, etag_for(snapshot, source, target, amount, fresh.stale))

    key = (snapshot.version, "convert", source, target, amount, fresh.age_seconds, fresh.stale)
    return cache.get(key, render)
