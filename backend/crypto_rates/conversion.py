"""Conversion maths as pure functions over upstream values (units per 1 BTC)."""

import math
import sys

# Below this, doubles are subnormal and silently lose digits: a conversion result this small is
# reported as 0 rather than as a number with fewer correct digits than it shows.
SMALLEST_NORMAL = sys.float_info.min


class ConversionError(ValueError):
    """The inputs or the result are not finite positive numbers."""


def _require_positive_finite(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConversionError(f"{name} must be a finite number greater than 0 (got {value!r})")


def cross_rate(value_code: float, value_base: float) -> float:
    """Units of `code` per 1 unit of `base`, given both as units per 1 BTC."""
    _require_positive_finite("value_code", value_code)
    _require_positive_finite("value_base", value_base)
    rate = value_code / value_base
    if not math.isfinite(rate) or rate < SMALLEST_NORMAL:
        raise ConversionError(f"the rate {value_code!r}/{value_base!r} is out of range")
    return rate


def convert(amount: float, value_from: float, value_to: float) -> float:
    """How many units of `to` `amount` units of `from` are worth; refuses inf, NaN and overflow.

    The result is one rounding from exact (amount x rate), or 0 when the exact answer is below
    SMALLEST_NORMAL (about 2.2e-308).
    """
    _require_positive_finite("amount", amount)
    result = amount * cross_rate(value_to, value_from)
    if not math.isfinite(result):
        raise ConversionError(f"converting {amount!r} gives a result too large for a double")
    return result if result >= SMALLEST_NORMAL else 0.0
