"""The window a history request asks for: `range`, or `from`/`to`, checked with clear errors."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

from crypto_rates.history import DAY, Window
from crypto_rates.problems import ApiProblem

RangeName = Literal["24h", "7d", "30d", "90d", "1y", "max"]
RANGES: dict[str, int | None] = {
    "24h": DAY,
    "7d": 7 * DAY,
    "30d": 30 * DAY,
    "90d": 90 * DAY,
    "1y": 365 * DAY,
    "max": None,  # from the oldest point held
}
assert set(RANGES) == set(get_args(RangeName))
DEFAULT_RANGE: RangeName = "24h"
MOMENT_HELP = (
    "an ISO 8601 date (2026-11-01) or date-time (2026-11-01T12:00:00Z; no offset means UTC)"
)


def _moment(name: str, value: str, end_of_day: bool) -> float:
    text = value.strip()
    try:
        if len(text) == 10:  # a date: from its start, or to its end (the whole day included)
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC)
            return (moment + timedelta(days=1, seconds=-1) if end_of_day else moment).timestamp()
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ApiProblem(422, f"{name}={value[:40]!r} is not {MOMENT_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def requested_window(
    range_: RangeName | None,
    from_: str | None,
    to: str | None,
    now: float,
    earliest: float | None,
) -> Window:
    """The window asked for; `to` defaults to now, `range=max` starts at `earliest`."""
    if range_ is not None and (from_ is not None or to is not None):
        raise ApiProblem(422, "give either range or from/to, not both")
    if from_ is None:
        if to is not None:
            raise ApiProblem(422, f"to needs from: from is {MOMENT_HELP}")
        span = RANGES[range_ or DEFAULT_RANGE]
        start = (earliest if earliest is not None else now) if span is None else now - span
        return Window(min(start, now), now)
    start = _moment("from", from_, end_of_day=False)
    end = _moment("to", to, end_of_day=True) if to is not None else now
    if start > end:
        raise ApiProblem(
            422,
            f"from ({from_[:40]}) is after to ({(to or 'now')[:40]}): "
            "from must be at or before to (which defaults to now)",
        )
    return Window(start, end)
