"""The Snapshot: an immutable value built once per refresh, and how fresh it is at a moment."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from crypto_rates.coingecko_payload import rates_payload
from crypto_rates.json_encoding import dumps, iso
from crypto_rates.rate import Rate, Source

CacheStatus = Literal["fresh", "cached", "stale"]


class Freshness(NamedTuple):
    age: float  # seconds since fetched_at, never negative
    stale: bool  # sample data, or older than stale_after
    cache_status: CacheStatus  # /api/rates' word for it: fresh within one interval, then cached

    @property
    def age_seconds(self) -> int:
        return int(self.age)


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    rates: Mapping[str, Rate]  # per 1 BTC, in upstream order
    fetched_at: datetime
    fetched_ts: float  # fetched_at as unix time, computed once (it is read on every request)
    source: Source
    version: str  # content digest: changes whenever anything served from it changes

    @property
    def fetched_at_iso(self) -> str:
        return iso(self.fetched_at)

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_ts)

    def freshness(self, now: float, refresh_interval: float, stale_after: float) -> Freshness:
        """The one staleness rule: the sample is always stale, live data after `stale_after`."""
        age = self.age(now)
        stale = self.source == Source.SAMPLE or age > stale_after
        if stale:
            return Freshness(age, True, "stale")
        return Freshness(age, False, "fresh" if age < refresh_interval else "cached")


def build_snapshot(rates: Mapping[str, Rate], fetched_at: datetime, source: Source) -> Snapshot:
    content = dumps(rates_payload(rates))
    digest = hashlib.sha256(f"{source}|{iso(fetched_at)}|".encode() + content).hexdigest()[:20]
    return Snapshot(
        rates=rates,
        fetched_at=fetched_at,
        fetched_ts=fetched_at.timestamp(),
        source=Source(source),
        version=digest,
    )
