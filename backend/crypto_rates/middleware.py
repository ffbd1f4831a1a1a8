"""One pure ASGI middleware for request ids, the access log, HEAD and last-resort errors.

Pure ASGI (not BaseHTTPMiddleware) and one layer instead of three. It wraps what FastAPI answers;
the fast path (api/fast_path.py) answers the two hottest requests in front of it and gives them
their request id with `request_id_of`. Request metrics are the instrumentator's, in the layer
around both (`Metrics.instrument`).
"""

import logging
import re
import time
from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crypto_rates.logs import request_id
from crypto_rates.problems import INTERNAL_ERROR, problem_response

log = logging.getLogger("crypto_rates.access")

# The one X-Request-ID rule, the edge's too (frontend/nginx/nginx.conf.template): fullmatch, as
# `$` alone would also accept a trailing newline.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The request's own X-Request-ID when it is safe to echo, else a new one.

    An id to correlate logs, not a secret: no system call per request (os.urandom's cost ~1 us);
    `random` is seeded from the OS at start and again in each forked child.
    """
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(text):
                return text
            break
    return f"{getrandbits(64):016x}"


class RequestMiddleware:
    """The request middleware: request ids, the access log, HEAD answered as GET, last-resort
    errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id_of(scope)
        rid_header = (b"x-request-id", rid.encode())
        token = request_id.set(rid)
        status = 500
        response_started = False
        # HEAD is answered like GET without the body, as the old Flask service did: FastAPI
        # routes declare GET only, and uptime checkers and load balancers probe with HEAD.
        head = scope["method"] == "HEAD"
        app_scope = {**scope, "method": "GET"} if head else scope

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            elif head:
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(app_scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if not response_started:
                response = problem_response(500, INTERNAL_ERROR)
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            if status == 503:  # no data yet or shutting down: a state the answer reports
                log.info("request unavailable", extra=self._fields(scope, status, elapsed))
            elif status >= 500:
                log.error("request failed", extra=self._fields(scope, status, elapsed))
            elif log.isEnabledFor(logging.DEBUG):
                log.debug("request", extra=self._fields(scope, status, elapsed))
            request_id.reset(token)

    @staticmethod
    def _fields(scope: Scope, status: int, elapsed: float) -> dict[str, object]:
        return {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
        }
