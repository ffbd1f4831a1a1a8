"""The Snapshot: an immutable value built once per refresh, carrying its pre-serialised bodies."""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from crypto_rates.rate import Rate, Source


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def rows_json(rows: Iterable[tuple[Rate, float]]) -> bytes:
    """The `rates` array of /api/v1/rates: each Rate with its value in the requested base."""
    return dumps(
        [
            {"code": r.code, "name": r.name, "unit": r.unit, "type": r.type, "value": value}
            for r, value in rows
        ]
    )


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    rates: Mapping[str, Rate]  # per 1 BTC, in upstream order
    fetched_at: datetime
    fetched_ts: float  # fetched_at as unix time, computed once (it is read on every request)
    source: Source
    version: str  # content digest: changes whenever anything served from it changes
    btc_rows_json: bytes  # the default /api/v1/rates table (base btc, no filter)
    legacy_rates_json: bytes  # the `rates` map of /api/rates

    @property
    def fetched_at_iso(self) -> str:
        return iso(self.fetched_at)


def rates_payload(rates: Mapping[str, Rate]) -> dict[str, dict[str, object]]:
    """Rates in CoinGecko's shape ({code: {name, unit, value, type}}): /api/rates and the file."""
    return {
        r.code: {"name": r.name, "unit": r.unit, "value": r.value, "type": r.type}
        for r in rates.values()
    }


def build_snapshot(rates: Mapping[str, Rate], fetched_at: datetime, source: Source) -> Snapshot:
    legacy = dumps(rates_payload(rates))
    digest = hashlib.sha256(f"{source}|{iso(fetched_at)}|".encode() + legacy).hexdigest()[:20]
    return Snapshot(
        rates=rates,
        fetched_at=fetched_at,
        fetched_ts=fetched_at.timestamp(),
        source=source,
        version=digest,
        btc_rows_json=rows_json((r, r.value) for r in rates.values()),
        legacy_rates_json=legacy,
    )
