"""HTTP caching and compression helpers for rate responses (ETag, Cache-Control, gzip)."""

GZIP_MIN_BYTES = 1024  # below this gzip's overhead outweighs the saving


def accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if params else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def cache_control(max_age: float, stale_if_error: float) -> str:
    return f"public, max-age={max(0, int(max_age))}, stale-if-error={max(0, int(stale_if_error))}"
