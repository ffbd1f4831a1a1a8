"""Drive a URL with Debian's `wrk` (a separate process) and read its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
MAX_DURATION_S = 60
MAX_CONNECTIONS = 1000


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    requests_per_s: float
    p50_s: float
    p75_s: float
    p90_s: float
    p99_s: float
    socket_errors: int  # connect + read + write + timeout
    non_2xx_3xx: int

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx_3xx


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise WrkError(f"unreadable wrk duration {text!r}")
    return float(match[1]) * _UNITS_SECONDS[match[2]]


def _bytes(text: str) -> int:
    match = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    if match is None:
        raise WrkError(f"unreadable wrk size {text!r}")
    return round(float(match[1]) * _SIZE_BYTES[match[2]])


def _find(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise WrkError(f"wrk output lacks {pattern!r}; was --latency given? output:\n{text}")
    return match


def parse_wrk_output(text: str) -> WrkResult:
    """Read the report `wrk --latency` prints (wrk 4.x)."""
    totals = _find(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+[KMGT]?B) read", text)
    percentiles = {
        pct: _seconds(_find(rf"^\s*{pct}%\s+([\d.]+\w+)\s*$", text)[1]) for pct in (50, 75, 90, 99)
    }
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkResult(
        requests=int(totals[1]),
        duration_s=_seconds(totals[2]),
        bytes_read=_bytes(totals[3]),
        requests_per_s=float(_find(r"^Requests/sec:\s+([\d.]+)", text)[1]),
        p50_s=percentiles[50],
        p75_s=percentiles[75],
        p90_s=percentiles[90],
        p99_s=percentiles[99],
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        non_2xx_3xx=int(non_ok[1]) if non_ok else 0,
    )


def run_wrk(
    url: str,
    *,
    duration_s: int,
    connections: int,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    timeout_s: int = 5,
) -> WrkResult:
    """One bounded wrk run against a loopback URL."""
    if not url.startswith(("http://127.", "http://localhost")):
        raise WrkError(f"refusing to load {url}: benchmarks only target this machine's loopback")
    if not 1 <= duration_s <= MAX_DURATION_S:
        raise WrkError(f"duration must be 1..{MAX_DURATION_S} s, got {duration_s}")
    if not threads <= connections <= MAX_CONNECTIONS:
        raise WrkError(f"connections must be {threads}..{MAX_CONNECTIONS}, got {connections}")
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkError("wrk is not installed: apt-get install -y wrk")
    command = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        f"--timeout={timeout_s}s",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += ["--latency", url]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False
    )
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse_wrk_output(done.stdout)
