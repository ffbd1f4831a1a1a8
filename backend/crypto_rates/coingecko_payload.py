"""CoinGecko's /exchange_rates payload: validated into Rates, and written back in the same shape.

Pure functions, no I/O: the client parses what it fetched, persistence what it saved.
"""

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from crypto_rates.rate import CODE_PATTERN, Rate, RateType

MIN_VALUE, MAX_VALUE = 1e-12, 1e18


class InvalidResponse(ValueError):
    """The upstream body is not a CoinGecko exchange-rates payload."""


Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]


class _UpstreamRate(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    unit: Annotated[str, StringConstraints(max_length=20)]
    # Units per 1 BTC. The bounds keep every cross rate and conversion far from float overflow.
    value: float = Field(ge=MIN_VALUE, le=MAX_VALUE, allow_inf_nan=False, strict=True)
    type: RateType


class _ExchangeRates(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rates: dict[Code, _UpstreamRate] = Field(min_length=1, max_length=10_000)


def rates_from_payload(payload: object) -> Mapping[str, Rate]:
    """Validate an already-decoded payload ({"rates": {...}}) into Rates keyed by code."""
    try:
        parsed = _ExchangeRates.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidResponse(f"{where}: {first['msg']}") from None
    return MappingProxyType(
        {
            code: Rate(code=code, name=r.name, unit=r.unit, type=r.type, value=r.value)
            for code, r in parsed.rates.items()
        }
    )


def parse_exchange_rates(body: bytes) -> Mapping[str, Rate]:
    """Parse a CoinGecko /exchange_rates body; raise InvalidResponse saying what is wrong."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidResponse(f"body is not JSON: {exc}") from None
    return rates_from_payload(payload)


def rates_payload(rates: Mapping[str, Rate]) -> dict[str, dict[str, object]]:
    """Rates in CoinGecko's shape ({code: {name, unit, value, type}}): /api/rates and the file."""
    return {
        r.code: {"name": r.name, "unit": r.unit, "value": r.value, "type": r.type}
        for r in rates.values()
    }
