"""The JSON snapshot file of versions before the database (read once, to import it), and the sample.

`save` writes that format: the service no longer does, tests build files as older versions wrote
them with it (one home for the format's both directions).
"""

import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from crypto_rates.coingecko_payload import (
    InvalidResponse,
    parse_exchange_rates,
    rates_from_payload,
    rates_payload,
)
from crypto_rates.json_encoding import iso
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot, build_snapshot
from crypto_rates.store import HistoryPoint

log = logging.getLogger(__name__)

FORMAT = 1
# CoinGecko's payload has no timestamp and the bundled recording is undated; its prices (1 BTC at
# about 41,800 USD) place it around the turn of 2024. Labelling it with that date, not with "now",
# keeps the sample honest: it always reads as old.
SAMPLE_RECORDED_AT = datetime(2024, 1, 1, tzinfo=UTC)


class _PersistedPoint(BaseModel):
    t: AwareDatetime
    values: dict[str, float]


class _PersistedState(BaseModel):
    format: Literal[1]
    fetched_at: AwareDatetime
    source: Source
    rates: dict[str, object]
    history: list[_PersistedPoint] = Field(default_factory=list)


def save(path: Path, snapshot: Snapshot, history: tuple[HistoryPoint, ...]) -> None:
    """Write atomically: a reader (or a crash) sees the old file or the new one, never half."""
    state = {
        "format": FORMAT,
        "fetched_at": iso(snapshot.fetched_at),
        "source": snapshot.source,
        "rates": rates_payload(snapshot.rates),
        "history": [{"t": iso(p.t), "values": dict(p.values)} for p in history],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> tuple[Snapshot, list[HistoryPoint]] | None:
    """The persisted state, or None (logged) when the file is missing, unreadable or corrupt."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning(
            "snapshot file unreadable, ignored", extra={"path": str(path), "error": str(exc)}
        )
        return None
    try:
        state = _PersistedState.model_validate_json(raw)
        rates = rates_from_payload({"rates": state.rates})
    except (ValidationError, InvalidResponse) as exc:
        reason = str(exc).splitlines()[0]
        log.warning("snapshot file corrupt, ignored", extra={"path": str(path), "error": reason})
        return None
    history = [HistoryPoint(p.t, MappingProxyType(p.values)) for p in state.history]
    return build_snapshot(rates, state.fetched_at, state.source), history


def load_sample() -> Snapshot:
    body = resources.files("crypto_rates").joinpath("data/sample-exchange-rates.json").read_bytes()
    return build_snapshot(parse_exchange_rates(body), SAMPLE_RECORDED_AT, Source.SAMPLE)
