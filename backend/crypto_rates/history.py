"""Long history: retention, the hourly and daily archive in memory, the series a window asks for.

The database keeps every refresh for 48 h (the store's recent history), one point per hour for 90
days and one per day for at least 5 years: older data is downsampled, not dropped. A stored hourly
or daily point is the first value seen in its hour or day, at the start of that hour or day. The
archive is those points in memory: per code, times and values in arrays (16 bytes a point, about
4 MB for 75 codes over 90 days hourly and 5 years daily), swapped whole like a snapshot.
"""

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from crypto_rates.conversion import ConversionError, cross_rate

if TYPE_CHECKING:  # the store holds an Archive
    from crypto_rates.store import HistoryPoint

HOUR = 3600
DAY = 24 * HOUR
RAW_RETENTION = 48 * HOUR
RETENTION = {HOUR: 90 * DAY, DAY: 5 * 366 * DAY}  # resolution -> how long its points are kept
MAX_POINTS = 500
# The steps a series is thinned to (the finest that keeps it within MAX_POINTS is chosen).
# Fine steps too: with a short REFRESH_INTERVAL a growing series thins gradually, not 1 s to 300 s.
STEPS = (
    *(1, 2, 5, 10, 15, 30, 60, 120),
    *(300, 600, 900, 1800, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY),
)


class ArchivedPoint(NamedTuple):
    code: str
    resolution: int  # HOUR or DAY
    t: int  # unix seconds, the start of its hour or day
    value: float  # units per 1 BTC


def bucket(t: float, resolution: int) -> int:
    return int(t // resolution * resolution)


def first_per_bucket(
    points: Iterable[tuple[float, float]], resolution: int
) -> list[tuple[float, float]]:
    """The first point of each `resolution`-long bucket, keeping its own time (points sorted)."""
    kept: list[tuple[float, float]] = []
    last = None
    for t, value in points:
        key = bucket(t, resolution)
        if key != last:
            kept.append((t, value))
            last = key
    return kept


def downsample(
    recent: Iterable[tuple[float, Mapping[str, float]]], resolution: int
) -> list[ArchivedPoint]:
    """Archive points of `resolution` from sorted (time, {code: value}) samples."""
    first: dict[tuple[str, int], float] = {}
    for t, values in recent:
        start = bucket(t, resolution)
        for code, value in values.items():
            first.setdefault((code, start), value)
    return [ArchivedPoint(code, resolution, t, v) for (code, t), v in first.items()]


@dataclass(frozen=True, slots=True)
class Series:
    times: array  # type: ignore[type-arg]  # 'q': unix seconds, ascending
    values: array  # type: ignore[type-arg]  # 'd'

    def between(self, start: float, end: float) -> dict[int, float]:
        lo, hi = bisect_left(self.times, start), bisect_right(self.times, end)
        return dict(zip(self.times[lo:hi], self.values[lo:hi], strict=True))


class Archive:
    """Hourly and daily points per code; a value: `merged` returns a new one."""

    def __init__(self, tiers: Mapping[int, Mapping[str, Series]] | None = None) -> None:
        self.tiers: Mapping[int, Mapping[str, Series]] = tiers or {HOUR: {}, DAY: {}}
        count = sum(len(s.times) for tier in self.tiers.values() for s in tier.values())
        newest = max(
            (s.times[-1] for tier in self.tiers.values() for s in tier.values() if s.times),
            default=0,
        )
        self.version = f"{count}.{newest}"  # the same content loaded by any replica: the same

    def __len__(self) -> int:
        return sum(len(s.times) for tier in self.tiers.values() for s in tier.values())

    def merged(self, points: Iterable[ArchivedPoint], now: float) -> "Archive":
        """This archive with `points` added (a point already held for that time wins, as in the
        database) and what is past its retention dropped."""
        added: dict[tuple[int, str], dict[int, float]] = {}
        for p in points:
            added.setdefault((p.resolution, p.code), {}).setdefault(p.t, p.value)
        tiers = {resolution: dict(tier) for resolution, tier in self.tiers.items()}
        for resolution, tier in tiers.items():
            oldest = now - RETENTION[resolution]
            for code in set(tier) | {c for r, c in added if r == resolution}:
                held = tier.get(code)
                merged = added.get((resolution, code), {})
                if held is not None:
                    merged.update(zip(held.times, held.values, strict=True))
                kept = sorted((t, v) for t, v in merged.items() if t >= oldest)
                tier[code] = Series(
                    array("q", [t for t, _ in kept]), array("d", [v for _, v in kept])
                )
        return Archive(tiers)

    def cross(
        self, resolution: int, code: str, base: str, start: float, end: float
    ) -> dict[int, float]:
        """Units of `code` per 1 `base` at each stored time of `resolution` in [start, end]
        (BTC is 1 per 1 BTC at any time: backfilled units come without BTC points)."""
        codes = self._values(resolution, code, start, end)
        bases = self._values(resolution, base, start, end)
        if code == "btc" and not codes:
            codes = dict.fromkeys(bases, 1.0)
        if base == "btc" and not bases:
            bases = dict.fromkeys(codes, 1.0)
        return {t: v for t, v in ((t, _cross(v, bases.get(t))) for t, v in codes.items()) if v}

    def _values(self, resolution: int, code: str, start: float, end: float) -> dict[int, float]:
        series = self.tiers[resolution].get(code)
        return series.between(start, end) if series is not None else {}


def _cross(value: float, base_value: float | None) -> float | None:
    if base_value is None:
        return None
    try:
        return cross_rate(value, base_value)
    except ConversionError:
        return None


class Window(NamedTuple):
    start: float  # unix seconds, inclusive
    end: float  # inclusive


class SeriesOut(NamedTuple):
    resolution_seconds: int
    points: list[tuple[float, float]]  # (unix seconds, value), oldest first


def select(
    recent: Sequence["HistoryPoint"],
    archive: Archive,
    code: str,
    base: str,
    window: Window,
    refresh_interval: float,
) -> SeriesOut:
    """The points of `code` in `base` within `window`: every refresh where the recent history
    covers it, hourly points before that, daily before those; thinned to the finest step that
    keeps at most MAX_POINTS over the data held (never finer than the coarsest data used)."""
    start, end = window
    raw = [
        (p.t.timestamp(), v)
        for p in recent
        if code in p.values and base in p.values
        for v in [_cross(p.values[code], p.values[base])]
        if v is not None
    ]
    newer_than = raw[0][0] if raw else math.inf
    every_refresh = native = max(1, round(refresh_interval))
    points = [(t, v) for t, v in raw if start <= t <= end]
    for resolution in (HOUR, DAY):
        older = archive.cross(resolution, code, base, start, min(end, newer_than - 1))
        # Whole buckets before the newer data only: a bucket holding its first point would
        # repeat that point under the bucket's start time.
        older = {t: v for t, v in older.items() if t + resolution <= newer_than}
        if older:
            points = sorted(older.items()) + points
            newer_than = min(older)
            native = resolution
    if not points:
        return SeriesOut(native, [])
    # The span of the data held, not of the window: a young service shows every refresh.
    span = max(end - max(start, points[0][0]), 0)
    step = next(
        (s for s in (native, *(s for s in STEPS if s > native)) if span / s + 1 <= MAX_POINTS),
        STEPS[-1],
    )
    thinned = points if step == every_refresh else first_per_bucket(points, step)
    return SeriesOut(step, thinned[-MAX_POINTS:])


def earliest(recent: Sequence["HistoryPoint"], archive: Archive, code: str) -> float | None:
    """The time of the oldest point held for `code` (where `range=max` starts)."""
    times = [s.times[0] for tier in archive.tiers.values() if (s := tier.get(code)) and s.times]
    times += [p.t.timestamp() for p in recent[:1] if code in p.values]
    return min(times, default=None)
