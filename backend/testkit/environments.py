"""The deploy environments: one list, the chart's values files (`values-<env>.yaml`), and the checks
that every file which names environments but cannot read that list agrees with it.

What reads the list itself: `make deploy` (deploy/registry/deploy.sh), Terraform's bootstrap
(deploy/terraform/bootstrap/environments.tf), CI's Terraform job (one root module for all) and the
tests. What is checked against it here: Terraform's per-environment directories, the environments
deploy.yml offers, the automatic deploys of release.yml and the Jenkinsfile. docs/CI-CD.md, "Adding
an environment", is the recipe; deploy/tests/test_environments.py follows it in a copy of the tree.
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
    return found + terraform_problems(root, names) + pipeline_problems(root, names)


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
    offered = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
    if sorted(offered) != names:
        found.append(
            f"{WORKFLOWS}/deploy.yml: workflow_dispatch offers environments {sorted(offered)}, "
            f"the values files are {names}: make its `options` the same"
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
