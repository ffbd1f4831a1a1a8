import pytest
from crypto_rates.http_caching import accepts_gzip, cache_control, etag_matches


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("GZIP", True),  # content codings are case-insensitive
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=bogus", False),
        ("deflate, *", True),  # "*" stands for any coding not listed
        ("x-gzip-like, *;q=1", True),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    ("if_none_match", "expected"),
    [('W/"v1-a"', True), ('"v1-a"', True), ('"x", W/"v1-a"', True), ("*", True), ('"v1-b"', False)],
)
def test_etag_matching_is_weak(if_none_match: str, expected: bool) -> None:
    assert etag_matches(if_none_match, 'W/"v1-a"') is expected


def test_cache_control_never_goes_negative() -> None:
    assert cache_control(-5, 600) == "public, max-age=0, stale-if-error=600"
    assert cache_control(299.9, 600.0) == "public, max-age=299, stale-if-error=600"
