"""One Kubernetes minor everywhere: deploy/cluster/versions.env names it, and the Terraform
environments (EKS) and the chart's kubeVersion must agree with the version the tests build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSIONS = REPO / "deploy" / "cluster" / "versions.env"
TFVARS = sorted((REPO / "deploy" / "terraform" / "environments").glob("*/environment.tfvars"))
# application charts (a library chart installs nothing, so it has no kubeVersion)
CHARTS = sorted(
    p
    for p in (REPO / "deploy" / "helm").rglob("Chart.yaml")
    if yaml.safe_load(p.read_text()).get("type") != "library"
)


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


KUBERNETES = read_env(VERSIONS)["KUBERNETES_VERSION"]
MINOR = ".".join(KUBERNETES.split(".")[:2])


def version_key(text: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?", text)
    if not match:
        raise ValueError(f"not a version: {text!r} (expected e.g. 1.34.4 or 1.34.0-0)")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def satisfies(version: str, constraint: str) -> bool:
    """Helm's semver constraints, the subset charts use: comparisons joined by spaces/commas (AND)
    and `||` (OR). A `-0` pre-release suffix only lets pre-releases match, so it is ignored here."""
    ops = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    have = version_key(version)
    for alternative in constraint.split("||"):
        terms = re.findall(r"(>=|<=|!=|>|<|=)?\s*(v?\d[\w.+-]*)", alternative)
        if not terms:
            raise ValueError(f"unsupported kubeVersion constraint: {constraint!r}")
        if all(ops[op or "="](have, version_key(want)) for op, want in terms):
            return True
    return False


def test_versions_env_names_a_full_version() -> None:
    assert re.fullmatch(r"1\.\d+\.\d+", KUBERNETES), (
        f"KUBERNETES_VERSION={KUBERNETES!r}: want 1.MINOR.PATCH"
    )


@pytest.mark.parametrize("tfvars", TFVARS, ids=lambda p: p.parent.name)
def test_terraform_targets_the_built_minor(tfvars: Path) -> None:
    match = re.search(r'^kubernetes_version\s*=\s*"([^"]+)"', tfvars.read_text(), re.M)
    assert match, f"{tfvars}: no kubernetes_version"
    assert match.group(1) == MINOR, (
        f"{tfvars.relative_to(REPO)}: kubernetes_version {match.group(1)!r}, but {VERSIONS.name} "
        f"builds and tests {KUBERNETES}: change both together"
    )


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: str(p.parent.relative_to(REPO)))
def test_chart_accepts_the_built_version(chart: Path) -> None:
    constraint = yaml.safe_load(chart.read_text()).get("kubeVersion")
    assert constraint, f"{chart}: no kubeVersion"
    assert satisfies(KUBERNETES, constraint), (
        f"{chart}: kubeVersion {constraint!r} refuses {KUBERNETES}"
    )


def test_terraform_and_charts_are_found() -> None:
    assert len(TFVARS) == 3 and CHARTS


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("1.34.4", ">=1.29.0-0", True),
        ("1.28.9", ">=1.29.0-0", False),
        ("1.34.4", ">=1.29.0-0 <1.34.0-0", False),
        ("1.34.4", "<1.30.0 || >=1.34.0", True),
        ("1.34.4", "=1.34.4", True),
    ],
)
def test_constraint_reader(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


SHELL_LIMIT = 100  # bash provisions (builds); the cluster itself is Python (localcluster.py)


def test_shell_in_deploy_cluster_stays_short() -> None:
    scripts = sorted((REPO / "deploy" / "cluster").rglob("*.sh"))
    assert scripts, "no shell scripts found under deploy/cluster"
    long = {
        str(p.relative_to(REPO)): n
        for p in scripts
        if (n := len(p.read_text().splitlines())) > SHELL_LIMIT
    }
    assert not long, f"shell scripts over {SHELL_LIMIT} lines (move the logic into Python): {long}"
