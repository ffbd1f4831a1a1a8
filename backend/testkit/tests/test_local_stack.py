"""testkit.local_stack's clear refusals: what `make run` says before it starts anything (the stack
itself runs in frontend/e2e, test_make_run.py above all)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from testkit import local_stack

BACKEND = Path(__file__).resolve().parents[2]


def run_main(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testkit.local_stack"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(BACKEND), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", ["80a", "0", "70000"])
def test_a_bad_ui_port_is_named_before_anything_starts(value: str) -> None:
    result = run_main(UI_PORT=value)
    assert result.returncode == 2
    assert f"UI_PORT='{value}' is not valid: use a port number 1-65535" in result.stderr


def test_a_bad_backend_setting_is_named_before_anything_starts() -> None:
    result = run_main(REFRESH_INTERVAL="5")
    assert result.returncode == 2
    assert "REFRESH_INTERVAL must be at least 60 seconds" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: nginx's workers are then nobody")
def test_nginx_refuses_a_run_directory_its_workers_cannot_reach(tmp_path: Path) -> None:
    private = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as TMPDIR=/root/tmp would be
    run_dir = private / "run"
    run_dir.mkdir(mode=0o755)
    with pytest.raises(RuntimeError, match=r"cannot enter .* set TMPDIR to a directory anyone"):
        local_stack.Nginx("http://127.0.0.1:8000", run_dir)
