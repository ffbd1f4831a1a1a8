"""One list of environments, the chart's values files, and every file that must agree with it
(testkit.environments). docs/CI-CD.md, "Adding an environment", is the recipe: the tests below
follow it in a copy of the tree, adding `qa`, and run the same checks there; an incomplete `qa`
fails them with a message that names the file to fix.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit.environments import (
    REPO,
    bootstrap_environments,
    environments,
    problems,
)

# What the environment checks read: the tree is copied (without local state) and changed there.
COPIED = (".github/workflows", "Jenkinsfile", "deploy/helm/crypto-rates", "deploy/terraform")
LOCAL_STATE = shutil.ignore_patterns(".terraform", "*.tfstate*", "terraform.tfvars", "backend.hcl")
TF_SETTINGS = ("environment.tfvars", "backend.hcl.example", "terraform.tfvars.example")
# The files the recipe touches to add qa, and nothing else.
RECIPE_FILES = {
    "deploy/helm/crypto-rates/values-qa.yaml",
    *(f"deploy/terraform/environments/qa/{name}" for name in TF_SETTINGS),
    ".github/workflows/deploy.yml",
}
DEPLOY_OPTIONS = "        options: [dev, staging, prod]\n"


def copy_tree(target: Path) -> Path:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=LOCAL_STATE, symlinks=True)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / name)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found; update the recipe here and in docs/CI-CD.md"
    path.write_text(text.replace(old, new))


def add_values_file(root: Path) -> None:
    """Recipe step 1: values-qa.yaml, here staging's with qa's name and VPC."""
    chart = root / "deploy" / "helm" / "crypto-rates"
    text = (chart / "values-staging.yaml").read_text()
    (chart / "values-qa.yaml").write_text(
        text.replace("staging", "qa").replace("10.20.0.0/16", "10.40.0.0/16")
    )


def add_terraform_settings(root: Path) -> None:
    """Recipe step 2: environments/qa/, staging's settings with qa's name, state key and VPC."""
    environments_dir = root / "deploy" / "terraform" / "environments"
    shutil.copytree(environments_dir / "staging", environments_dir / "qa", ignore=LOCAL_STATE)
    for name in ("environment.tfvars", "backend.hcl.example"):
        edit(environments_dir / "qa" / name, "staging", "qa")
    edit(environments_dir / "qa" / "environment.tfvars", "10.20.0.0/16", "10.40.0.0/16")


def offer_in_deploy_workflow(root: Path) -> None:
    """Recipe step 3: deploy.yml's environment choice."""
    edit(
        root / ".github" / "workflows" / "deploy.yml",
        DEPLOY_OPTIONS,
        DEPLOY_OPTIONS.replace("dev, ", "dev, qa, "),
    )


def add_qa(root: Path) -> Path:
    add_values_file(root)
    add_terraform_settings(root)
    offer_in_deploy_workflow(root)
    return root


def changed_files(root: Path) -> set[str]:
    """Files under root that are new or differ from the repository's."""
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file()
        and not (
            (REPO / path.relative_to(root)).is_file()
            and filecmp.cmp(path, REPO / path.relative_to(root), shallow=False)
        )
    }


def test_every_file_agrees_with_the_list_of_environments() -> None:
    assert problems() == []
    assert {"dev", "staging", "prod"} <= set(environments())


def test_a_copy_of_the_tree_passes_the_checks_unchanged(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    assert changed_files(root) == set()
    assert problems(root) == []


def test_adding_qa_by_the_recipe_touches_only_its_files_and_passes_the_checks(
    tmp_path: Path,
) -> None:
    root = add_qa(copy_tree(tmp_path))
    assert changed_files(root) == RECIPE_FILES
    assert environments(root) == ["dev", "prod", "qa", "staging"]
    assert problems(root) == []
    # Terraform's wrapper knows qa without an edit (a stand-in terraform shows what it would run).
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho "$TF_DATA_DIR $*"\n')
    fake.chmod(0o755)
    result = subprocess.run(
        [root / "deploy" / "terraform" / "terraform.sh", "qa", "plan"],
        env={"PATH": "/usr/bin:/bin", "TERRAFORM": str(fake)},
        capture_output=True,
        text=True,
        check=True,
    )
    qa = root / "deploy" / "terraform" / "environments" / "qa"
    assert result.stdout.split() == [
        f"{qa}/.terraform",
        f"-chdir={root}/deploy/terraform/environment",
        "plan",
        f"-var-file={qa}/environment.tfvars",
    ]


def test_terraform_bootstrap_writes_a_backend_config_for_qa(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (Terraform >= 1.10 evaluates the bootstrap)")
    root = add_qa(copy_tree(tmp_path))
    assert bootstrap_environments(root, terraform) == ["dev", "prod", "qa", "staging"]


SETTINGS_MISSING = "deploy/terraform/environments/qa/ is missing for values-qa.yaml"
NOT_OFFERED = ".github/workflows/deploy.yml: workflow_dispatch offers environments"


def add_terraform_settings_unrenamed(root: Path) -> None:
    environments_dir = root / "deploy" / "terraform" / "environments"
    shutil.copytree(environments_dir / "staging", environments_dir / "qa", ignore=LOCAL_STATE)


def jenkins_stage_for_qa(root: Path) -> None:
    edit(
        root / "Jenkinsfile",
        "        stage('Deploy to staging') {",
        "        stage('Deploy to qa') {\n"
        "            steps {\n"
        "                script { deployTo('qa') }\n"
        "            }\n"
        "        }\n"
        "        stage('Deploy to staging') {",
    )


def matrix_in_ci(root: Path) -> None:
    edit(
        root / ".github" / "workflows" / "ci.yml",
        "    timeout-minutes: 15\n    env:\n      TF_DIR:",
        "    timeout-minutes: 15\n"
        "    strategy:\n"
        "      matrix:\n"
        "        environment: [dev, staging, prod]\n"
        "    env:\n      TF_DIR:",
    )


def values_file_named_against_terraforms_rule(root: Path) -> None:
    chart = root / "deploy" / "helm" / "crypto-rates"
    shutil.copy(chart / "values-staging.yaml", chart / "values-qa_1.yaml")


def code_in_environment_dir(root: Path) -> None:
    terraform = root / "deploy" / "terraform"
    (terraform / "environments" / "prod" / "main.tf").symlink_to("../../environment/main.tf")


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # Only the values file: Terraform's settings and the deploy workflow are missing.
        ([add_values_file], [SETTINGS_MISSING, NOT_OFFERED]),
        ([add_values_file, offer_in_deploy_workflow], [SETTINGS_MISSING]),
        ([add_values_file, add_terraform_settings], [NOT_OFFERED]),
        # Terraform's settings without the values file.
        (
            [add_terraform_settings],
            ["deploy/terraform/environments/qa/ has no deploy/helm/crypto-rates/values-qa.yaml"],
        ),
        # Settings copied but not renamed: they would build (and lock the state of) staging.
        (
            [add_values_file, offer_in_deploy_workflow, add_terraform_settings_unrenamed],
            [
                "deploy/terraform/environments/qa/environment.tfvars does not match",
                "deploy/terraform/environments/qa/backend.hcl.example does not match",
            ],
        ),
        # An automatic deploy in Jenkins that release.yml does not have.
        (
            [add_qa, jenkins_stage_for_qa],
            ["Jenkinsfile deploys to ['dev', 'qa', 'staging', 'prod']"],
        ),
        (
            [jenkins_stage_for_qa],
            ["Jenkinsfile deploys to qa, which has no values-qa.yaml", "Jenkinsfile deploys to"],
        ),
        # A hard-coded list where the workflow can read the real one.
        (
            [matrix_in_ci],
            [".github/workflows/ci.yml: job terraform lists environments in a matrix"],
        ),
        # A name Terraform's var.environment refuses.
        (
            [values_file_named_against_terraforms_rule],
            [
                "deploy/helm/crypto-rates/values-qa_1.yaml: names are [a-z][a-z0-9]{1,9}",
                "deploy/terraform/environments/qa_1/ is missing",
                NOT_OFFERED,
            ],
        ),
        # Code in an environment's directory (the old layout: links to another environment's files).
        (
            [code_in_environment_dir],
            ["deploy/terraform/environments/prod: ['main.tf'] — the code is"],
        ),
    ],
    ids=[
        "values-only",
        "no-terraform-settings",
        "not-offered-by-deploy-yml",
        "terraform-settings-only",
        "settings-not-renamed",
        "jenkins-deploys-what-release-does-not",
        "jenkins-deploys-unknown",
        "matrix-in-ci",
        "name-terraform-refuses",
        "code-in-environment-dir",
    ],
)
def test_an_incomplete_environment_fails_naming_the_file_to_fix(
    tmp_path: Path, steps: list[Callable[[Path], object]], expected: list[str]
) -> None:
    root = copy_tree(tmp_path)
    for step in steps:
        step(root)
    found = problems(root)
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start), found
