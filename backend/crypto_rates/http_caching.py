"""HTTP caching and content negotiation for rate responses (ETag/304, Cache-Control, gzip)."""

import gzip
from dataclasses import dataclass, field

GZIP_MIN_BYTES = 1024  # below this gzip's overhead outweighs the saving
RawHeaders = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Representation:
    """A response body with its validator (ETag); compressed at most once, when first asked."""

    body: bytes
    etag: str
    media_type: bytes = b"application/json"
    vary: bytes = b"Accept-Encoding"  # history's bodies also vary with Accept (CSV or JSON)
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


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


def negotiate(
    representation: Representation,
    if_none_match: str | None,
    accept_encoding: str | None,
    cache_control: str,
) -> tuple[int, RawHeaders, bytes]:
    """Status, headers and body: 304 on a matching ETag, gzip when accepted and worth it."""
    headers: RawHeaders = [
        (b"etag", representation.etag.encode()),
        (b"cache-control", cache_control.encode()),
        (b"vary", representation.vary),
    ]
    if if_none_match is not None and etag_matches(if_none_match, representation.etag):
        return 304, headers, b""
    body = representation.body
    if len(body) >= GZIP_MIN_BYTES and accepts_gzip(accept_encoding):
        body = representation.gzipped()
        headers.append((b"content-encoding", b"gzip"))
    headers.append((b"content-type", representation.media_type))
    headers.append((b"content-length", str(len(body)).encode()))
    return 200, headers, body
