"""The Jenkinsfile: compiled by Groovy itself (Debian's groovy, from `make deps`) and run against a
recorder of the declarative DSL (jenkinsfile_outline.groovy), then checked: every `sh` step is a
make target the Makefile has, every stage has a GitHub job (docs/CI-CD.md maps them), each deploy
stage deploys its own environment through the one helper (deployTo, defined after pipeline { }; the
outline runs it where a stage calls it, so its steps sit inside that stage), staging and prod wait
for a named approver group, and no credential is written into the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.environments import automatic_deploys, environments, jenkins_deploys

REPO = Path(__file__).resolve().parents[2]
JENKINSFILE = REPO / "Jenkinsfile"
OUTLINE = Path(__file__).with_name("jenkinsfile_outline.groovy")
WORKFLOWS = REPO / ".github" / "workflows"
CI_CD = REPO / "docs" / "CI-CD.md"
CHART = REPO / "deploy" / "helm" / "crypto-rates"

Node = dict[str, Any]


def groovy_env() -> dict[str, str]:
    """Debian's groovy script expects JAVA_HOME=/usr/lib/jvm/default-java unless told otherwise."""
    env = dict(os.environ)
    java = shutil.which("java")
    if "JAVA_HOME" not in env and java and not Path("/usr/lib/jvm/default-java").exists():
        env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    return env


def run_outline(path: Path) -> subprocess.CompletedProcess[str]:
    groovy = shutil.which("groovy")
    if groovy is None:
        pytest.fail("groovy is not on PATH: make test-workflows installs it (scripts/deps.sh)")
    return subprocess.run(
        [groovy, str(OUTLINE), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=groovy_env(),
    )


@cache
def outline() -> tuple[Node, ...]:
    result = run_outline(JENKINSFILE)
    assert result.returncode == 0, f"the Jenkinsfile does not compile:\n{result.stderr[-3000:]}"
    return tuple(json.loads(result.stdout))


def walk(nodes: Any) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from walk(node["body"])


def calls(name: str, nodes: Any = None) -> list[Node]:
    return [n for n in walk(outline() if nodes is None else nodes) if n["call"] == name]


def stages() -> dict[str, Node]:
    """The stages that run steps (a stage grouping others, for their shared agent, is left out)."""
    return {node["args"][0]: node for node in calls("stage") if child(node, "stages") is None}


def groups() -> dict[str, Node]:
    return {node["args"][0]: node for node in calls("stage") if child(node, "stages") is not None}


def child(node: Node, name: str) -> Node | None:
    return next((n for n in node["body"] if n["call"] == name), None)


@cache
def make_targets() -> frozenset[str]:
    """Every explicit target in make's own database of the Makefile."""
    database = subprocess.run(
        ["make", "-pRrq", "-C", str(REPO), ":"], capture_output=True, text=True, timeout=60
    ).stdout
    return frozenset(m.group(1) for m in re.finditer(r"(?m)^([a-zA-Z0-9][\w.-]*):(?!=)", database))


def test_the_jenkinsfile_is_one_declarative_pipeline() -> None:
    [pipeline] = outline()
    assert pipeline["call"] == "pipeline"
    assert {"agent", "options", "stages"} <= {n["call"] for n in pipeline["body"]}


def test_a_missing_brace_fails_the_groovy_compile(tmp_path: Path) -> None:
    text = JENKINSFILE.read_text()
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(text[: text.rindex("}")])
    result = run_outline(broken)
    assert result.returncode != 0
    assert "Unexpected input" in result.stderr or "expecting" in result.stderr, result.stderr


SH_STEP = re.compile(r"make(?: [A-Z_]+=[\w.-]+)* ([a-z][\w-]*)(?: [A-Z_]+=[\w.-]+)*")


def sh_problems(nodes: Any) -> list[str]:
    problems = []
    for step in calls("sh", nodes):
        [command] = step["args"]
        match = SH_STEP.fullmatch(command)
        if not match:
            problems.append(f"sh {command!r} is not one make target (plus VAR=value)")
        elif match.group(1) not in make_targets():
            problems.append(f"sh {command!r}: the Makefile has no target {match.group(1)}")
    return problems


def test_every_sh_step_calls_one_existing_make_target() -> None:
    assert calls("sh"), "no sh steps"
    assert sh_problems(outline()) == []


def test_an_unknown_make_target_is_named() -> None:
    step = {"call": "sh", "args": ["make no-such-target"], "body": []}
    logic = {"call": "sh", "args": ["docker build . && make test"], "body": []}
    assert sh_problems([step, logic]) == [
        "sh 'make no-such-target': the Makefile has no target no-such-target",
        "sh 'docker build . && make test' is not one make target (plus VAR=value)",
    ]


def test_a_step_in_the_helper_is_checked_in_every_stage_that_calls_it(tmp_path: Path) -> None:
    text = JENKINSFILE.read_text()
    assert text.count('sh "make deploy ENV=') == 1, "make deploy has one home: deployTo"
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(text.replace('sh "make deploy ENV=', 'sh "make deploy-nowhere ENV='))
    result = run_outline(broken)
    assert result.returncode == 0, result.stderr
    assert sh_problems(json.loads(result.stdout)) == [
        f"sh 'make deploy-nowhere ENV={environment}': the Makefile has no target deploy-nowhere"
        for environment in jenkins_deploys()
    ]


def documented_mapping() -> dict[str, list[tuple[str, str]]]:
    """docs/CI-CD.md's table: Jenkins stage -> [(workflow file, job id)]."""
    mapping: dict[str, list[tuple[str, str]]] = {}
    for line in CI_CD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and (m := re.fullmatch(r"Jenkins stage `(.+)`", cells[0])):
            jobs = re.findall(r"`([\w-]+\.yml)` `([\w-]+)`", cells[1])
            mapping[m.group(1)] = jobs
    return mapping


def test_every_stage_has_a_github_job_counterpart() -> None:
    mapping = documented_mapping()
    jobs = {
        (path.name, job)
        for path in WORKFLOWS.glob("*.yml")
        for job in yaml.safe_load(path.read_text())["jobs"]
    }
    unmapped = [name for name in stages() if not mapping.get(name)]
    assert unmapped == [], f"stages without a GitHub job in docs/CI-CD.md: {unmapped}"
    unknown = [
        f"{stage}: {file} {job}"
        for stage, pairs in mapping.items()
        for file, job in pairs
        if (file, job) not in jobs
    ]
    assert unknown == [], f"docs/CI-CD.md maps stages to jobs that do not exist: {unknown}"
    assert set(mapping) <= set(stages()), "docs/CI-CD.md maps stages the Jenkinsfile lacks"


def deploy_environment(stage: Node) -> str | None:
    for step in calls("sh", stage["body"]):
        if m := re.search(r"\bmake deploy\b.*\bENV=(\w+)", step["args"][0]):
            return m.group(1)
    return None


def test_each_deploy_stage_deploys_its_environment_through_the_helper() -> None:
    deploys = {
        m.group(1): stage
        for name, stage in stages().items()
        if (m := re.fullmatch(r"Deploy to (\w+)", name))
    }
    # The automatic deploys: a stage for each deploy job of release.yml.
    assert sorted(deploys) == sorted(automatic_deploys()), set(deploys)
    for environment, stage in deploys.items():
        helpers = calls("deployTo", stage["body"])
        assert [h["args"] for h in helpers] == [[environment]], f"{environment}: {helpers}"
        bindings = calls("withCredentials", helpers[0]["body"])
        assert len(bindings) == 1, f"{environment}: deployTo binds no credentials"
        [binding] = bindings
        bound = {b["args"][0]["credentialsId"]: b["args"][0] for b in binding["args"][0]}
        assert bound == {
            "crypto-rates-registry-pull": {
                "credentialsId": "crypto-rates-registry-pull",
                "usernameVariable": "REGISTRY_PULL_USER",
                "passwordVariable": "REGISTRY_PULL_PASSWORD",
            },
            f"crypto-rates-kubeconfig-{environment}": {
                "credentialsId": f"crypto-rates-kubeconfig-{environment}",
                "variable": "KUBECONFIG",
            },
        }, f"{environment}: {bound}"
        commands = [step["args"][0] for step in calls("sh", binding["body"])]
        assert commands == [f"make deploy ENV={environment}"], f"{environment}: {commands}"
        assert (CHART / f"values-{environment}.yaml").is_file(), f"no values-{environment}.yaml"


def test_staging_and_prod_wait_for_a_named_approver_group_and_dev_does_not() -> None:
    deploys = {deploy_environment(s): s for s in stages().values() if deploy_environment(s)}
    assert sorted(deploys) == sorted(automatic_deploys()), set(deploys)
    for environment in ("staging", "prod"):
        approval = child(deploys[environment], "input")
        assert approval, f"deploying to {environment} does not wait for an approval"
        submitter = child(approval, "submitter")
        assert submitter and submitter["args"][0].strip(), f"{environment}: no submitter group"
    assert child(deploys["dev"], "input") is None, "dev deploys main automatically"
    assert calls("branch", [child(deploys["dev"], "when")]) == [
        {"call": "branch", "args": ["main"], "body": []}
    ]


# --- who may use which credentials where ---------------------------------------------------

BUILD_LABEL, DEPLOY_LABEL = "crypto-rates-build", "crypto-rates-deploy"


def agent_label(stage: Node) -> str | None:
    agent = child(stage, "agent")
    labels = calls("label", [agent]) if agent else []
    return labels[0]["args"][0] if labels else None


def credential_ids(nodes: Any) -> set[str]:
    return {
        binding["args"][0]["credentialsId"]
        for bind in calls("withCredentials", nodes)
        for binding in bind["args"][0]
    }


def guard(stage: Node) -> tuple[set[str], set[str], bool]:
    """(branches, tag patterns, beforeAgent) of a stage's `when`."""
    when = child(stage, "when") or {"call": "when", "args": [], "body": []}
    branches = {b["args"][0] for b in calls("branch", [when])}
    tags = {t["args"][0]["pattern"] for t in calls("tag", [when])}
    for t in calls("tag", [when]):
        assert t["args"][0]["comparator"] == "REGEXP", t
    before_agent = any(b["args"] == [True] for b in calls("beforeAgent", [when]))
    return branches, tags, before_agent


def test_builds_and_deploys_run_on_separate_agent_labels() -> None:
    [build] = groups().values()
    assert agent_label(build) == BUILD_LABEL
    deploys = {name: stage for name, stage in stages().items() if calls("deployTo", stage["body"])}
    assert len(deploys) == 3
    for name, stage in stages().items():
        if name in deploys:
            assert agent_label(stage) == DEPLOY_LABEL, f"{name} runs on {agent_label(stage)}"
        else:
            assert agent_label(stage) is None and stage in calls("stage", [build]), (
                f"{name} must run in the Build group, on {BUILD_LABEL}"
            )


def test_credentials_are_bound_only_for_main_or_release_tags_and_never_shared() -> None:
    deploy_ids: set[str] = set()
    for name, stage in stages().items():
        ids = credential_ids(stage["body"])
        if not ids:
            continue
        branches, tags, before_agent = guard(stage)
        assert branches <= {"main"} and (branches or tags), f"{name}: credentials on any ref"
        for pattern in tags:
            # The tags release.yml releases (v[0-9]+.[0-9]+.[0-9]+), nothing else.
            for tag in ("v1.2.3", "v10.0.12"):
                assert re.fullmatch(pattern, tag), f"{name}: {pattern} refuses {tag}"
            for tag in ("v1.2.3-rc1", "v1.2", "test", "feature/v1.2.3"):
                assert not re.fullmatch(pattern, tag), f"{name}: {pattern} admits {tag}"
        if agent_label(stage) == DEPLOY_LABEL:
            assert before_agent, f"{name}: no deploy agent for other refs (beforeAgent true)"
            deploy_ids |= ids
    build_ids = credential_ids([groups()["Build"]])
    assert build_ids == {"crypto-rates-registry-push"}
    assert deploy_ids == {
        "crypto-rates-registry-pull",
        *(f"crypto-rates-kubeconfig-{e}" for e in automatic_deploys()),
    }
    assert build_ids & deploy_ids == set(), "build agents never hold deploy credentials"


def documented_credentials() -> dict[str, str]:
    """docs/CI-CD.md's Jenkins credentials table: id -> the folder it is scoped to."""
    found = {}
    for line in CI_CD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (m := re.fullmatch(r"`(crypto-rates-[\w<>-]+)`", cells[0])):
            for environment in environments():
                found[m.group(1).replace("<env>", environment)] = cells[2]
    return found


def test_every_credential_is_documented_scoped_to_the_release_folder() -> None:
    documented = documented_credentials()
    used = credential_ids(outline())
    assert used - set(documented) == set(), "credentials docs/CI-CD.md does not list"
    for credential in used:
        # Folder-scoped to the project that builds main and release tags only: a branch or pull
        # request build (the other project) cannot bind it whatever its Jenkinsfile says.
        assert documented[credential] == "folder `crypto-rates-release`", (
            f"{credential}: {documented[credential]}"
        )


CREDENTIAL_LITERAL = re.compile(
    r"""(?x)
    (?i:password|passwd|secret|token|api_?key)\w*\s*[:=]\s*               # key: 'value', where the
    ['"](?![A-Z][A-Z0-9_]*['"])[^'"$]+['"]                               # value is no VARIABLE_NAME
    | AKIA[0-9A-Z]{16}                                                     # AWS access key id
    | -----BEGIN[ A-Z]*PRIVATE\ KEY-----
    | \w+://[^/\s:@'"]+:[^/\s@'"]+@                                       # user:password@host
    """
)


@pytest.mark.parametrize(
    "sample",
    [
        "password: 'hunter2'",
        'REGISTRY_TOKEN = "abc123"',
        "AKIAABCDEFGHIJKLMNOP",
        "https://ci:s3cret@registry.example",
        "passwordVariable: 'hunter2'",
    ],
)
def test_the_credential_check_flags_literals(sample: str) -> None:
    assert CREDENTIAL_LITERAL.search(sample)


def test_no_credential_literal_and_secrets_come_from_jenkins_credentials() -> None:
    assert CREDENTIAL_LITERAL.search(JENKINSFILE.read_text()) is None
    bindings = [b for w in calls("withCredentials") for b in w["args"][0]]
    assert bindings, "no withCredentials"
    for binding in bindings:
        [arguments] = binding["args"]
        assert re.fullmatch(r"crypto-rates-[\w-]+", arguments["credentialsId"]), arguments
    push = stages()["Push images"]
    assert calls("withCredentials", push["body"]), "make push must get the registry credentials"


def test_options_agent_reports_and_cleanup() -> None:
    [pipeline] = outline()
    options = {n["call"] for n in child(pipeline, "options")["body"]}
    assert {"timeout", "disableConcurrentBuilds", "buildDiscarder", "timestamps"} <= options
    assert child(pipeline, "agent")["args"] == ["${none}"], "each stage chooses its agents"
    build = groups()["Build"]
    assert calls("label", [child(build, "agent")]), "the agent is chosen by a documented label"
    post = child(build, "post")
    [junit] = calls("junit", [child(post, "always")])
    [environment] = calls("=", [child(pipeline, "environment")])
    assert environment["args"][0] == "JUNIT_DIR"
    assert junit["args"][0]["testResults"] == f"{environment['args'][1]}/*.xml"
    assert child(post, "cleanup"), "post { cleanup } removes the workspace"


def test_make_writes_junit_xml_where_jenkins_reads_it(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-C", str(REPO), "test-scripts", f"JUNIT_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<testsuite" in (tmp_path / "test-scripts.xml").read_text()
    dry = subprocess.run(
        ["make", "-n", "-C", str(REPO), "test-frontend", f"JUNIT_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert f"--outputFile.junit={tmp_path}/test-frontend.xml" in dry, dry
