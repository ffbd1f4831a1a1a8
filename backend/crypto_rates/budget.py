"""The plan's monthly allowance of upstream calls: how far apart calls must be to last the month.

CoinGecko counts every call, failed ones too, per calendar month (UTC). The count lives in the
database (shared by every replica); this is the arithmetic on it. Pure: time comes in as `now`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

# Kept back for retries: a failed cycle costs up to three calls, which the spacing (computed for
# one call per cycle) does not foresee.
RETRY_RESERVE = 0.10


def month_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


def seconds_left_in_month(now: float) -> float:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp() - now


@dataclass
class CallBudget:
    """This month's calls (all replicas') against the allowance; None allowance: no limit."""

    allowance: int | None
    month: str = ""
    used: int = 0

    def observe(self, month: str, used: int) -> None:
        """The shared count as the database has it."""
        self.month, self.used = month, used

    def record(self, now: float, calls: int) -> None:
        """Calls this process made (counted here until the database has them)."""
        month = month_of(now)
        if month != self.month:
            self.month, self.used = month, 0
        self.used += calls

    def used_in(self, now: float) -> int:
        return self.used if self.month == month_of(now) else 0

    def spacing(self, now: float) -> float:
        """The least time between cycles that keeps the rest of the month within the allowance
        (less its retry reserve); 0 without an allowance. Once the usable calls are spent, the
        wait lasts until the month ends."""
        if self.allowance is None:
            return 0.0
        left = seconds_left_in_month(now)
        usable = self.allowance * (1 - RETRY_RESERVE) - self.used_in(now)
        if usable < 1:
            return left + 1.0
        return left / usable

    def interval(self, configured: float, now: float) -> float:
        """The refresh interval in force: the configured one, stretched when the calls left
        would not last the month at it."""
        return max(configured, self.spacing(now))
