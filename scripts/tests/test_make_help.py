"""`make help` lists every target a user can run: each one named in a .PHONY declaration."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def phony_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return {
        name
        for declaration in re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE)
        for name in declaration.split()
    }


def test_make_help_lists_every_phony_target() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "help"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = {line.split("\t")[0] for line in result.stdout.splitlines()}
    assert {"help", "run", "test", "lint-backend", "test-e2e"} <= phony_targets()
    assert phony_targets() - listed == set()
    assert all("\t" in line and line.split("\t")[1].strip() for line in result.stdout.splitlines())
