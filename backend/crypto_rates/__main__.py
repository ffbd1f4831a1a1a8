"""`python -m crypto_rates` / `crypto-rates`: serve with uvicorn; graceful shutdown on SIGTERM."""

import logging
import signal
import sys
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from crypto_rates.config import SettingsError, load_settings
from crypto_rates.logs import configure_logging
from crypto_rates.main import create_app
from crypto_rates.problems import PROBLEM_JSON, problem_body
from crypto_rates.runtime import Runtime

log = logging.getLogger("crypto_rates")
MALFORMED_REQUEST = (
    "the request is not valid HTTP/1.1, or its request line and headers exceed about 80 KB"
)
GRACEFUL_SHUTDOWN_SECONDS = (
    8  # in-flight requests get this long; the contract says exit within 10 s
)


class Server(uvicorn.Server):
    """Fails readiness the moment a signal arrives, before uvicorn starts draining."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.runtime.begin_shutdown()
        super().handle_exit(sig, frame)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request it cannot parse gets our problem+json 400 too.

    That includes a request line plus headers over llhttp's limit (about 80 KB), which never
    reaches the app; shorter over-long URLs reach it and get a 422 naming the parameter.
    """

    def send_400_response(self, msg: str) -> None:
        body = problem_body(400, f"{msg.rstrip('.')}: {MALFORMED_REQUEST}")
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
            b"cache-control: no-store\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"crypto-rates: invalid configuration: {exc}", file=sys.stderr)
        return 2
    secret = settings.current_api_key()
    configure_logging(settings.log_level, settings.log_format, [secret] if secret else [])
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=HttpProtocol,
        lifespan="on",
        access_log=False,  # our middleware logs requests (at debug) with the request id
        log_config=None,
        server_header=False,
        # The service uses neither the client's address nor the scheme, so uvicorn's rewriting of
        # them from X-Forwarded-* (a layer on every request) is off.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    log.info(
        f"crypto-rates on http://{settings.host}:{settings.port} "
        f"(API docs /docs, rates /api/v1/rates, upstream {settings.base_url})"
    )
    # uvicorn re-raises the signal that stopped it once shutdown is complete; by then the
    # shutdown was graceful, so exit 0 instead of dying by SIGTERM (or a KeyboardInterrupt trace).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _after_graceful_shutdown)
    Server(config, app.state.runtime).run()
    return 0


def _after_graceful_shutdown(sig: int, frame: FrameType | None) -> None:
    log.info("stopped", extra={"signal": signal.Signals(sig).name})


if __name__ == "__main__":
    sys.exit(main())
