"""The floor: a bare ASGI app (no framework) answering every GET with the same pre-serialised bytes.

Served by uvicorn exactly like our service (1 worker, httptools, uvloop, no access log, no Server
header, no X-Forwarded-* rewriting), it measures what this stack can do on this machine at all; our
service is reported as a fraction of it.

    python -m benchmarks.floor_app --port 8101 --body body.json
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_ENV = "BENCH_FLOOR_BODY"


def make_app(body: bytes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, default=os.environ.get(BODY_ENV))
    args = parser.parse_args()
    if args.body is None:
        parser.error(f"--body (or {BODY_ENV}) names the file whose bytes every answer carries")
    app = make_app(args.body.read_bytes())
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
