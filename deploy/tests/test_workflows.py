"""Static checks of the GitHub Actions workflows and Dependabot config (they cannot run here).

Three layers: the GitHub workflow JSON schema (check-jsonschema), the linters (actionlint with
shellcheck on every `run:` script, zizmor offline), and this project's own hygiene rules, each
written as a checker that returns problems so it can also be shown failing on a bad workflow.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.environments import load_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
BIN = Path(sys.executable).parent
EXPECTED_WORKFLOWS = {"ci.yml", "release.yml", "deploy.yml"}

SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
MAKE_CALL = re.compile(r"(?:^|[;&|(]\s*|\s)make\s+([^;&|)\n]*)", re.MULTILINE)

# Job-level permissions that may be granted, and only these (everything else stays read-only).
ALLOWED_WRITE_SCOPES = {
    "id-token": "OIDC to AWS and keyless cosign signing",
    "packages": "pushing images and the chart to GHCR",
}


# --- loading ---------------------------------------------------------------------------------


def workflow_paths() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.y*ml"))


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load_workflow(path) for path in workflow_paths()}


def steps_of(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            yield job_id, step


def run_scripts(workflow: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for job_id, step in steps_of(workflow):
        if "run" in step:
            yield job_id, step["run"]


def action_name(uses: str) -> str:
    return uses.split("@", 1)[0]


# --- checkers: each returns a list of problems (empty = clean) -------------------------------


def pin_problems(text: str) -> list[str]:
    """Every remote action pinned to a full commit SHA, with a `# vX.Y.Z` comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref, rest = match.group(1), match.group(2)
        if ref.startswith("./"):
            continue  # a reusable workflow of this repository
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"line {number}: {ref} is not pinned by image digest")
            continue
        if not SHA_PIN.match(ref):
            problems.append(f"line {number}: {ref} is not pinned to a full 40-hex commit SHA")
        elif not VERSION_COMMENT.search(rest):
            problems.append(f"line {number}: {ref} lacks a '# vX.Y.Z' comment naming the release")
    return problems


def permission_problems(workflow: dict[str, Any]) -> list[str]:
    """Read-only by default; jobs add only the allowed write scopes, and only when they use them."""
    problems = []
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append(
            f"top-level permissions are {workflow.get('permissions')!r}, want contents: read"
        )
    for job_id, job in workflow.get("jobs", {}).items():
        permissions = job.get("permissions", {})
        if not isinstance(permissions, dict):
            problems.append(f"{job_id}: permissions {permissions!r} must be a per-scope mapping")
            continue
        for scope, level in permissions.items():
            if level == "write" and scope not in ALLOWED_WRITE_SCOPES:
                problems.append(f"{job_id}: {scope}: write is not needed by any job here")
        text = yaml.safe_dump(job)
        if permissions.get("id-token") == "write" and not any(
            needle in text for needle in ("configure-aws-credentials", "cosign", "deploy.yml")
        ):
            problems.append(f"{job_id}: id-token: write without OIDC use (AWS or cosign)")
        if permissions.get("packages") == "write" and "ghcr.io" not in text:
            problems.append(f"{job_id}: packages: write without pushing to GHCR")
    return problems


def job_problems(workflow: dict[str, Any]) -> list[str]:
    """A timeout on every job that runs steps; no checkout that keeps the token on disk."""
    problems = []
    for job_id, job in workflow.get("jobs", {}).items():
        if "uses" in job:
            continue  # a reusable-workflow call: the called jobs carry their own timeouts
        timeout = job.get("timeout-minutes")
        if not isinstance(timeout, int) or not 0 < timeout <= 60:
            problems.append(f"{job_id}: timeout-minutes is {timeout!r}, want 1..60")
    for job_id, step in steps_of(workflow):
        checkout = action_name(step.get("uses", "")) == "actions/checkout"
        if checkout and step.get("with", {}).get("persist-credentials") is not False:
            problems.append(f"{job_id}: actions/checkout without persist-credentials: false")
    return problems


def cache_problems(workflow: dict[str, Any]) -> list[str]:
    problems = []
    wanted = {"actions/setup-python": "pip", "actions/setup-node": "npm"}
    for job_id, step in steps_of(workflow):
        action = action_name(step.get("uses", ""))
        if action not in wanted:
            continue
        options = step.get("with", {})
        if options.get("cache") != wanted[action]:
            problems.append(f"{job_id}: {action} without cache: {wanted[action]}")
        lock = options.get("cache-dependency-path")
        if not lock or not (ROOT / lock).is_file():
            problems.append(f"{job_id}: {action} cache-dependency-path {lock!r} is not a file")
    return problems


def injection_problems(workflow: dict[str, Any]) -> list[str]:
    """`${{ }}` never pasted into a shell script: values reach scripts through env only."""
    return [
        f"{job_id}: run script interpolates an expression: {script.splitlines()[0]!r}"
        for job_id, script in run_scripts(workflow)
        if "${{" in script
    ]


def make_targets_called(workflow: dict[str, Any]) -> set[str]:
    targets = set()
    for _, script in run_scripts(workflow):
        for match in MAKE_CALL.finditer(script):
            for word in match.group(1).split():
                if not word.startswith("-") and "=" not in word:
                    targets.add(word)
    return targets


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return targets


def interface_make_targets() -> set[str]:
    text = (ROOT / "docs" / "INTERFACES.md").read_text(encoding="utf-8")
    section = text.split("## Make targets", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z][\w-]*)`", section))


# --- the real workflows ----------------------------------------------------------------------


def test_the_three_workflows_exist() -> None:
    assert {path.name for path in workflow_paths()} == EXPECTED_WORKFLOWS


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS))
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(name: str) -> None:
    assert pin_problems((WORKFLOWS / name).read_text(encoding="utf-8")) == []


def test_each_action_has_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in workflow_paths():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = USES_LINE.match(line)
            if match and not match.group(1).startswith("./"):
                ref = match.group(1)
                pins.setdefault(action_name(ref), set()).add(f"{ref} {match.group(2).strip()}")
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS))
def test_permissions_are_least_privilege(workflows: dict[str, Any], name: str) -> None:
    assert permission_problems(workflows[name]) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS))
def test_every_job_has_a_timeout_and_no_persisted_credentials(
    workflows: dict[str, Any], name: str
) -> None:
    assert job_problems(workflows[name]) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS))
def test_pip_and_npm_are_cached(workflows: dict[str, Any], name: str) -> None:
    assert cache_problems(workflows[name]) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS))
def test_no_expression_is_pasted_into_a_shell_script(workflows: dict[str, Any], name: str) -> None:
    assert injection_problems(workflows[name]) == []


def test_ci_cancels_superseded_runs(workflows: dict[str, Any]) -> None:
    concurrency = workflows["ci.yml"]["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    assert "github.ref" in concurrency["group"]


def test_release_cancels_superseded_builds_but_never_tags_or_deploys(
    workflows: dict[str, Any],
) -> None:
    release = workflows["release.yml"]
    # A workflow-level group would also cancel the deploy jobs it calls.
    assert "concurrency" not in release
    for job_id, job in release["jobs"].items():
        if "uses" in job:
            assert "concurrency" not in job, job_id
        else:
            assert job["concurrency"]["cancel-in-progress"] == "${{ github.ref_type == 'branch' }}"


def test_deploys_queue_per_environment_and_are_never_cancelled(workflows: dict[str, Any]) -> None:
    deploy = workflows["deploy.yml"]
    assert "concurrency" not in deploy
    for job in deploy["jobs"].values():
        assert job["concurrency"]["group"] == "deploy-${{ inputs.environment }}"
        assert job["concurrency"]["cancel-in-progress"] is False


def test_every_make_target_a_workflow_calls_exists_and_is_an_agreed_interface(
    workflows: dict[str, Any],
) -> None:
    called = set().union(*(make_targets_called(workflow) for workflow in workflows.values()))
    assert called, "the workflows call no make target at all"
    assert called - makefile_targets() == set(), "called but missing from the Makefile"
    assert called - interface_make_targets() == set(), "called but not in docs/INTERFACES.md"


def test_ci_runs_the_developer_targets(workflows: dict[str, Any]) -> None:
    called = make_targets_called(workflows["ci.yml"])
    wanted = {"lint-backend", "test-backend", "lint-frontend", "test-frontend", "frontend-build"}
    assert wanted | {"test-e2e", "test-deploy", "images"} <= called


def test_every_repository_path_a_workflow_names_exists() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in workflow_paths())
    paths = set(re.findall(r"\b((?:deploy|backend|frontend)/[\w./-]*[\w])", text))
    assert paths, "no repository path found in the workflows"
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_image_builds_point_at_existing_dockerfiles(workflows: dict[str, Any]) -> None:
    matrix = workflows["release.yml"]["jobs"]["images"]["strategy"]["matrix"]["include"]
    assert {entry["image"] for entry in matrix} == {"crypto-rates-backend", "crypto-rates-frontend"}
    for entry in matrix:
        assert (ROOT / entry["context"]).is_dir(), entry
        assert (ROOT / entry["file"]).is_file(), entry


def test_release_gates_on_trivy_then_pushes_attested_signed_images(
    workflows: dict[str, Any],
) -> None:
    steps = workflows["release.yml"]["jobs"]["images"]["steps"]
    names = [action_name(step.get("uses", "")) for step in steps]
    scan = names.index("aquasecurity/trivy-action")
    push = next(i for i, s in enumerate(steps) if s.get("with", {}).get("push") is True)
    sign = next(i for i, s in enumerate(steps) if "cosign sign" in s.get("run", ""))
    assert scan < push < sign
    assert steps[scan]["with"]["exit-code"] == "1"
    assert steps[scan]["with"]["ignore-unfixed"] is True
    pushed = steps[push]["with"]
    assert pushed["platforms"] == "linux/amd64,linux/arm64"
    assert pushed["sbom"] is True and pushed["provenance"] == "mode=max"


def test_deploy_uses_oidc_atomic_upgrade_smoke_test_and_rollback(workflows: dict[str, Any]) -> None:
    job = workflows["deploy.yml"]["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    aws = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    # The environment's deploy role (Terraform's github_deploy_role_arn), never the push role.
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    scripts = {step.get("name", ""): step.get("run", "") for step in job["steps"]}
    upgrade = scripts["helm upgrade"]
    assert upgrade.startswith("deploy/helm/release.sh upgrade "), upgrade
    assert all(flag in upgrade for flag in ("digest=", '-f "${VALUES}"'))
    assert "deploy/helm/release.sh test" in scripts["Smoke test (helm test and the public URL)"]
    rollback = next(s for s in job["steps"] if "helm rollback" in s.get("run", ""))
    assert rollback["if"].startswith("failure()")


def test_the_deploy_step_has_one_home(workflows: dict[str, Any]) -> None:
    """helm upgrade, helm test and the test pod's logs live in deploy/helm/release.sh: the
    workflows, make deploy (and through it the Jenkinsfile) call it instead of writing them out."""
    release = (ROOT / "deploy" / "helm" / "release.sh").read_text(encoding="utf-8")
    for part in ("upgrade --install", "--atomic --wait", 'test "$RELEASE"', "logs --namespace"):
        assert part in release, part
    for name, workflow in workflows.items():
        for job_name, job in workflow.get("jobs", {}).items():
            for step in job.get("steps", []):
                run = step.get("run", "")
                assert not re.search(r"\bhelm (upgrade|install|test)\b", run), (
                    f"{name} job {job_name} step {step.get('name')!r} runs helm upgrade or test "
                    "itself: call deploy/helm/release.sh"
                )
    assert "deploy/helm/release.sh" in (ROOT / "deploy" / "registry" / "deploy.sh").read_text()


def test_release_images_push_with_the_push_role_only(workflows: dict[str, Any]) -> None:
    # The image build runs third-party actions on main and tags: it gets the ECR-only push role.
    roles = {
        (workflow, job_name, step["with"]["role-to-assume"])
        for workflow, document in workflows.items()
        for job_name, job in document["jobs"].items()
        for step in job.get("steps", [])
        if "configure-aws-credentials" in step.get("uses", "")
    }
    assert roles == {
        ("release.yml", "images", "${{ vars.AWS_PUSH_ROLE_ARN }}"),
        ("deploy.yml", "deploy", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"),
    }


# --- signatures checked before a deploy ---------------------------------------------------

VERIFY = ROOT / "deploy" / "registry" / "verify-signatures.sh"
DIGEST = "sha256:" + "ab" * 32
FAKE_COSIGN = """#!/usr/bin/env python3
import json, os, sys
stdin = sys.stdin.read() if sys.argv[1] == "login" else ""
call = {"argv": sys.argv[1:], "stdin": stdin, "docker_config": os.environ.get("DOCKER_CONFIG", "")}
with open(os.environ["COSIGN_CALLS"], "a") as calls:
    calls.write(json.dumps(call) + "\\n")
if sys.argv[1] == "verify" and os.environ.get("COSIGN_VERIFY") != "ok":
    print("Error: no matching signatures: none of the expected identities matched", file=sys.stderr)
    sys.exit(1)
if sys.argv[1] == "public-key" and os.environ.get("COSIGN_PASSWORD") != "right":
    print("Error: reading key: decrypt: encrypted: decryption failed", file=sys.stderr)
    sys.exit(1)
"""


def run_verify(
    tmp_path: Path, *images: str, verdict: str = "ok", **env: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    result, calls = run_with_fake_cosign(
        tmp_path,
        [str(VERIFY), *images],
        {"COSIGN_VERIFY": verdict, "SIGNED_BY": "my-org/crypto.rates", **env},
    )
    return result, [json.loads(line) for line in calls.splitlines()]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_signature_check_pins_the_release_workflow_on_protected_refs(tmp_path: Path) -> None:
    image = f"registry.example:5000/crypto-rates-backend@{DIGEST}"
    result, calls = run_verify(tmp_path, image)
    assert result.returncode == 0, result.stderr
    [call] = calls
    argv = call["argv"]
    assert argv[0] == "verify" and argv[-1] == image
    assert (
        option(argv, "--certificate-oidc-issuer") == "https://token.actions.githubusercontent.com"
    )
    # cosign (Go's RE2) and Python agree on this subset: anchors, groups, classes, escapes.
    identity = re.compile(option(argv, "--certificate-identity-regexp"))
    workflow = "https://github.com/my-org/crypto.rates/.github/workflows/"
    for accepted in ("release.yml@refs/heads/main", "release.yml@refs/tags/v1.2.3"):
        assert identity.fullmatch(workflow + accepted), accepted
    for refused in (
        f"{workflow}release.yml@refs/heads/feature",  # a copy of release.yml on another branch
        f"{workflow}release.yml@refs/heads/main-copy",
        f"{workflow}release.yml@refs/tags/v1.2.3-rc",
        f"{workflow}release.yml@refs/tags/test",
        f"{workflow}release.yml@refs/pull/7/merge",
        f"{workflow}ci.yml@refs/heads/main",
        "https://github.com/my-org/crypto-rates/.github/workflows/release.yml@refs/heads/main",
        "https://github.com/my-org/cryptoXrates/.github/workflows/release.yml@refs/heads/main",
        "https://github.com/other/crypto.rates/.github/workflows/release.yml@refs/heads/main",
    ):
        assert not identity.search(refused), refused


def test_signature_check_refuses_an_unsigned_image_and_a_tag(tmp_path: Path) -> None:
    image = f"registry.example:5000/crypto-rates-backend@{DIGEST}"
    result, _ = run_verify(tmp_path, image, verdict="no signature")
    assert result.returncode == 2
    assert f"{image} has no valid signature by my-org/crypto.rates's release.yml" in result.stderr
    assert "no matching signatures" in result.stderr
    result, calls = run_verify(tmp_path, "registry.example:5000/crypto-rates-backend:1.2.3")
    assert result.returncode == 2 and "is not REGISTRY/NAME@sha256:" in result.stderr
    assert calls == [], "nothing is verified by tag"
    result, calls = run_verify(tmp_path, image, SIGNED_BY="my-org/*")
    assert result.returncode == 2 and "SIGNED_BY=my-org/* is not owner/name" in result.stderr


def test_signature_check_logs_in_with_the_registry_credentials_through_stdin(
    tmp_path: Path,
) -> None:
    image = f"123456789012.dkr.ecr.eu-central-1.amazonaws.com/crypto-rates-frontend@{DIGEST}"
    result, calls = run_verify(tmp_path, image, REGISTRY_USER="AWS", REGISTRY_PASSWORD="t0ken-x")
    assert result.returncode == 0, result.stderr
    login, verify = calls
    assert login["argv"] == [
        "login",
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
        "--username",
        "AWS",
        "--password-stdin",
    ]
    assert login["stdin"].strip() == "t0ken-x"
    assert "t0ken-x" not in result.stdout + result.stderr + " ".join(verify["argv"])
    assert login["docker_config"] and verify["docker_config"] == login["docker_config"]
    assert not Path(login["docker_config"]).exists(), "the login is removed afterwards"


def run_with_fake_cosign(
    tmp_path: Path, command: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], str]:
    """COMMAND with FAKE_COSIGN as $COSIGN, a bare PATH and ENV; its result and the calls the fake
    recorded (JSON lines)."""
    cosign = tmp_path / "cosign"
    cosign.write_text(FAKE_COSIGN)
    cosign.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("")
    base = {"PATH": "/usr/bin:/bin", "COSIGN": str(cosign), "COSIGN_CALLS": str(calls)}
    result = subprocess.run(
        command, env={**base, **env}, capture_output=True, text=True, check=False
    )
    return result, calls.read_text()


def run_deploy(
    tmp_path: Path, verdict: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """deploy/registry/deploy.sh of two pinned digests with the fake cosign saying VERDICT and no
    cluster (so a deploy that gets past the signatures stops at "no cluster"); the cosign calls."""
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(
        f"""global:
  imageRegistry: "127.0.0.1:5000"
backend:
  image:
    repository: crypto-rates-backend
    digest: "{DIGEST}"
frontend:
  image:
    repository: crypto-rates-frontend
    digest: "{DIGEST.replace("ab", "cd")}"
"""
    )
    return run_with_fake_cosign(
        tmp_path,
        [str(ROOT / "deploy" / "registry" / "deploy.sh")],
        {
            "ENV": "dev",
            "PINNED_VALUES": str(pinned),
            "REGISTRY_PULL_USER": "puller",
            "REGISTRY_PULL_PASSWORD": "pull-pass",
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
            "COSIGN_VERIFY": verdict,
            **env,
        },
    )


def test_make_deploy_with_signed_by_refuses_unsigned_images_before_the_cluster(
    tmp_path: Path,
) -> None:
    refused, called = run_deploy(tmp_path, "no signature", SIGNED_BY="my-org/crypto-rates")
    assert refused.returncode == 2
    assert f"127.0.0.1:5000/crypto-rates-backend@{DIGEST} has no valid signature" in refused.stderr
    assert "no cluster" not in refused.stderr, "verification comes before the cluster"
    verified, called = run_deploy(tmp_path, "ok", SIGNED_BY="my-org/crypto-rates")
    assert verified.stdout.count("signature verified") == 2, verified.stdout
    assert "no cluster" in verified.stderr
    unverified, called = run_deploy(tmp_path, "no signature")
    assert called == "" and "no cluster" in unverified.stderr, "neither anchor set: no check"


def test_make_deploy_with_a_public_key_refuses_unsigned_images_before_the_cluster(
    tmp_path: Path,
) -> None:
    public_key = tmp_path / "cosign.pub"
    public_key.write_text("-----BEGIN PUBLIC KEY-----\n")
    refused, _ = run_deploy(tmp_path, "no signature", COSIGN_PUBLIC_KEY=str(public_key))
    assert refused.returncode == 2
    assert (
        f"127.0.0.1:5000/crypto-rates-backend@{DIGEST} has no valid signature by the key "
        f"{public_key}: Error: no matching signatures" in refused.stderr
    )
    assert "no cluster" not in refused.stderr, "verification comes before the cluster"
    verified, _ = run_deploy(tmp_path, "ok", COSIGN_PUBLIC_KEY=str(public_key))
    assert verified.stdout.count(f"(the key {public_key})") == 2, verified.stdout
    assert "no cluster" in verified.stderr


def test_signature_check_with_a_public_key_needs_no_transparency_log(tmp_path: Path) -> None:
    public_key = tmp_path / "cosign.pub"
    public_key.write_text("-----BEGIN PUBLIC KEY-----\n")
    image = f"127.0.0.1:5000/crypto-rates-backend@{DIGEST}"
    result, calls = run_verify(tmp_path, image, SIGNED_BY="", COSIGN_PUBLIC_KEY=str(public_key))
    assert result.returncode == 0, result.stderr
    [call] = calls
    # the key is the anchor: make push signs with --tlog-upload=false, so there is no log entry
    key_check = ["--key", str(public_key), "--insecure-ignore-tlog=true"]
    assert call["argv"] == ["verify", *key_check, image]
    assert result.stdout == f"signature verified: {image} (the key {public_key})\n"


def test_signature_check_takes_one_trust_anchor_and_an_existing_key(tmp_path: Path) -> None:
    image = f"127.0.0.1:5000/crypto-rates-backend@{DIGEST}"
    missing = tmp_path / "nowhere.pub"
    result, calls = run_verify(tmp_path, image, SIGNED_BY="", COSIGN_PUBLIC_KEY=str(missing))
    assert result.returncode == 2 and f"COSIGN_PUBLIC_KEY={missing} does not exist" in result.stderr
    missing.write_text("-----BEGIN PUBLIC KEY-----\n")
    result, calls = run_verify(tmp_path, image, COSIGN_PUBLIC_KEY=str(missing))
    assert result.returncode == 2
    assert "SIGNED_BY and COSIGN_PUBLIC_KEY are both set" in result.stderr
    assert calls == []


def run_push(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """deploy/registry/push.sh with the fake cosign and no Docker: only its first checks pass."""
    return run_with_fake_cosign(
        tmp_path,
        [str(ROOT / "deploy" / "registry" / "push.sh")],
        {
            "REGISTRY": "127.0.0.1:5000",
            "REGISTRY_USER": "pusher",
            "REGISTRY_PASSWORD": "push-pass",
            "REGISTRY_DIR": str(tmp_path / "no-registry"),
            "DOCKER": str(tmp_path / "no-docker"),
            **env,
        },
    )


def test_make_push_checks_the_signing_key_before_anything_is_pushed(tmp_path: Path) -> None:
    key = tmp_path / "cosign.key"
    result, _ = run_push(tmp_path, COSIGN_KEY=str(key), COSIGN_PASSWORD="right")
    assert result.returncode == 2 and f"COSIGN_KEY={key} does not exist" in result.stderr
    key.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    result, _ = run_push(tmp_path, COSIGN_KEY=str(key))
    assert result.returncode == 2 and "COSIGN_PASSWORD is not set" in result.stderr
    result, calls = run_push(tmp_path, COSIGN_KEY=str(key), COSIGN_PASSWORD="wrong-Pa55")
    assert result.returncode == 2
    assert f"COSIGN_KEY={key} cannot be read with COSIGN_PASSWORD: Error: reading key" in (
        result.stderr
    )
    assert "wrong-Pa55" not in result.stdout + result.stderr + calls
    assert json.loads(calls)["argv"] == ["public-key", "--key", str(key)]
    # the right password gets past the key, to the next check: the images (no Docker here)
    result, _ = run_push(tmp_path, COSIGN_KEY=str(key), COSIGN_PASSWORD="right")
    assert result.returncode == 2 and "no local image crypto-rates-backend:local" in result.stderr


def test_deploy_verifies_both_signatures_before_it_touches_the_cluster(
    workflows: dict[str, Any],
) -> None:
    steps = workflows["deploy.yml"]["jobs"]["deploy"]["steps"]
    names = [step.get("name", step.get("uses", "")) for step in steps]
    verify = names.index("Verify the release signatures")
    assert (
        names.index("Resolve image digests in ECR") < verify < names.index("Connect to the cluster")
    )
    step = steps[verify]
    assert step["env"]["SIGNED_BY"] == "${{ github.repository }}"
    assert "deploy/registry/verify-signatures.sh" in step["run"]
    for part in ("backend", "frontend"):
        assert f"crypto-rates-{part}@${{{part.upper()}_DIGEST}}" in step["run"]
    assert "sigstore/cosign-installer" in names[verify - 1]


def release_cache_problems(workflow: dict[str, Any]) -> list[str]:
    """Ways a release job could restore something an untrusted job wrote to the Actions cache."""
    problems = []
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            uses, given = step.get("uses", ""), step.get("with", {})
            where = f"{job_name}: {step.get('name', uses)}"
            if action_name(uses) in {"actions/cache", "actions/cache/restore"}:
                problems.append(f"{where} restores an Actions cache")
            if given.get("cache") not in (None, "", False):
                problems.append(f"{where} turns on the {given['cache']} cache")
            if "gha" in str(given.get("cache-from", "")) + str(given.get("cache-to", "")):
                problems.append(f"{where} uses the BuildKit gha cache")
            if (
                action_name(uses) == "docker/build-push-action"
                and given.get("no-cache") is not True
            ):
                problems.append(f"{where} may reuse cached layers (no-cache: true)")
    return problems


def test_release_builds_share_no_cache_with_other_jobs(workflows: dict[str, Any]) -> None:
    assert release_cache_problems(workflows["release.yml"]) == []


def test_a_cached_release_build_is_named() -> None:
    build = {
        "uses": "docker/build-push-action@" + "0" * 40,
        "name": "Build",
        "with": {"cache-from": "type=gha,scope=x"},
    }
    python = {
        "uses": "actions/setup-python@" + "0" * 40,
        "name": "Python",
        "with": {"cache": "pip"},
    }
    assert release_cache_problems({"jobs": {"images": {"steps": [build, python]}}}) == [
        "images: Build uses the BuildKit gha cache",
        "images: Build may reuse cached layers (no-cache: true)",
        "images: Python turns on the pip cache",
    ]


def test_no_long_lived_cloud_keys_anywhere() -> None:
    for path in workflow_paths():
        text = path.read_text(encoding="utf-8")
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name


def test_dependabot_covers_pip_npm_docker_and_actions() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text(encoding="utf-8"))
    covered = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert covered == {
        ("pip", "/"),
        ("npm", "/frontend"),
        ("docker", "/backend"),
        ("docker", "/frontend"),
        ("github-actions", "/"),
    }
    for _, directory in covered:
        assert (ROOT / directory.lstrip("/")).is_dir(), directory


# --- the checkers catch what they claim to catch ---------------------------------------------

BAD_WORKFLOW = """\
name: bad
on: push
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: write
      id-token: write
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@a309ff8b426b58ec0e2a45f0f869d46889d02405
      - uses: actions/setup-node@6044e13b5dc448c55e2357c09f80417699197238 # v6.2.0
        with:
          cache: npm
          cache-dependency-path: no/such/package-lock.json
      - run: echo "${{ github.event.head_commit.message }}"
      - run: make lint && make no-such-target
"""


@pytest.fixture
def bad() -> dict[str, Any]:
    return yaml.safe_load(BAD_WORKFLOW) | {"on": "push"}


def test_pin_checker_catches_tags_and_missing_version_comments() -> None:
    problems = pin_problems(BAD_WORKFLOW)
    assert any("actions/checkout@v4 is not pinned" in p for p in problems)
    assert any("setup-python" in p and "lacks a '# vX.Y.Z'" in p for p in problems)
    assert not any("setup-node" in p for p in problems)


def test_permission_checker_catches_broad_grants(bad: dict[str, Any]) -> None:
    problems = permission_problems(bad)
    assert any("top-level permissions are 'write-all'" in p for p in problems)
    assert any("contents: write is not needed" in p for p in problems)
    assert any("id-token: write without OIDC use" in p for p in problems)


def test_job_checker_catches_missing_timeout_and_persisted_token(bad: dict[str, Any]) -> None:
    problems = job_problems(bad)
    assert any("timeout-minutes is None" in p for p in problems)
    assert any("persist-credentials" in p for p in problems)


def test_cache_and_injection_checkers(bad: dict[str, Any]) -> None:
    caches = cache_problems(bad)
    assert any("setup-python without cache: pip" in p for p in caches)
    assert any("no/such/package-lock.json" in p for p in caches)
    assert injection_problems(bad) != []


def test_make_target_parsing(bad: dict[str, Any]) -> None:
    assert make_targets_called(bad) == {"lint", "no-such-target"}
    assert "no-such-target" not in makefile_targets()
    assert {"test", "lint", "test-workflows", "images"} <= makefile_targets()


# --- external validators ---------------------------------------------------------------------


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}: run `make venv` (it is in the deploy extra)")
    return str(path)


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_workflows_match_the_github_workflow_schema() -> None:
    result = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflow_paths()
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_matches_its_schema() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", DEPENDABOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_schema_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: 3\n    timeout-minutes: soon\n")
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", broken)
    assert result.returncode != 0


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("actionlint"), "-shellcheck", tool("shellcheck"), *paths)


def test_actionlint_and_shellcheck_are_clean() -> None:
    result = actionlint(*workflow_paths())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_runs_shellcheck_on_run_scripts(tmp_path: Path) -> None:
    sloppy = tmp_path / "sloppy.yml"
    sloppy.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: for f in $(ls); do rm $f; done\n"
    )
    result = actionlint(sloppy)
    assert result.returncode != 0 and "shellcheck" in result.stdout, result.stdout


def test_zizmor_finds_nothing_offline() -> None:
    result = run(tool("zizmor"), "--offline", "--no-progress", ".github")
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_flags_an_unpinned_injectable_workflow(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(BAD_WORKFLOW)
    result = run(tool("zizmor"), "--offline", "--no-progress", tmp_path / ".github" / "workflows")
    assert result.returncode != 0
    assert "template-injection" in result.stdout and "artipacked" in result.stdout
