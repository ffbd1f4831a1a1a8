import math

import pytest
from crypto_rates.conversion import ConversionError, convert, cross_rate


def test_cross_rate_is_units_of_code_per_one_base() -> None:
    # 1 BTC = 90,000 USD = 18 ETH, so 1 ETH = 5,000 USD
    assert cross_rate(90_000.0, 18.0) == pytest.approx(5_000.0)
    assert cross_rate(18.0, 90_000.0) == pytest.approx(1 / 5_000.0)


def test_convert_multiplies_amount_by_the_cross_rate() -> None:
    assert convert(2.5, 18.0, 90_000.0) == pytest.approx(12_500.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_cross_rate_refuses_non_positive_or_non_finite_inputs(bad: float) -> None:
    with pytest.raises(ConversionError, match="finite number greater than 0"):
        cross_rate(bad, 1.0)
    with pytest.raises(ConversionError, match="finite number greater than 0"):
        cross_rate(1.0, bad)


@pytest.mark.parametrize("bad", [0.0, -2.0, math.nan, math.inf])
def test_convert_refuses_bad_amounts(bad: float) -> None:
    with pytest.raises(ConversionError, match="amount"):
        convert(bad, 1.0, 2.0)


def test_cross_rate_refuses_overflow_to_infinity() -> None:
    with pytest.raises(ConversionError, match="out of range"):
        cross_rate(1e300, 1e-300)


def test_cross_rate_refuses_underflow_to_zero() -> None:
    with pytest.raises(ConversionError, match="out of range"):
        cross_rate(1e-300, 1e300)


def test_convert_refuses_results_that_overflow() -> None:
    with pytest.raises(ConversionError, match="too large for a double"):
        convert(1e300, 1e-10, 1e10)


def test_results_below_the_normal_range_are_zero_not_rounded_digits() -> None:
    # 1e-320 is representable only as a subnormal with a few significant digits
    assert convert(1e-308, 1.0, 1e-12) == 0.0
    assert convert(1e-300, 1e100, 1e-100) == 0.0  # underflows entirely
    assert convert(5e-324, 1.0, 1.0) == 0.0
    assert convert(2.2250738585072014e-308, 1.0, 1.0) == 2.2250738585072014e-308  # still normal
