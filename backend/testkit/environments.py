"""The deploy environments: one list, the chart's values files (`values-<env>.yaml`), and the checks
that every file which names environments but cannot read that list agrees with it.

What reads the list itself: `make deploy` (deploy/registry/deploy.sh), deploy.yml's input check
(its manual run offers GitHub's Environments), Terraform's bootstrap
(deploy/terraform/bootstrap/environments.tf), CI's Terraform job (one root module for all) and the
tests. What is checked against it here: Terraform's per-environment directories, the automatic
deploys of release.yml and the Jenkinsfile, and every other file, which must not write the list out
(`hard_coded_lists`). docs/CI-CD.md, "Adding an environment", is the recipe;
deploy/tests/test_environments.py follows it in a copy of the tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = Path("deploy/helm/crypto-rates")
TERRAFORM = Path("deploy/terraform")
TF_ENVIRONMENTS = TERRAFORM / "environments"
WORKFLOWS = Path(".github/workflows")
RECIPE = 'docs/CI-CD.md, "Adding an environment"'
# Terraform's validation of var.environment (deploy/terraform/environment/variables.tf).
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9]{1,9}")


def environments(root: Path = REPO) -> list[str]:
    """The environments, sorted: one per deploy/helm/crypto-rates/values-<env>.yaml."""
    return sorted(p.name.removeprefix("values-").removesuffix(".yaml") for p in values_files(root))


def values_files(root: Path = REPO) -> list[Path]:
    return sorted((root / CHART).glob("values-*.yaml"))


def problems(root: Path = REPO) -> list[str]:
    """Every disagreement with the list under root (none: consistent), each naming its file."""
    names = environments(root)
    found = [] if names else [f"no {CHART}/values-<env>.yaml at all: there is no environment"]
    found += [
        f"{CHART}/values-{env}.yaml: names are {ENVIRONMENT_NAME.pattern} (Terraform's rule)"
        for env in names
        if not ENVIRONMENT_NAME.fullmatch(env)
    ]
    found += terraform_problems(root, names) + pipeline_problems(root, names)
    return found + hard_coded_lists(root, names)


def project_files(root: Path) -> list[Path]:
    """The project's files (and links) under root: git's (tracked or not ignored) in a checkout,
    else all."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0 and listed.stdout:
        paths = (root / name for name in listed.stdout.split("\0") if name)
    else:
        paths = root.rglob("*")
    return sorted(p for p in paths if p.is_symlink() or p.is_file())


def hard_coded_lists(root: Path, names: list[str]) -> list[str]:
    """Two or more environment names side by side, joined only by spaces, commas, quotes, brackets,
    `|` or `/` (a YAML or Groovy list, a shell case pattern, a brace expansion), in any file but the
    prose (*.md) and the tests, which run per environment from the list: such a list would need the
    next environment added by hand."""
    if len(names) < 2:
        return []
    name = "|".join(re.escape(n) for n in names)
    listed = re.compile(rf"\b(?:{name})\b(?:[\s,|/'\"`()\[\]{{}}]+\b(?:{name})\b)+")
    found = []
    for path in project_files(root):
        relative = path.relative_to(root)
        if path.is_symlink() or path.suffix == ".md" or "tests" in relative.parts[:-1]:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if match := listed.search(line):
                found.append(
                    f"{relative}:{number} lists environments ({match.group(0).strip()}): "
                    f"read them from {CHART}/values-*.yaml ({RECIPE})"
                )
    return found


def terraform_problems(root: Path, names: list[str]) -> list[str]:
    found = []
    directories = sorted(p.name for p in (root / TF_ENVIRONMENTS).iterdir() if p.is_dir())
    for env in sorted(set(names) - set(directories)):
        found.append(f"{TF_ENVIRONMENTS}/{env}/ is missing for values-{env}.yaml ({RECIPE})")
    for env in sorted(set(directories) - set(names)):
        found.append(f"{TF_ENVIRONMENTS}/{env}/ has no {CHART}/values-{env}.yaml ({RECIPE})")
    for env in sorted(set(directories) & set(names)):
        directory = TF_ENVIRONMENTS / env
        code = sorted(p.name for p in (root / directory).glob("*.tf"))
        if code:
            found.append(f"{directory}: {code} — the code is {TERRAFORM}/environment/, shared")
        settings = {
            "environment.tfvars": rf'^environment\s*=\s*"{env}"\s*$',
            "backend.hcl.example": rf'^key\s*=\s*"crypto-rates/{env}/terraform\.tfstate"\s*$',
            "terraform.tfvars.example": "",
        }
        for name, wanted in settings.items():
            path = root / directory / name
            if not path.is_file():
                found.append(f"{directory}/{name} is missing ({RECIPE})")
            elif not re.search(wanted, path.read_text(), re.M):
                found.append(f"{directory}/{name} does not match {wanted!r}: set it for {env}")
    return found


def load_workflow(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def automatic_deploys(root: Path = REPO) -> list[str]:
    """The environments release.yml deploys to (by calling deploy.yml), in its order."""
    jobs = load_workflow(root / WORKFLOWS / "release.yml")["jobs"].values()
    return [j["with"]["environment"] for j in jobs if j.get("uses", "").endswith("deploy.yml")]


def jenkins_deploys(root: Path = REPO) -> list[str]:
    """The environments the Jenkinsfile's stages deploy to (`deployTo('<env>')`), in its order."""
    return re.findall(r"\bdeployTo\('([^']*)'\)", (root / "Jenkinsfile").read_text())


def pipeline_problems(root: Path, names: list[str]) -> list[str]:
    found = []
    deploy = load_workflow(root / WORKFLOWS / "deploy.yml")
    offered = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]
    if offered.get("type") != "environment":
        found.append(
            f"{WORKFLOWS}/deploy.yml: workflow_dispatch's environment is of type "
            f"{offered.get('type')!r}: make it `type: environment` (GitHub's Environments), "
            "not a list of its own"
        )
    released = automatic_deploys(root)
    for env in sorted(set(released) - set(names)):
        found.append(f"{WORKFLOWS}/release.yml deploys to {env}, which has no values-{env}.yaml")
    jenkins = jenkins_deploys(root)
    for env in sorted(set(jenkins) - set(names)):
        found.append(f"Jenkinsfile deploys to {env}, which has no values-{env}.yaml")
    if sorted(jenkins) != sorted(released):
        found.append(
            f"Jenkinsfile deploys to {jenkins}, release.yml to {released}: "
            "an automatic deploy needs a stage in both"
        )
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        for job_id, job in load_workflow(path).get("jobs", {}).items():
            if "environment" in job.get("strategy", {}).get("matrix", {}):
                found.append(
                    f"{WORKFLOWS}/{path.name}: job {job_id} lists environments in a matrix; "
                    "read them from the values files instead"
                )
    return found


def bootstrap_environments(root: Path = REPO, terraform: str = "terraform") -> list[str]:
    """What Terraform's bootstrap evaluates `local.environments` to, evaluated by Terraform itself
    (`terraform console`, offline: only its file and the chart's values file names are copied)."""
    with tempfile.TemporaryDirectory() as scratch:
        bootstrap = Path(scratch) / TERRAFORM / "bootstrap"
        bootstrap.mkdir(parents=True)
        shutil.copy(root / TERRAFORM / "bootstrap" / "environments.tf", bootstrap)
        (Path(scratch) / CHART).mkdir(parents=True)
        for path in values_files(root):
            (Path(scratch) / CHART / path.name).touch()
        result = subprocess.run(
            [terraform, "console"],
            input="jsonencode(local.environments)\n",
            cwd=bootstrap,
            env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"terraform console failed: {result.stderr}")
    # console prints the JSON as a quoted string
    listed: list[str] = json.loads(json.loads(result.stdout))
    return listed
