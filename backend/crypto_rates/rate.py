"""The domain value: one exchange rate as CoinGecko reports it (units per 1 BTC)."""

from dataclasses import dataclass
from enum import StrEnum


class RateType(StrEnum):
    CRYPTO = "crypto"
    FIAT = "fiat"
    COMMODITY = "commodity"


class Source(StrEnum):
    """Where a snapshot's data came from: CoinGecko itself, or the bundled offline sample."""

    COINGECKO = "coingecko"
    SAMPLE = "sample"


RATE_TYPES: tuple[str, ...] = tuple(RateType)
# Upstream codes are short lower-case tokens ("btc", "usd", "sats"); anything else is refused.
CODE_PATTERN = r"^[a-z0-9]{1,16}$"


@dataclass(frozen=True, slots=True)
class Rate:
    code: str
    name: str
    unit: str
    type: RateType
    value: float  # units of this currency per 1 BTC, always finite and > 0
