"""One list of environments, the chart's values files, and every file that must agree with it
(testkit.environments). docs/CI-CD.md, "Adding an environment", is the recipe: the tests below
follow it in a copy of the project, adding `qa`, and run there the same checks, what reads the list
(make deploy's and deploy.yml's environment checks, terraform.sh, Terraform's bootstrap) and the
deploy tests' cases for qa; an incomplete `qa`, or a list written out anywhere, fails the checks
with a message that names the file to fix.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from testkit.environments import (
    REPO,
    bootstrap_environments,
    environments,
    load_workflow,
    problems,
    project_files,
)

LOCAL_STATE = shutil.ignore_patterns(".terraform", "*.tfstate*", "terraform.tfvars", "backend.hcl")
TF_SETTINGS = ("environment.tfvars", "backend.hcl.example", "terraform.tfvars.example")
# The files the recipe touches to add qa, and nothing else.
RECIPE_FILES = {
    "deploy/helm/crypto-rates/values-qa.yaml",
    *(f"deploy/terraform/environments/qa/{name}" for name in TF_SETTINGS),
}


def copy_tree(target: Path) -> Path:
    """The project's files (git's, with uncommitted changes; no local state or virtualenvs)."""
    for source in project_files(REPO):
        copy = target / source.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)
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


def add_qa(root: Path) -> Path:
    add_values_file(root)
    add_terraform_settings(root)
    return root


def changed_files(root: Path) -> set[str]:
    """Files under root that are new or differ from the repository's."""
    changed = set()
    for path in root.rglob("*"):
        original = REPO / path.relative_to(root)
        if path.is_symlink():
            same = original.is_symlink() and os.readlink(path) == os.readlink(original)
        elif path.is_file():
            same = original.is_file() and filecmp.cmp(path, original, shallow=False)
        else:
            continue
        if not same:
            changed.add(str(path.relative_to(root)))
    return changed


def run(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


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
    root = add_qa(copy_tree(tmp_path / "tree"))
    assert changed_files(root) == RECIPE_FILES
    assert environments(root) == ["dev", "prod", "qa", "staging"]
    assert problems(root) == []


def test_what_reads_the_list_knows_qa_without_an_edit(tmp_path: Path) -> None:
    root = add_qa(copy_tree(tmp_path / "tree"))
    # make deploy takes ENV=qa: it stops at the next check, the images pinned by make push.
    pinned = tmp_path / "missing-pins.yaml"
    deploy = run("make", "-C", root, "deploy", ENV="qa", PINNED_VALUES=str(pinned))
    assert f"PINNED_VALUES={pinned} does not exist" in deploy.stderr, deploy.stderr
    unknown = run("make", "-C", root, "deploy", ENV="nowhere")
    assert "valid are dev prod qa staging" in unknown.stderr, unknown.stderr

    # deploy.yml's first step accepts qa and names it among the valid ones.
    job = load_workflow(root / ".github/workflows/deploy.yml")["jobs"]["deploy"]
    check = next(step["run"] for step in job["steps"] if step.get("id") == "plan")
    outputs = tmp_path / "github-output"
    variables = {name: "set" for name in ("AWS_DEPLOY_ROLE_ARN", "AWS_REGION", "EKS_CLUSTER_NAME")}
    inputs = {**variables, "PUBLIC_URL": "https://qa.example", "CHART": job["env"]["CHART"]}
    inputs |= {"REQUESTED_TAG": "1.2.3", "GITHUB_OUTPUT": str(outputs)}
    workflow = run(
        "bash", "-euo", "pipefail", "-c", f"cd {root}\n{check}", TARGET_ENV="qa", **inputs
    )
    assert workflow.returncode == 0, workflow.stdout + workflow.stderr
    assert "values=deploy/helm/crypto-rates/values-qa.yaml" in outputs.read_text()
    workflow = run(
        "bash", "-euo", "pipefail", "-c", f"cd {root}\n{check}", TARGET_ENV="no", **inputs
    )
    assert "valid: dev prod qa staging" in workflow.stdout, workflow.stdout

    # Terraform's wrapper (a stand-in terraform shows what it would run).
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho "$TF_DATA_DIR $*"\n')
    fake.chmod(0o755)
    wrapper = run(root / "deploy/terraform/terraform.sh", "qa", "plan", TERRAFORM=str(fake))
    assert wrapper.returncode == 0, wrapper.stderr
    qa = root / "deploy" / "terraform" / "environments" / "qa"
    assert wrapper.stdout.split() == [
        f"{qa}/.terraform",
        f"-chdir={root}/deploy/terraform/environment",
        "plan",
        f"-var-file={qa}/environment.tfvars",
    ]


# The deploy suites, which read the list (each has cases per environment): all their tests but
# checkov's (the same scans of more renders) and make's JUnit output (no environment, 100 s here).
DEPLOY_SUITES = ("test_helm.py", "test_terraform.py", "test_workflows.py", "test_jenkinsfile.py")
NOT_PER_ENVIRONMENT = "not checkov and not test_make_writes_junit_xml_where_jenkins_reads_it"


def test_the_deploy_tests_pass_with_qa_without_an_edit(tmp_path: Path) -> None:
    root = add_qa(copy_tree(tmp_path / "tree"))
    suites = [f"deploy/tests/{name}" for name in DEPLOY_SUITES]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *suites, "-k", NOT_PER_ENVIRONMENT, "-q"],
        cwd=root,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    # They ran qa's cases (rendered its values, checked its Terraform settings, ...).
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", *suites, "-k", "qa", "--collect-only", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.count("[qa") >= 10, ran.stdout


def test_terraform_bootstrap_writes_a_backend_config_for_qa(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (Terraform >= 1.10 evaluates the bootstrap)")
    root = add_qa(copy_tree(tmp_path))
    assert bootstrap_environments(root, terraform) == ["dev", "prod", "qa", "staging"]


SETTINGS_MISSING = "deploy/terraform/environments/qa/ is missing for values-qa.yaml"


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
        "        environment:\n"
        "          - dev\n"
        "          - staging\n"
        "    env:\n      TF_DIR:",
    )


def choice_in_deploy_yml(root: Path) -> None:
    edit(
        root / ".github" / "workflows" / "deploy.yml",
        "        type: environment\n",
        "        type: choice\n        options: [dev, staging, prod]\n",
    )


def environment_check_in_makefile(root: Path) -> None:
    edit(
        root / "Makefile",
        "\tdeploy/registry/deploy.sh\n",
        '\tcase "$(ENV)" in dev|staging|prod) ;; *) exit 2 ;; esac\n\tdeploy/registry/deploy.sh\n',
    )


def loop_in_ci_run(root: Path) -> None:
    edit(
        root / ".ci" / "run",
        "phase make test\n",
        "phase make test\nfor env in dev staging prod; do phase make deploy ENV=$env; done\n",
    )


def values_file_named_against_terraforms_rule(root: Path) -> None:
    chart = root / "deploy" / "helm" / "crypto-rates"
    shutil.copy(chart / "values-staging.yaml", chart / "values-qa_1.yaml")


def code_in_environment_dir(root: Path) -> None:
    terraform = root / "deploy" / "terraform"
    (terraform / "environments" / "prod" / "main.tf").symlink_to("../../environment/main.tf")


def hard_coded(file: str, names: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(file)}:\d+ lists environments \({re.escape(names)}\): read")


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # Only the values file: Terraform's settings are missing.
        ([add_values_file], [SETTINGS_MISSING]),
        # Terraform's settings without the values file.
        (
            [add_terraform_settings],
            ["deploy/terraform/environments/qa/ has no deploy/helm/crypto-rates/values-qa.yaml"],
        ),
        # Settings copied but not renamed: they would build (and lock the state of) staging.
        (
            [add_values_file, add_terraform_settings_unrenamed],
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
        # A list written out where the file can read the real one (or GitHub's Environments).
        (
            [matrix_in_ci],
            [".github/workflows/ci.yml: job terraform lists environments in a matrix"],
        ),
        (
            [add_qa, choice_in_deploy_yml],
            [
                ".github/workflows/deploy.yml: workflow_dispatch's environment is of type 'choice'",
                hard_coded(".github/workflows/deploy.yml", "dev, staging, prod"),
            ],
        ),
        (
            [add_qa, environment_check_in_makefile],
            [hard_coded("Makefile", "dev|staging|prod")],
        ),
        ([add_qa, loop_in_ci_run], [hard_coded(".ci/run", "dev staging prod")]),
        # A name Terraform's var.environment refuses.
        (
            [values_file_named_against_terraforms_rule],
            [
                "deploy/helm/crypto-rates/values-qa_1.yaml: names are [a-z][a-z0-9]{1,9}",
                "deploy/terraform/environments/qa_1/ is missing",
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
        "terraform-settings-only",
        "settings-not-renamed",
        "jenkins-deploys-what-release-does-not",
        "jenkins-deploys-unknown",
        "matrix-in-ci",
        "choice-in-deploy-yml",
        "environment-check-in-makefile",
        "loop-in-ci-run",
        "name-terraform-refuses",
        "code-in-environment-dir",
    ],
)
def test_an_incomplete_environment_fails_naming_the_file_to_fix(
    tmp_path: Path, steps: list[Callable[[Path], object]], expected: list[str | re.Pattern[str]]
) -> None:
    root = copy_tree(tmp_path)
    for step in steps:
        step(root)
    found = problems(root)
    assert len(found) == len(expected), found
    for problem, start in zip(found, expected, strict=True):
        if isinstance(start, re.Pattern):
            assert start.match(problem), found
        else:
            assert problem.startswith(start), found
