"""The snapshot store: the current Snapshot (swapped atomically), the recent history (every
refresh of the last 48 h, bounded) and the archive of hourly and daily points."""

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from crypto_rates.history import Archive
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot

HISTORY_SPAN_SECONDS = 48 * 3600  # every refresh is kept this long (then hourly, history.py)
MAX_HISTORY_POINTS = 2000  # caps memory when a test polls every second


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    t: datetime
    values: Mapping[str, float]  # code -> units per 1 BTC


def history_limit(refresh_interval: float) -> int:
    return max(2, min(MAX_HISTORY_POINTS, math.ceil(HISTORY_SPAN_SECONDS / refresh_interval) + 1))


class SnapshotStore:
    def __init__(self, history_limit: int) -> None:
        self._current: Snapshot | None = None
        self._history: deque[HistoryPoint] = deque(maxlen=history_limit)
        self.history_version = 0  # counts the changes of the recent history (a cache key part)
        self.archive = Archive()  # swapped whole (replace_archive), like the snapshot

    @property
    def current(self) -> Snapshot | None:
        return self._current

    @property
    def history(self) -> tuple[HistoryPoint, ...]:
        return tuple(self._history)

    def replace(self, snapshot: Snapshot) -> None:
        """Serve `snapshot` from now on; upstream data also joins the history."""
        if snapshot.source == Source.COINGECKO and (
            not self._history or self._history[-1].t != snapshot.fetched_at
        ):
            values = MappingProxyType({c: r.value for c, r in snapshot.rates.items()})
            self._history.append(HistoryPoint(snapshot.fetched_at, values))
            self.history_version += 1
        self._current = snapshot  # one reference assignment: readers see old or new, never half

    def replace_archive(self, archive: Archive) -> None:
        self.archive = archive

    def restore(self, snapshot: Snapshot, history: list[HistoryPoint]) -> None:
        """Serve persisted state, replacing what is held (history first: `replace` then skips
        the duplicate point)."""
        self._history.clear()
        self._history.extend(sorted(history, key=lambda p: p.t))
        self.history_version += 1
        self.replace(snapshot)
