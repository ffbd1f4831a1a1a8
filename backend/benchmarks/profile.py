"""Profile our service under wrk load with py-spy (sampling, from outside the process).

    PYTHONPATH=backend .venv/bin/python -m benchmarks.profile [--path /api/v1/rates] [--seconds 8]

Writes the collapsed stacks to .bench/ and prints the functions holding the most samples,
inclusive and self, so a missed target can be traced to a file and function. Only the thread
holding the GIL is sampled (`py-spy --gil`): waiting threads are left out, so the shares are of
the time the process runs Python. (py-spy's own idle detection did not leave out a thread pool's
workers waiting in `Condition.wait` on this VM: they held 78 % of the samples.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from testkit.fake_coingecko import FakeCoinGecko

from .run import base_url, ours
from .wrk import run_wrk


def _frame_name(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; keep the function and the file name.
    function, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{function} ({'/'.join(Path(file).parts[-2:])})"


def summarise(collapsed: str, top: int) -> str:
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        exclusive[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "inclusive %  function"]
    lines += [f"{100 * n / total:10.1f}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self %       function"]
    lines += [f"{100 * n / total:10.1f}  {name}" for name, n in exclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--path", default="/api/v1/rates")
    parser.add_argument("--header", action="append", default=[], help="'Name: value' for wrk")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        parser.error("py-spy is not installed (pip install py-spy; the bench extra has it)")
    args.out.mkdir(parents=True, exist_ok=True)
    headers = dict(h.split(": ", 1) for h in args.header)
    name = args.path.strip("/").replace("/", "-") or "root"
    collapsed_path = args.out / f"profile-{name}.txt"

    with FakeCoinGecko() as fake, ours(fake, args.out / "logs", "ours-profile") as server:
        url = base_url(server) + args.path
        run_wrk(url, duration_s=2, connections=args.connections, headers=headers)  # warm up
        load = threading.Thread(
            target=run_wrk,
            args=(url,),
            kwargs={
                "duration_s": args.seconds + 2,
                "connections": args.connections,
                "headers": headers,
            },
        )
        load.start()
        record = [py_spy, "record", "--gil", "--pid", str(server.pid)]
        record += ["--duration", str(args.seconds)]
        subprocess.run(
            [*record, "--format", "raw", "--output", str(collapsed_path)],
            check=True,
            capture_output=True,
        )
        load.join()
    print(summarise(collapsed_path.read_text(), args.top))
    print(f"\ncollapsed stacks: {collapsed_path} (any flame graph tool reads them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
