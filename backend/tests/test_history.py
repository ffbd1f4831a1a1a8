"""Retention and resolution: downsampling, the archive in memory, the series a window selects."""

from datetime import UTC, datetime
from itertools import pairwise
from types import MappingProxyType

import pytest
from crypto_rates.api.history_range import requested_window
from crypto_rates.history import (
    DAY,
    HOUR,
    MAX_POINTS,
    RETENTION,
    Archive,
    ArchivedPoint,
    Window,
    downsample,
    earliest,
    select,
)
from crypto_rates.problems import ApiProblem
from crypto_rates.store import HistoryPoint

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp()


def recent_points(start: float, end: float, every: float) -> list[HistoryPoint]:
    t, points = start, []
    while t <= end:
        values = {"btc": 1.0, "usd": 100_000 + t % 1000, "eur": 90_000.0}
        points.append(HistoryPoint(datetime.fromtimestamp(t, UTC), MappingProxyType(values)))
        t += every
    return points


def archive_for(days: int, hours: int, now: float = NOW) -> Archive:
    """Daily points for `days` days and hourly for `hours` hours before the last 48 h."""
    edge = now - 48 * HOUR
    points = []
    for code, value in (("btc", 1.0), ("usd", 100_000.0), ("eur", 90_000.0)):
        points += [
            ArchivedPoint(code, DAY, int((edge - d * DAY) // DAY * DAY), value)
            for d in range(1, days + 1)
        ]
        points += [
            ArchivedPoint(code, HOUR, int((edge - h * HOUR) // HOUR * HOUR), value)
            for h in range(1, hours + 1)
        ]
    return Archive().merged(points, now)


def test_downsampling_keeps_the_first_value_of_each_hour_at_the_hours_start() -> None:
    samples = [(NOW + m * 60, {"usd": float(m)}) for m in range(0, 150, 5)]
    hourly = sorted(downsample(samples, HOUR), key=lambda p: p.t)
    assert [(p.t, p.value) for p in hourly] == [
        (NOW, 0.0),
        (NOW + HOUR, 60.0),
        (NOW + 2 * HOUR, 120.0),
    ]


def test_the_archive_keeps_what_it_held_and_drops_what_is_past_retention() -> None:
    oldest = int(NOW - RETENTION[HOUR] + HOUR) // HOUR * HOUR
    newer = int(NOW - 10 * HOUR) // HOUR * HOUR
    archive = Archive().merged(
        [ArchivedPoint("usd", HOUR, newer, 1.0), ArchivedPoint("usd", HOUR, oldest, 2.0)], NOW
    )
    again = archive.merged([ArchivedPoint("usd", HOUR, newer, 5.0)], NOW)
    assert list(again.tiers[HOUR]["usd"].times) == [oldest, newer]  # sorted
    assert list(again.tiers[HOUR]["usd"].values) == [2.0, 1.0]  # the held point wins
    later = again.merged([], NOW + 2 * HOUR)
    assert list(later.tiers[HOUR]["usd"].times) == [newer]
    assert len(later) == 1 and later.version != again.version


def test_24h_serves_every_refresh_when_they_fit() -> None:
    recent = recent_points(NOW - DAY, NOW, 300)
    series = select(recent, Archive(), "usd", "btc", Window(NOW - DAY, NOW), 300)
    assert series.resolution_seconds == 300 and len(series.points) == len(recent) == 289
    assert series.points[0] == (NOW - DAY, 100_000 + (NOW - DAY) % 1000)


def test_frequent_refreshes_are_thinned_to_at_most_500_points() -> None:
    recent = recent_points(NOW - DAY, NOW, 60)
    series = select(recent, Archive(), "usd", "eur", Window(NOW - DAY, NOW), 60)
    assert series.resolution_seconds == 300
    assert 280 <= len(series.points) <= MAX_POINTS
    times = [t for t, _ in series.points]
    assert times == sorted(times) and all(b - a >= 240 for a, b in pairwise(times))


@pytest.mark.parametrize(
    ("days", "resolution", "least", "most"),
    [(7, HOUR, 160, 170), (30, 2 * HOUR, 355, 362), (90, 6 * HOUR, 355, 362), (365, DAY, 364, 367)],
)
def test_longer_ranges_use_the_finest_resolution_that_fits(
    days: int, resolution: int, least: int, most: int
) -> None:
    recent = recent_points(NOW - 48 * HOUR, NOW, 300)
    archive = archive_for(days=400, hours=90 * 24 - 48)
    series = select(recent, archive, "usd", "eur", Window(NOW - days * DAY, NOW), 300)
    assert series.resolution_seconds == resolution
    assert least <= len(series.points) <= most <= MAX_POINTS
    values = [v for _, v in series.points]
    assert values[0] == pytest.approx(100_000 / 90_000)


def test_a_window_in_the_past_is_answered_from_the_daily_points() -> None:
    archive = archive_for(days=400, hours=0)
    start = NOW - 300 * DAY
    series = select([], archive, "usd", "btc", Window(start, start + 10 * DAY), 300)
    assert series.resolution_seconds == DAY and len(series.points) == 10
    assert earliest([], archive, "usd") == min(archive.tiers[DAY]["usd"].times)


def test_an_unknown_code_or_an_empty_window_has_no_points() -> None:
    archive = archive_for(days=10, hours=10)
    assert select([], archive, "xyz", "btc", Window(NOW - DAY, NOW), 300).points == []
    assert select([], archive, "usd", "btc", Window(NOW + DAY, NOW + 2 * DAY), 300).points == []


@pytest.mark.parametrize(
    ("range_", "from_", "to", "expected"),
    [
        (None, None, None, (NOW - DAY, NOW)),
        ("1y", None, None, (NOW - 365 * DAY, NOW)),
        ("max", None, None, (NOW - 1000, NOW)),
        (None, "2026-12-01", None, (NOW - 3 * DAY - 12 * HOUR, NOW)),
        (None, "2026-12-01", "2026-12-01", (NOW - 3.5 * DAY, NOW - 2.5 * DAY - 1)),
        (
            None,
            "2026-12-01T12:00:00+01:00",
            "2026-12-02T00:00Z",
            (NOW - 3 * DAY - HOUR, NOW - 2.5 * DAY),
        ),
    ],
)
def test_requested_windows(
    range_: str | None, from_: str | None, to: str | None, expected: tuple[float, float]
) -> None:
    assert requested_window(range_, from_, to, NOW, NOW - 1000) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("range_", "from_", "to", "message"),
    [
        ("7d", "2026-12-01", None, "either range or from/to"),
        (None, None, "2026-12-01", "to needs from"),
        (None, "yesterday", None, "from='yesterday' is not an ISO 8601 date"),
        (None, "2026-12-01", "2026-13-01", "to='2026-13-01' is not"),
        (None, "2026-12-03", "2026-12-01", "from must be at or before to"),
        (None, "2027-01-01", None, "from must be at or before to"),
    ],
)
def test_invalid_or_reversed_windows_say_what_is_valid(
    range_: str | None, from_: str | None, to: str | None, message: str
) -> None:
    with pytest.raises(ApiProblem) as raised:
        requested_window(range_, from_, to, NOW, None)  # type: ignore[arg-type]
    assert raised.value.status == 422 and message in raised.value.detail


def test_a_young_service_shows_every_refresh_of_the_little_it_holds() -> None:
    recent = recent_points(NOW - 2, NOW, 1)
    series = select(recent, Archive(), "usd", "btc", Window(NOW - DAY, NOW), 1)
    assert series.resolution_seconds == 1 and len(series.points) == 3


def test_a_short_interval_thins_gradually_as_the_series_grows() -> None:
    recent = recent_points(NOW - 600, NOW, 1)  # ten minutes at a 1 s interval
    series = select(recent, Archive(), "usd", "btc", Window(NOW - DAY, NOW), 1)
    assert series.resolution_seconds == 2 and 300 <= len(series.points) <= MAX_POINTS
