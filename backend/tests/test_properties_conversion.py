"""Properties of the conversion maths (crypto_rates.conversion) for any value upstream may send."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from crypto_rates.coingecko_payload import MAX_VALUE, MIN_VALUE
from crypto_rates.conversion import ConversionError, convert, cross_rate
from hypothesis import example, given, settings
from hypothesis import strategies as st

# Deterministic (same examples every run, nothing written to disk) and bounded.
PROPERTY = settings(derandomize=True, database=None, max_examples=300, deadline=None)
REL = 1e-12  # a few float operations, each off by at most 2**-53 (relative only: abs=0)

# Units per 1 BTC, anywhere in the range the upstream parser accepts.
values = st.floats(min_value=MIN_VALUE, max_value=MAX_VALUE, allow_nan=False, allow_infinity=False)
# Any positive finite float, subnormals and the largest double included.
amounts = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
not_positive_finite = st.sampled_from([0.0, -0.0, -1.0, math.inf, -math.inf, math.nan])


@PROPERTY
@given(values, values)
def test_a_to_b_times_b_to_a_is_one(a: float, b: float) -> None:
    assert cross_rate(b, a) * cross_rate(a, b) == pytest.approx(1.0, rel=REL, abs=0)


@PROPERTY
@given(values)
def test_a_currency_in_itself_is_exactly_one(a: float) -> None:
    assert cross_rate(a, a) == 1.0


@PROPERTY
@given(values, values, values)
def test_a_to_b_to_c_equals_a_to_c(a: float, b: float, c: float) -> None:
    assert cross_rate(c, b) * cross_rate(b, a) == pytest.approx(cross_rate(c, a), rel=REL, abs=0)


@PROPERTY
@given(st.floats(min_value=1e-6, max_value=1e9), values, values, values)
def test_converting_through_a_third_currency_changes_nothing(
    amount: float, a: float, b: float, c: float
) -> None:
    via_b = convert(convert(amount, a, b), b, c)
    assert via_b == pytest.approx(convert(amount, a, c), rel=REL, abs=0)


@PROPERTY
@given(values, values, values)
def test_switching_base_preserves_ratios(x: float, y: float, base: float) -> None:
    # The ratio of two rows does not depend on the base the table is shown in.
    assert cross_rate(x, base) / cross_rate(y, base) == pytest.approx(x / y, rel=REL, abs=0)
    assert cross_rate(x, base) / cross_rate(y, base) == pytest.approx(
        cross_rate(x, y), rel=REL, abs=0
    )


@PROPERTY
@given(amounts, values, values)
@example(5e-324, MIN_VALUE, MAX_VALUE)  # the smallest amount into the largest ratio
@example(1e-300, MAX_VALUE, MIN_VALUE)  # a result far below the smallest double
@example(1.7976931348623157e308, MIN_VALUE, MAX_VALUE)  # overflow
@example(1e-290, MAX_VALUE, 1.0)  # a result just below the normal range
@example(1e-308, 1.0, MIN_VALUE)  # deep in the subnormal range: only a few digits survive
def test_huge_and_tiny_amounts_give_the_exact_answer_zero_or_a_clear_error(
    amount: float, value_from: float, value_to: float
) -> None:
    exact = Fraction(amount) * Fraction(value_to) / Fraction(value_from)
    try:
        result = convert(amount, value_from, value_to)
    except ConversionError as exc:
        assert "too large" in str(exc)
        assert exact > Fraction(1.7976931348623157e308)  # refused only when no double holds it
        return
    if result == 0.0:  # the documented rule: below the smallest normal double, the answer is 0
        assert exact < Fraction(2.2250738585072014e-308)
        return
    assert math.isfinite(result) and result > 0
    error = abs(Fraction(result) - exact) / exact
    assert error <= REL, (
        f"convert({amount!r}, {value_from!r}, {value_to!r}) = {result!r} is off by "
        f"{float(error):.1e} (relative): the answer lost its precision without an error"
    )


@PROPERTY
@given(not_positive_finite, values, values)
def test_an_amount_that_is_not_positive_and_finite_is_refused(
    amount: float, a: float, b: float
) -> None:
    with pytest.raises(ConversionError, match="amount must be a finite number greater than 0"):
        convert(amount, a, b)


@PROPERTY
@given(not_positive_finite, values)
def test_a_value_that_is_not_positive_and_finite_is_refused(bad: float, good: float) -> None:
    with pytest.raises(ConversionError, match="greater than 0"):
        cross_rate(bad, good)
    with pytest.raises(ConversionError, match="greater than 0"):
        cross_rate(good, bad)
