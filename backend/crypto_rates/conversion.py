"""Conversion maths as pure functions over upstream values (units per 1 BTC)."""

import math
import sys

# Below this, doubles are subnormal and silently lose digits: refuse rather than mislead.
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
    """How many units of `to` `amount` units of `from` are worth; refuses inf, NaN and underflow.

    The result is one rounding from exact (amount x rate) unless refused.
    """
    _require_positive_finite("amount", amount)
    result = amount * cross_rate(value_to, value_from)
    if not math.isfinite(result) or result < SMALLEST_NORMAL:
        raise ConversionError(
            f"converting {amount!r} gives a result out of range; use a smaller or larger amount"
        )
    return result
