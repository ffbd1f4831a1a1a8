"""nginx follows a re-created backend (same name, new address) through RESOLVER, as in compose
where Docker's DNS gives a re-created container a new address. A one-name DNS server on 127.0.0.1
plays that DNS; the two backends listen on 127.0.0.2 and 127.0.0.3."""

from __future__ import annotations

import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_stack import Backend, Nginx
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import free_port, http_get, wait_until

NAME = "backend.crypto-rates.test"


class OneNameDns:
    """Answers A queries for NAME with `address` (TTL 1 s), NXDOMAIN for anything else."""

    def __init__(self) -> None:
        self.address = "127.0.0.2"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return  # closed
            end, labels = 12, []
            while query[end]:
                labels.append(query[end + 1 : end + 1 + query[end]].decode().lower())
                end += 1 + query[end]
            question = query[12 : end + 5]
            (qtype,) = struct.unpack("!H", query[end + 1 : end + 3])
            known = ".".join(labels) == NAME
            answers = b""
            if known and qtype == 1:
                record = struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4)
                answers = record + socket.inet_aton(self.address)
            flags = 0x8180 if known else 0x8183
            header = query[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(header + question + answers, peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dns() -> Iterator[OneNameDns]:
    server = OneNameDns()
    yield server
    server.close()


def test_a_re_created_backend_with_a_new_address_is_followed(dns: OneNameDns) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="crypto-rates-e2e-resolver-"))
    run_dir.chmod(0o755)
    port = free_port()
    with FakeCoinGecko() as fake:
        first = Backend(fake.url, run_dir, port=port, HOST="127.0.0.2").start()
        nginx = Nginx(
            f"http://{NAME}:{port}",
            run_dir,
            RESOLVER=f"127.0.0.1:{dns.port}",
            MICRO_CACHE_TTL="0",  # every request goes to the backend
        )
        second = Backend(fake.url, run_dir, port=port, HOST="127.0.0.3")
        try:
            nginx.start()
            assert http_get(nginx.url + "/api/v1/rates")[0] == 200
            first.stop()
            assert http_get(nginx.url + "/api/v1/rates")[0] == 502
            dns.address = "127.0.0.3"
            second.start()
            # Within the resolver's 5 s validity (plus slack), nginx reaches the new address.
            wait_until(
                "nginx to reach the re-created backend",
                lambda: http_get(nginx.url + "/api/v1/rates")[0] == 200,
                timeout_s=20,
                interval_s=0.5,
            )
            metrics = http_get(second.url + "/metrics")[2].decode()
            assert 'handler="/api/v1/rates",method="GET",status="2xx"' in metrics
        finally:
            for part in (nginx, first, second):
                part.stop()
            shutil.rmtree(run_dir, ignore_errors=True)
