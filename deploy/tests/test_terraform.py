"""Static checks of deploy/terraform (init/validate need provider downloads: CI runs those).

The HCL is read with python-hcl2; the checks stand in for `terraform validate` where they can
(declared variables, module inputs and outputs) and guard the security properties the issue asks
for (pinned versions, OIDC trust limited to one repository, no secret literals, checkov clean).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest
import yaml
from testkit.environments import ENVIRONMENT_NAME, bootstrap_environments, environments

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "deploy" / "terraform"
MODULES = TERRAFORM / "modules"
# The root module every environment runs, and each environment's settings (tfvars, backend).
ROOT_MODULE = TERRAFORM / "environment"
ENVIRONMENTS = tuple(environments())
ENV_DIRS = {env: TERRAFORM / "environments" / env for env in ENVIRONMENTS}
CHART = REPO / "deploy" / "helm" / "crypto-rates"
META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


# --- reading HCL ---------------------------------------------------------------------------


@cache
def load(path: Path) -> dict[str, Any]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with path.open() as f:
        return hcl2.load(f, serialization_options=options)


def tf_files(directory: Path = TERRAFORM) -> list[Path]:
    return sorted(p for p in directory.rglob("*.tf") if ".terraform" not in p.parts)


def configurations() -> list[Path]:
    """Every directory holding .tf files: the bootstrap, the environment roots, the modules."""
    return sorted({p.parent for p in tf_files()})


def named(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Blocks with one label (variable, output, module) of one file, by name."""
    return {name: body for block in load(path).get(kind, []) for name, body in block.items()}


def typed(path: Path, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Blocks with two labels (resource, data) of one file, by (type, name)."""
    return {
        (rtype, name): body
        for block in load(path).get(kind, [])
        for rtype, items in block.items()
        for name, body in items.items()
    }


def in_dir(directory: Path, kind: str, labels: int = 1) -> dict[Any, dict[str, Any]]:
    """Blocks of one configuration (all .tf files of one directory)."""
    merged: dict[Any, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        merged |= named(path, kind) if labels == 1 else typed(path, kind)
    return merged


def locals_of(directory: Path) -> dict[str, Any]:
    return {
        k: v
        for path in directory.glob("*.tf")
        for block in load(path).get("locals", [])
        for k, v in block.items()
        if k != "__comments__"
    }


def example(path: Path) -> dict[str, Any]:
    """The assignments of a .tfvars or .hcl file."""
    return {k: v for k, v in load(path).items() if k != "__comments__"}


def settings(env: str) -> dict[str, Any]:
    return example(ENV_DIRS[env] / "environment.tfvars")


def module_dir(caller: Path, source: str) -> Path:
    return (caller / source).resolve()


def is_local(source: str) -> bool:
    return source.startswith(("./", "../"))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- formatting and versions ---------------------------------------------------------------


def test_terraform_fmt_check_passes() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (install Terraform >= 1.10 to run fmt -check)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


# The configurations Terraform runs in. The local modules are called by the environment root only
# (test below), so its constraints are theirs: versions have one home per root.
ROOTS = (ROOT_MODULE, TERRAFORM / "bootstrap")


def terraform_settings(directory: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The terraform {} blocks of one configuration and its required_providers by name."""
    blocks = [b for p in directory.glob("*.tf") for b in load(p).get("terraform", [])]
    providers = {
        k: v for b in blocks for p in b.get("required_providers", []) for k, v in p.items()
    }
    return blocks, providers


@pytest.mark.parametrize("directory", configurations(), ids=rel)
def test_roots_pin_terraform_and_providers_with_pessimistic_constraints_for_their_modules(
    directory: Path,
) -> None:
    blocks, providers = terraform_settings(directory)
    assert blocks, f"{rel(directory)} has no terraform {{}} block"
    assert providers, f"{rel(directory)} declares no required_providers"
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}", f"{name}: unexpected source {spec['source']}"
    if directory in ROOTS:
        assert all(
            re.fullmatch(r">= 1\.\d+, < 2\.0", b.get("required_version", "")) for b in blocks
        )
        for name, spec in providers.items():
            assert re.fullmatch(r"~> \d+\.\d+", spec.get("version", "")), f"{name}: pin with ~> X.Y"
    else:
        assert not any("required_version" in b for b in blocks), "the root's constraint applies"
        assert [n for n, spec in providers.items() if "version" in spec] == [], "pin in the root"
        _, pinned = terraform_settings(ROOT_MODULE)
        assert set(providers) - set(pinned) == set(), (
            "the root must pin every provider of its modules"
        )


def test_local_modules_are_called_by_the_environment_root_only() -> None:
    callers: dict[Path, set[Path]] = {}
    for path in tf_files():
        for call in named(path, "module").values():
            if is_local(call["source"]):
                callers.setdefault(module_dir(path.parent, call["source"]), set()).add(path.parent)
    assert callers == {directory: {ROOT_MODULE} for directory in MODULES.iterdir()}


def test_each_provider_has_one_version_constraint_everywhere() -> None:
    seen: dict[str, set[str]] = {}
    for path in tf_files():
        for block in load(path).get("terraform", []):
            for providers in block.get("required_providers", []):
                for name, spec in providers.items():
                    if "version" in spec:
                        seen.setdefault(name, set()).add(spec["version"])
    assert seen
    assert {n: v for n, v in seen.items() if len(v) > 1} == {}


def test_community_modules_are_used_and_pinned_to_one_major_version() -> None:
    sources = set()
    for path in tf_files():
        for name, call in named(path, "module").items():
            source = call["source"]
            if is_local(source):
                assert "version" not in call, f"{rel(path)}: local module {name} takes no version"
                assert module_dir(path.parent, source).is_dir(), f"{rel(path)}: {source} missing"
                continue
            sources.add(source)
            assert re.fullmatch(r"terraform-aws-modules/[a-z-]+/aws", source), source
            # "~> 20.37" allows 20.x only; an exact version would also do.
            version = call.get("version", "")
            assert re.fullmatch(r"~> \d+\.\d+|\d+\.\d+\.\d+", version), f"{name}: {version!r}"
    assert {"terraform-aws-modules/vpc/aws", "terraform-aws-modules/eks/aws"} <= sources


# --- variables, outputs and the wiring validate would check --------------------------------


def test_every_variable_has_a_type_and_a_description() -> None:
    offenders = [
        f"{rel(path)}: {name}"
        for path in tf_files()
        for name, body in named(path, "variable").items()
        if "type" not in body or not str(body.get("description", "")).strip()
    ]
    assert offenders == []


def test_every_output_has_a_description() -> None:
    offenders = [
        f"{rel(path)}: {name}"
        for path in tf_files()
        for name, body in named(path, "output").items()
        if not str(body.get("description", "")).strip()
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "name",
    [
        "environment",
        "vpc_cidr",
        "kubernetes_version",
        "node_instance_types",
        "node_capacity_type",
        "node_min_size",
        "node_max_size",
        "node_desired_size",
        "node_disk_size_gib",
        "log_retention_days",
        "aws_region",
        "cluster_endpoint_public_access_cidrs",
        "backend_image_tag",
        "frontend_image_tag",
        "db_engine_version",
        "db_instance_class",
        "db_allocated_storage_gib",
        "db_max_allocated_storage_gib",
        "db_backup_retention_days",
        "db_password_rotation_days",
    ],
)
def test_environment_inputs_for_names_cidrs_and_sizes_are_validated(name: str) -> None:
    variable = in_dir(ROOT_MODULE, "variable")[name]
    assert variable.get("validation"), f"variable {name} needs a validation block"
    for rule in variable["validation"]:
        assert len(rule["error_message"]) > 20, f"{name}: say what is wrong and what is valid"


@pytest.mark.parametrize("directory", configurations(), ids=rel)
def test_references_to_variables_locals_and_module_outputs_are_declared(directory: Path) -> None:
    text = "\n".join(p.read_text() for p in directory.glob("*.tf"))
    code = re.sub(r"(?m)^\s*#.*$", "", text)
    variables = set(in_dir(directory, "variable"))
    assert set(re.findall(r"\bvar\.(\w+)", code)) - variables == set()
    assert set(re.findall(r"\blocal\.(\w+)", code)) - set(locals_of(directory)) == set()
    calls = in_dir(directory, "module")
    for module, output in set(re.findall(r"\bmodule\.(\w+)\.(\w+)", code)):
        assert module in calls, f"{rel(directory)}: module.{module} is not declared"
        if is_local(calls[module]["source"]):
            outputs = in_dir(module_dir(directory, calls[module]["source"]), "output")
            assert output in outputs, f"{rel(directory)}: module.{module} has no output {output}"


@pytest.mark.parametrize("directory", configurations(), ids=rel)
def test_local_module_calls_pass_exactly_the_inputs_the_module_declares(directory: Path) -> None:
    for name, call in in_dir(directory, "module").items():
        if not is_local(call["source"]):
            continue
        declared = in_dir(module_dir(directory, call["source"]), "variable")
        required = {v for v, body in declared.items() if "default" not in body}
        passed = set(call) - META_ARGUMENTS - {"__comments__"}
        assert passed - set(declared) == set(), f"module.{name}: unknown inputs"
        assert required - passed == set(), f"module.{name}: missing required inputs"


def test_every_module_call_passes_tags_and_every_aws_provider_sets_default_tags() -> None:
    for path in tf_files():
        for name, call in named(path, "module").items():
            assert "tags" in call, f"{rel(path)}: module.{name} does not pass tags"
        for block in load(path).get("provider", []):
            if "aws" in block:
                assert block["aws"].get("default_tags"), f"{rel(path)}: aws provider without tags"


# --- the environments -----------------------------------------------------------------------


def test_the_three_environments_exist() -> None:
    assert {"dev", "staging", "prod"} <= set(ENVIRONMENTS)


def test_the_bootstrap_writes_a_backend_config_for_each_environment() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (Terraform >= 1.10 evaluates the bootstrap)")
    assert bootstrap_environments(terraform=terraform) == list(ENVIRONMENTS)
    backend_config = named(TERRAFORM / "bootstrap" / "outputs.tf", "output")["backend_config"]
    assert "for env in local.environments" in str(backend_config["value"])


def wrapper(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """terraform.sh with a stand-in terraform that prints its working directory and arguments."""
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho "$TF_DATA_DIR $*"\n')
    fake.chmod(0o755)
    return subprocess.run(
        [str(TERRAFORM / "terraform.sh"), *args],
        env={"PATH": "/usr/bin:/bin", "TERRAFORM": str(fake)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_terraform_sh_runs_the_shared_root_with_one_environments_settings_and_state(
    tmp_path: Path,
) -> None:
    prod = ENV_DIRS["prod"]
    chdir = f"-chdir={ROOT_MODULE}"
    plan = wrapper(tmp_path, "prod", "plan", "-out=prod.tfplan")
    assert plan.stdout.split() == [
        f"{prod}/.terraform",
        chdir,
        "plan",
        f"-var-file={prod}/environment.tfvars",
        "-out=prod.tfplan",
    ], plan.stderr
    # A saved plan carries its variables (terraform refuses -var-file with one).
    saved = wrapper(tmp_path, "prod", "apply", "prod.tfplan")
    assert saved.stdout.split() == [f"{prod}/.terraform", chdir, "apply", "prod.tfplan"]
    output = wrapper(tmp_path, "prod", "output", "-raw", "cluster_name")
    assert output.stdout.split() == [f"{prod}/.terraform", chdir, "output", "-raw", "cluster_name"]


def test_terraform_sh_refuses_an_unknown_environment_and_a_missing_backend_config(
    tmp_path: Path,
) -> None:
    unknown = wrapper(tmp_path, "nowhere", "plan")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "unknown environment 'nowhere'" in unknown.stderr
    assert f"environments: {' '.join(ENVIRONMENTS)}" in unknown.stderr
    if not (ENV_DIRS["dev"] / "backend.hcl").exists():  # a developer's own, not committed
        init = wrapper(tmp_path, "dev", "init")
        assert init.returncode == 2 and "write " in init.stderr and "backend.hcl" in init.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_settings_name_their_environment_and_set_declared_variables(env: str) -> None:
    declared = in_dir(ROOT_MODULE, "variable")
    values = settings(env)
    assert values["environment"] == env
    assert set(values) - set(declared) == set()
    operator = example(ENV_DIRS[env] / "terraform.tfvars.example")
    assert set(operator) - set(declared) == set()
    assert set(operator) & set(values) == set(), "a variable is set in two places"
    required = {name for name, body in declared.items() if "default" not in body}
    assert required - set(values) - set(operator) == set(), "the example leaves inputs unset"
    assert values["node_min_size"] <= values["node_desired_size"] <= values["node_max_size"]


def test_environment_vpcs_are_distinct_ranges_of_allowed_size() -> None:
    networks = {env: ipaddress.ip_network(settings(env)["vpc_cidr"]) for env in ENVIRONMENTS}
    for env, network in networks.items():
        assert 16 <= network.prefixlen <= 18, f"{env}: {network}"
    # Distinct ranges keep the environments peerable (VPN, VPC peering, Transit Gateway).
    for a, b in itertools.combinations(ENVIRONMENTS, 2):
        assert not networks[a].overlaps(networks[b]), f"{a} and {b} VPCs overlap"


def test_nat_gateways_single_in_dev_one_per_az_in_prod() -> None:
    assert settings("dev")["single_nat_gateway"] is True
    assert settings("prod")["single_nat_gateway"] is False
    vpc = named(MODULES / "network" / "main.tf", "module")["vpc"]
    assert vpc["single_nat_gateway"] == "${var.single_nat_gateway}"
    assert vpc["one_nat_gateway_per_az"] == "${!var.single_nat_gateway}"
    assert vpc["public_subnet_tags"]["kubernetes.io/role/elb"] == "1"
    assert vpc["private_subnet_tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert settings("prod")["node_min_size"] >= 3, "prod needs a node in each of the three AZs"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_example_keeps_each_environment_in_its_own_locked_encrypted_state(env: str) -> None:
    backend = example(ENV_DIRS[env] / "backend.hcl.example")
    assert backend["key"] == f"crypto-rates/{env}/terraform.tfstate"
    assert backend["use_lockfile"] is True
    assert backend["encrypt"] is True
    blocks = load(ROOT_MODULE / "versions.tf")["terraform"]
    assert any("s3" in b for block in blocks for b in block.get("backend", [])), "no s3 backend"


# --- the application release --------------------------------------------------------------


def resolve(expression: str, env: str) -> str:
    """Expand path.module, local.* and var.environment the way Terraform would for one root."""
    env_locals = locals_of(ROOT_MODULE)
    for _ in range(5):
        expression = expression.replace("${path.module}", str(ROOT_MODULE))
        expression = expression.replace("${var.environment}", settings(env)["environment"])
        expression = re.sub(
            r"\$\{local\.(\w+)\}", lambda m: str(env_locals[m.group(1)]), expression
        )
    assert "${" not in expression, f"cannot resolve {expression}"
    return expression


def app_release() -> dict[str, Any]:
    return in_dir(ROOT_MODULE, "resource", labels=2)[("helm_release", "crypto_rates")]


def app_release_sets() -> dict[str, Any]:
    """The release's --set values: one dynamic "set" block over a map of name => value."""
    release = app_release()
    assert "set" not in release, "set the chart values in the one dynamic block"
    [dynamic] = [d["set"] for d in release.get("dynamic", []) if "set" in d]
    assert dynamic["content"] == [{"name": "${set.key}", "value": "${set.value}"}]
    return {name.strip('"'): value for name, value in dynamic["for_each"].items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_app_release_uses_the_repository_chart_and_the_environment_values_file(env: str) -> None:
    release = app_release()
    chart = Path(resolve(release["chart"], env)).resolve()
    assert chart == CHART.resolve(), f"release chart {chart} is not {CHART}"
    assert (chart / "Chart.yaml").is_file(), f"{rel(CHART)}/Chart.yaml does not exist"
    [values] = release["values"]
    match = re.fullmatch(r"\$\{file\((.+)\)\}", values)
    assert match, f"values should be file(<values file>), got {values}"
    values_file = Path(resolve("${" + match.group(1).strip('"') + "}", env)).resolve()
    assert values_file == (CHART / f"values-{env}.yaml").resolve()
    assert values_file.is_file(), f"{values_file} does not exist"


def chart_values() -> dict[str, Any]:
    merged = yaml.safe_load((CHART / "values.yaml").read_text())
    for sub in ("backend", "frontend"):
        merged[sub] = {
            **yaml.safe_load((CHART / "charts" / sub / "values.yaml").read_text()),
            **merged[sub],
        }
    return merged


def test_app_release_is_installed_once_then_left_to_the_deploy_workflow() -> None:
    release = app_release()
    # The Deploy workflow upgrades by digest; a later apply must not roll that back.
    assert release["lifecycle"] == [{"ignore_changes": "all"}]
    assert release["atomic"] is True
    assert release["namespace"] == "${kubernetes_namespace_v1.app.metadata[0].name}"


def test_app_release_sets_image_keys_that_the_chart_declares() -> None:
    sets = app_release_sets()
    assert {
        "global.imageRegistry",
        "backend.image.repository",
        "backend.image.tag",
        "frontend.image.repository",
        "frontend.image.tag",
    } <= set(sets)
    values = chart_values()
    for key in sets:
        node: Any = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"chart values have no {key}"
            node = node[part]
    assert sets["backend.image.tag"] == "${var.backend_image_tag}"
    assert sets["frontend.image.tag"] == "${var.frontend_image_tag}"
    assert sets["global.imageRegistry"] == "${module.registry.registry_url}"
    env_locals = locals_of(ROOT_MODULE)
    repositories = {env_locals["backend_repository"], env_locals["frontend_repository"]}
    assert repositories == {"crypto-rates-backend", "crypto-rates-frontend"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_values_file_uses_the_ingress_class_issuers_and_monitoring_terraform_installs(
    env: str,
) -> None:
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text()) or {}
    addons = locals_of(MODULES / "addons")
    ingress = values.get("ingress", {})
    if ingress.get("enabled"):
        assert ingress.get("className") == addons["ingress_class_name"]
        annotations = ingress.get("annotations", {})
        # Without them the controller makes an internal ALB with instance targets.
        assert annotations.get("alb.ingress.kubernetes.io/scheme") == "internet-facing"
        assert annotations.get("alb.ingress.kubernetes.io/target-type") == "ip"
        if ingress.get("tls"):
            ports = json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"])
            assert {"HTTPS": 443} in ports and annotations["alb.ingress.kubernetes.io/ssl-redirect"]
    issuer = ingress.get("clusterIssuer")
    if issuer:
        assert issuer in addons["cluster_issuers"], f"no ClusterIssuer {issuer} is installed"
    wants_operator = any(part.get("enabled") for part in values.get("monitoring", {}).values())
    if wants_operator:
        assert settings(env)["enable_kube_prometheus_stack"], "monitoring needs the Operator CRDs"


def test_the_load_balancer_controller_serves_the_ingress_class_and_ingress_nginx_is_gone() -> None:
    # ingress-nginx was retired by Kubernetes SIG Network; the AWS Load Balancer Controller
    # (installed anyway, for load balancers) creates the IngressClass the values files name and
    # serves it.
    addons = locals_of(MODULES / "addons")
    releases = in_dir(MODULES / "addons", "resource", labels=2)
    charts = {body["chart"] for (rtype, _), body in releases.items() if rtype == "helm_release"}
    assert "ingress-nginx" not in charts and "ingress_nginx" not in addons["charts"]
    controller = releases[("helm_release", "aws_load_balancer_controller")]
    [values] = controller["values"]
    assert "ingressClass = local.ingress_class_name" in values
    assert "createIngressClassResource = true" in values
    assert addons["ingress_class_name"] == "alb"


# --- CI access -------------------------------------------------------------------------------

OIDC = MODULES / "github-oidc"


# The trust policies are computed per environment from the HCL (the module's locals and policy
# documents, the root's module call, the environment's settings and the operator example), then
# evaluated against the claims of the jobs that exist, the way STS evaluates them.


def top_level_split(text: str) -> list[str]:
    """Split at commas outside brackets, braces, parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


def whole_expression(text: str) -> str | None:
    """The inside of "${...}" when the whole string is one expression, else None (a template)."""
    if not (text.startswith("${") and text.endswith("}")):
        return None
    depth = 0
    for index, char in enumerate(text[1:], start=1):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return text[2:-1] if index == len(text) - 1 else None
    return None


class Scope:
    """var.*, local.* and loop variables of one configuration, each evaluated when first used.

    A module's variables are its caller's expressions, evaluated in the caller's scope."""

    def __init__(
        self,
        variables: dict[str, Any],
        local_exprs: dict[str, Any],
        caller: Scope | None = None,
    ) -> None:
        self.variables, self.local_exprs, self.caller = variables, local_exprs, caller
        self.loop: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        if name in self.loop:
            return self.loop[name]
        kind, _, key = name.partition(".")
        if kind == "var":
            assert key in self.variables, f"var.{key} has no value"
            value = self.variables[key]
            return evaluate(value, self.caller) if self.caller else value
        assert kind == "local" and key in self.local_exprs, f"cannot evaluate {name}"
        return evaluate(self.local_exprs[key], self)


def evaluate(expression: Any, scope: Scope) -> Any:
    """The HCL subset the CI-access module uses: templates, references, for, concat, length."""
    if isinstance(expression, list):
        return [evaluate(item, scope) for item in expression]
    if isinstance(expression, dict):
        return {k: evaluate(v, scope) for k, v in expression.items() if k != "__comments__"}
    if not isinstance(expression, str):
        return expression
    inner = whole_expression(expression)
    if inner is None:  # a template: substitute each ${reference}
        return re.sub(r"\$\{([\w.]+)\}", lambda m: str(scope.lookup(m.group(1))), expression)
    return evaluate_term(inner.strip(), scope)


def evaluate_term(term: str, scope: Scope) -> Any:
    if re.fullmatch(r"(var|local)\.\w+|\w+", term):
        return scope.lookup(term)
    if match := re.fullmatch(r"concat\((.*)\)", term, re.S):
        return [
            item for part in top_level_split(match.group(1)) for item in evaluate_term(part, scope)
        ]
    if match := re.fullmatch(r"length\((.+)\) > 0 \? \[1\] : \[\]", term):
        return [1] if evaluate_term(match.group(1), scope) else []
    if match := re.fullmatch(r'\[for (\w+) in ([\w.]+) : "(.*)"\]', term, re.S):
        name, source, template = match.groups()
        items = []
        for item in evaluate_term(source, scope):
            scope.loop[name] = item
            items.append(evaluate(template, scope))
        scope.loop.pop(name, None)
        return items
    if match := re.fullmatch(r"\[(.*)\]", term, re.S):
        return [evaluate_term(part, scope) for part in top_level_split(match.group(1))]
    if match := re.fullmatch(r'"([^"]*)"', term):
        return evaluate(match.group(1), scope)
    raise AssertionError(f"the test cannot evaluate `{term}`: extend evaluate_term")


def root_inputs(env: str) -> dict[str, Any]:
    """One environment's root variables: defaults, its settings, the operator example."""
    declared = in_dir(ROOT_MODULE, "variable")
    values = {name: body["default"] for name, body in declared.items() if "default" in body}
    return values | example(ENV_DIRS[env] / "terraform.tfvars.example") | settings(env)


def module_scope(env: str, module: str) -> Scope:
    """The scope of one local module as one environment's root calls it."""
    root = Scope(root_inputs(env), locals_of(ROOT_MODULE))
    call = in_dir(ROOT_MODULE, "module")[module]
    directory = module_dir(ROOT_MODULE, call["source"])
    declared = in_dir(directory, "variable")
    defaults = {name: body["default"] for name, body in declared.items() if "default" in body}
    passed = {name: value for name, value in call.items() if name in declared}
    return Scope(defaults | passed, locals_of(directory), caller=root)


def oidc_scope(env: str) -> Scope:
    assert in_dir(ROOT_MODULE, "module")["github_oidc"]["source"] == "../modules/github-oidc"
    return module_scope(env, "github_oidc")


# The module renders both roles' trust policies from one template, the dynamic statement of
# data.aws_iam_policy_document.trust, over local.trust_statements (role => sid => claim => test
# and values). The template is compared as written; the statements are rendered from it here.
TRUST_STATEMENT_FILTER = (
    "${{for sid, claims in each.value : sid => claims if alltrue([for claim in values(claims) : "
    "length(claim.values) > 0])}}"
)
TRUST_CLAIM_CONDITION = {
    "test": "${condition.value.test}",
    "variable": "${local.issuer}:${condition.key}",
    "values": "${condition.value.values}",
}


def trust_policy(env: str, role: str) -> list[dict[str, Any]]:
    """The statements of one role's trust policy (push or deploy), computed for one environment."""
    scope = oidc_scope(env)
    document = typed(OIDC / "main.tf", "data")[("aws_iam_policy_document", "trust")]
    assert document["for_each"] == "${local.trust_statements}"
    assert "statement" not in document, "every trust statement comes from the one template"
    [block] = [d["statement"] for d in document["dynamic"]]
    assert block["for_each"] == TRUST_STATEMENT_FILTER, "update trust_policy() for the new filter"
    [content] = block["content"]
    [claim_block] = [d["condition"] for d in content["dynamic"]]
    assert claim_block["for_each"] == "${statement.value}"
    assert claim_block["content"] == [TRUST_CLAIM_CONDITION]
    assert content["sid"] == "${statement.key}"
    fixed = [
        {k: evaluate(v, scope) for k, v in c.items() if k != "__comments__"}
        for c in content.get("condition", [])
    ]
    issuer = evaluate("${local.issuer}", scope)
    statements = []
    for sid, claims in evaluate("${local.trust_statements}", scope)[role].items():
        if not all(claim["values"] for claim in claims.values()):
            continue  # the filter: a claim that admits no value leaves the statement out
        conditions = [
            {"test": c["test"], "variable": f"{issuer}:{name}", "values": c["values"]}
            for name, c in claims.items()
        ]
        statements.append(
            {
                "sid": sid,
                "effect": content["effect"],
                "actions": content["actions"],
                "principals": content["principals"],
                "condition": fixed + conditions,
            }
        )
    return statements


def string_like(pattern: str) -> re.Pattern[str]:
    """IAM's StringLike: '*' any run of characters, '?' one character, nothing else special."""
    return re.compile(".*".join(".".join(map(re.escape, p.split("?"))) for p in pattern.split("*")))


def assumes(statements: list[dict[str, Any]], claims: dict[str, str]) -> bool:
    """Whether a token with these claims may assume a role with this trust policy."""
    issuer = "token.actions.githubusercontent.com"

    def holds(condition: dict[str, Any]) -> bool:
        claim = claims.get(condition["variable"].removeprefix(f"{issuer}:"))
        if claim is None:
            return False
        if condition["test"] == "StringEquals":
            return claim in condition["values"]
        assert condition["test"] == "StringLike", condition["test"]
        return any(string_like(v).fullmatch(claim) for v in condition["values"])

    return any(
        s["effect"] == "Allow"
        and s["actions"] == ["sts:AssumeRoleWithWebIdentity"]
        and all(holds(c) for c in s["condition"])
        for s in statements
    )


def job_claims(repository: str, subject: str, workflow: str, ref: str) -> dict[str, str]:
    return {
        "aud": "sts.amazonaws.com",
        "sub": f"repo:{repository}:{subject}",
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_trust_policy_checks_the_audience_and_names_this_repository(env: str) -> None:
    repository = root_inputs(env)["github_repository"]
    for name in ("push", "deploy"):
        statements = trust_policy(env, name)
        assert statements, f"{env}: {name} has no statement"
        for statement in statements:
            conditions = {c["variable"]: c for c in statement["condition"]}
            aud = conditions["token.actions.githubusercontent.com:aud"]
            assert (aud["test"], aud["values"]) == ("StringEquals", ["sts.amazonaws.com"])
            sub = conditions["token.actions.githubusercontent.com:sub"]
            assert sub["values"], f"{env}: {name} trusts no subject"
            for subject in sub["values"]:
                assert subject.startswith(f"repo:{repository}:"), subject
                if sub["test"] == "StringLike":  # wildcards only ever in release tag patterns
                    assert subject.startswith(f"repo:{repository}:ref:refs/tags/v"), subject


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_trusts_only_its_environment_running_the_deploy_workflow(env: str) -> None:
    repository = root_inputs(env)["github_repository"]
    [statement] = trust_policy(env, "deploy")
    conditions = {c["variable"].rpartition(":")[2]: c for c in statement["condition"]}
    assert conditions["sub"] == {
        "test": "StringEquals",
        "variable": "token.actions.githubusercontent.com:sub",
        "values": [f"repo:{repository}:environment:{env}"],
    }
    workflow_refs = conditions["job_workflow_ref"]["values"]
    assert workflow_refs == [
        f"{repository}/.github/workflows/deploy.yml@refs/heads/main",
        f"{repository}/.github/workflows/deploy.yml@refs/tags/v*.*.*",
    ]
    deploy = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    assert deploy["jobs"]["deploy"]["environment"]["name"] == "${{ inputs.environment }}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_push_role_trusts_protected_refs_only_and_never_an_environment(env: str) -> None:
    repository = root_inputs(env)["github_repository"]
    subjects = [
        value
        for statement in trust_policy(env, "push")
        for c in statement["condition"]
        if c["variable"].endswith(":sub")
        for value in c["values"]
    ]
    assert subjects == [
        f"repo:{repository}:ref:refs/heads/main",
        f"repo:{repository}:ref:refs/tags/v*.*.*",
    ]


# (job, claims without the repository) -> the roles it may assume; "deploy:<env>" is <env>'s.
JOBS = {
    "release images on main": ("ref:refs/heads/main", "release.yml", "refs/heads/main"),
    "release images on a tag": ("ref:refs/tags/v1.2.3", "release.yml", "refs/tags/v1.2.3"),
    "ci on a pull request": ("pull_request", "ci.yml", "refs/pull/7/merge"),
    "ci on a feature branch": ("ref:refs/heads/feature", "ci.yml", "refs/heads/feature"),
}


def deploy_job(env: str, ref: str, workflow: str = "deploy.yml") -> tuple[str, str, str]:
    return (f"environment:{env}", workflow, ref)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_deploy_workflow_in_the_environment_may_assume_its_deploy_role(env: str) -> None:
    repository = root_inputs(env)["github_repository"]
    push, deploy = trust_policy(env, "push"), trust_policy(env, "deploy")
    others = [e for e in ENVIRONMENTS if e != env]
    cases = {
        **{name: (job, set()) for name, job in JOBS.items()},
        "release images on main": (JOBS["release images on main"], {"push"}),
        "release images on a tag": (JOBS["release images on a tag"], {"push"}),
        "deploy from main": (deploy_job(env, "refs/heads/main"), {"deploy"}),
        "deploy from a release tag": (deploy_job(env, "refs/tags/v1.2.3"), {"deploy"}),
        "deploy from a feature branch": (deploy_job(env, "refs/heads/feature"), set()),
        "deploy from a non-release tag": (deploy_job(env, "refs/tags/test"), set()),
        "another workflow in the environment": (
            deploy_job(env, "refs/heads/main", "release.yml"),
            set(),
        ),
        **{f"deploy to {other}": (deploy_job(other, "refs/heads/main"), set()) for other in others},
    }
    for name, ((subject, workflow, ref), expected) in cases.items():
        claims = job_claims(repository, subject, workflow, ref)
        granted = {
            role for role, policy in (("push", push), ("deploy", deploy)) if assumes(policy, claims)
        }
        assert granted == expected, f"{env}: {name} may assume {granted or 'nothing'}"
        fork = job_claims("someone/crypto-rates", subject, workflow, ref)
        assert not assumes(push, fork) and not assumes(deploy, fork), f"{env}: a fork's {name}"


def terraform_regex_of(variable: dict[str, Any]) -> re.Pattern[str]:
    condition = variable["validation"][0]["condition"]
    pattern = re.search(r'regex\(\\?"(.+?)\\?", ', condition).group(1)
    return re.compile(pattern.replace("\\\\", "\\"))


@pytest.mark.parametrize(
    ("repository", "accepted"),
    [
        ("my-org/crypto-rates", True),
        ("My-Org/crypto.rates_2", True),
        ("my-org/*", False),
        ("*", False),
        ("my-org", False),
        ("my-org/crypto-rates/extra", False),
        ("my-org/crypto-rates:ref:refs/heads/main", False),
        ("", False),
    ],
)
def test_github_repository_must_name_exactly_one_repository(
    repository: str, accepted: bool
) -> None:
    variable = named(OIDC / "variables.tf", "variable")["github_repository"]
    assert bool(terraform_regex_of(variable).search(repository)) is accepted


def permission_policy(role: str) -> list[dict[str, Any]]:
    """The statements of one role's permission policy (push or deploy): the template's fixed ones
    and its dynamic statement over local.permission_statements (role => sid => actions, resources).
    Actions are computed; resources stay expressions ("*" only where written as a literal)."""
    scope = oidc_scope(ENVIRONMENTS[0])  # the actions do not depend on the environment
    document = typed(OIDC / "main.tf", "data")[("aws_iam_policy_document", "permissions")]
    assert document["for_each"] == "${local.permission_statements}"
    [block] = [d["statement"] for d in document["dynamic"]]
    assert block["for_each"] == "${each.value}"
    assert block["content"] == [
        {
            "sid": "${statement.key}",
            "effect": "Allow",
            "actions": "${statement.value.actions}",
            "resources": "${statement.value.resources}",
        }
    ]
    dynamic = [
        {
            "sid": sid,
            "effect": "Allow",
            "actions": evaluate(body["actions"], scope),
            "resources": body["resources"],
        }
        for sid, body in locals_of(OIDC)["permission_statements"][role].items()
    ]
    return list(document["statement"]) + dynamic


def test_push_role_has_no_cluster_access_and_the_deploy_role_one_namespace_and_no_push() -> None:
    resources = typed(OIDC / "main.tf", "resource")
    for role in ("push", "deploy"):
        body = resources[("aws_iam_role", role)]
        assert (
            body["assume_role_policy"] == f'${{data.aws_iam_policy_document.trust["{role}"].json}}'
        )
        policy = resources[("aws_iam_role_policy", role)]["policy"]
        assert policy == f'${{data.aws_iam_policy_document.permissions["{role}"].json}}'
    push = {a for s in permission_policy("push") for a in s["actions"]}
    deploy = {a for s in permission_policy("deploy") for a in s["actions"]}
    assert "ecr:PutImage" in push and not any(a.startswith("eks:") for a in push)
    assert "eks:DescribeCluster" in deploy
    assert deploy & {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:BatchDeleteImage"} == set()
    for name in ("push", "deploy"):
        for statement in permission_policy(name):
            if statement["resources"] == ["*"]:
                assert statement["actions"] == ["ecr:GetAuthorizationToken"]
            assert not any(a.endswith(":*") or a == "*" for a in statement["actions"])
    entries = {k: v for k, v in resources.items() if k[0].startswith("aws_eks_access")}
    assert (
        entries[("aws_eks_access_entry", "deploy")]["principal_arn"] == "${aws_iam_role.deploy.arn}"
    )
    assert len(entries) == 2, f"only the deploy role may enter the cluster: {sorted(entries)}"
    association = entries[("aws_eks_access_policy_association", "deploy")]
    assert association["access_scope"][0] == {
        "type": "namespace",
        "namespaces": ["${var.deploy_namespace}"],
    }
    assert not any(rtype == "aws_iam_access_key" for rtype, _ in resources)


# --- registry, cluster and state -----------------------------------------------------------


def test_ecr_repositories_are_immutable_scanned_and_encrypted() -> None:
    resources = typed(MODULES / "registry" / "main.tf", "resource")
    repository = resources[("aws_ecr_repository", "this")]
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"][0]["scan_on_push"] is True
    assert repository["encryption_configuration"][0]["encryption_type"] == "KMS"


def ecr_lifecycle_rules(env: str) -> list[dict[str, Any]]:
    policy = typed(MODULES / "registry" / "main.tf", "resource")[
        ("aws_ecr_lifecycle_policy", "this")
    ]
    assert policy["policy"] == "${jsonencode({rules = local.lifecycle_rules})}", policy["policy"]
    return evaluate("${local.lifecycle_rules}", module_scope(env, "registry"))


def ecr_expired(rules: list[dict[str, Any]], images: list[dict[str, Any]]) -> set[str]:
    """ECR's lifecycle evaluation: rules by priority; an image whose tags a rule selects cannot be
    expired by a lower-priority rule; sinceImagePushed expires by age, imageCountMoreThan keeps
    the newest countNumber of the images it selects. images: {"id", "tags", "age_days"}."""
    expired, claimed = set(), set()
    for rule in sorted(rules, key=lambda r: r["rulePriority"]):
        selection = rule["selection"]
        assert rule["action"] == {"type": "expire"}
        status, prefixes = selection["tagStatus"], selection.get("tagPrefixList", [])
        assert status != "tagged" or prefixes or selection.get("tagPatternList"), rule
        assert "tagPatternList" not in selection, "extend the simulation for tagPatternList"

        def selects(
            image: dict[str, Any], status: str = status, prefixes: list[str] = prefixes
        ) -> bool:
            if status == "untagged":
                return not image["tags"]
            if status == "tagged":
                return any(t.startswith(p) for t in image["tags"] for p in prefixes)
            return status == "any"

        chosen = [i for i in images if i["id"] not in claimed and selects(i)]
        claimed |= {i["id"] for i in chosen}
        if selection["countType"] == "sinceImagePushed":
            assert selection["countUnit"] == "days"
            expired |= {i["id"] for i in chosen if i["age_days"] > selection["countNumber"]}
        else:
            assert selection["countType"] == "imageCountMoreThan"
            newest_first = sorted(chosen, key=lambda i: i["age_days"])
            expired |= {i["id"] for i in newest_first[selection["countNumber"] :]}
    return expired


def signature_tag(digest: str) -> str:
    return f"sha256-{digest}.sig"  # where cosign stores the signature of image sha256:<digest>


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ecr_lifecycle_keeps_every_release_and_signature_and_expires_old_main_builds(
    env: str,
) -> None:
    rules = ecr_lifecycle_rules(env)
    keep = settings(env)["ecr_main_builds_to_keep"]
    images = []
    # Releases, the oldest first: prod may still run 1.0.0 (or roll back to it).
    for n in range(5):
        digest = f"{n:064x}"
        images.append({"id": f"release {n}", "tags": [f"1.{n}.0"], "age_days": 900 - n})
        images.append(
            {"id": f"release {n} sig", "tags": [signature_tag(digest)], "age_days": 900 - n}
        )
    builds = keep + 25
    for n in range(builds):  # main builds, newest first, each with its signature
        digest = f"{n + 100:064x}"
        images.append({"id": f"main {n}", "tags": [f"sha-{n:040x}"], "age_days": n})
        images.append({"id": f"main {n} sig", "tags": [signature_tag(digest)], "age_days": n})
    images.append({"id": "untagged new", "tags": [], "age_days": 1})
    images.append({"id": "untagged old", "tags": [], "age_days": 60})
    expired = ecr_expired(rules, images)
    assert not {i for i in expired if i.startswith("release")}, f"{env}: releases expire"
    assert not {i for i in expired if i.endswith("sig") and i.startswith("release")}
    assert {i for i in expired if i.startswith("main") and not i.endswith("sig")} == {
        f"main {n}" for n in range(keep, builds)
    }
    assert "untagged old" in expired and "untagged new" not in expired


def test_cluster_has_private_and_restricted_public_endpoint_logs_and_encrypted_secrets() -> None:
    eks = named(MODULES / "cluster" / "main.tf", "module")["eks"]
    assert eks["cluster_endpoint_private_access"] is True
    assert eks["cluster_endpoint_public_access_cidrs"] == "${var.endpoint_public_access_cidrs}"
    assert {"api", "audit", "authenticator"} <= set(eks["cluster_enabled_log_types"])
    assert eks["cluster_encryption_config"] == {"resources": ["secrets"]}
    assert eks["create_kms_key"] is True and eks["enable_kms_key_rotation"] is True
    assert eks["authentication_mode"] == "API"
    cidrs = in_dir(ROOT_MODULE, "variable")["cluster_endpoint_public_access_cidrs"]
    assert "0.0.0.0/" in cidrs["validation"][0]["condition"], "the whole internet must be refused"


# The keys this project sets, as the vpc-cni add-on's configuration schema declares them
# (`aws eks describe-addon-configuration --addon-name vpc-cni`): string flags "true"/"false".
VPC_CNI_CONFIGURATION_SCHEMA = {
    "type": "object",
    "properties": {"enableNetworkPolicy": {"type": "string", "enum": ["true", "false"]}},
}


def test_vpc_cni_add_on_enforces_network_policies() -> None:
    # Without enableNetworkPolicy the add-on's node agent is off and every NetworkPolicy is
    # accepted and ignored.
    eks = named(MODULES / "cluster" / "main.tf", "module")["eks"]
    addon = eks["cluster_addons"]["vpc-cni"]
    assert addon.get("configuration_values") == "${jsonencode(local.vpc_cni_configuration)}"
    configuration = locals_of(MODULES / "cluster")["vpc_cni_configuration"]
    assert set(configuration) <= set(VPC_CNI_CONFIGURATION_SCHEMA["properties"])
    jsonschema.validate(configuration, VPC_CNI_CONFIGURATION_SCHEMA)
    assert configuration["enableNetworkPolicy"] == "true"
    assert addon["before_compute"] is True, "nodes must start with the policy agent"


def test_state_bucket_is_versioned_kms_encrypted_private_and_tls_only() -> None:
    resources = in_dir(TERRAFORM / "bootstrap", "resource", labels=2)
    versioning = resources[("aws_s3_bucket_versioning", "state")]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    sse = resources[("aws_s3_bucket_server_side_encryption_configuration", "state")]
    default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    block = resources[("aws_s3_bucket_public_access_block", "state")]
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    policy = in_dir(TERRAFORM / "bootstrap", "data", labels=2)[
        ("aws_iam_policy_document", "state_bucket")
    ]
    [deny] = policy["statement"]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"


# --- the database ----------------------------------------------------------------------------

DATABASE = MODULES / "database"


def database_call() -> dict[str, Any]:
    return in_dir(ROOT_MODULE, "module")["database"]


def test_database_is_rds_postgres_private_encrypted_with_an_rds_managed_password() -> None:
    rds = in_dir(DATABASE, "module")["rds"]
    assert rds["source"] == "terraform-aws-modules/rds/aws" and rds["version"] == "~> 6.13"
    assert rds["engine"] == "postgres"
    assert rds["storage_encrypted"] is True
    assert rds["publicly_accessible"] is False
    # RDS generates the password into Secrets Manager: no password input, no generated secret.
    assert rds["manage_master_user_password"] is True
    assert "password" not in rds
    code = "\n".join(p.read_text() for p in DATABASE.glob("*.tf"))
    assert not re.search(r'resource\s+"(random_password|kubernetes_secret\w*)"', code)
    assert rds["subnet_ids"] == "${var.subnet_ids}"
    assert rds["vpc_security_group_ids"] == ["${aws_security_group.database.id}"]
    assert {"name": "rds.force_ssl", "value": "1"} in rds["parameters"]
    call = database_call()
    assert call["subnet_ids"] == "${module.network.private_subnet_ids}"
    assert call["allowed_security_group_id"] == "${module.cluster.node_security_group_id}"
    assert in_dir(MODULES / "cluster", "output")["node_security_group_id"]["value"] == (
        "${module.eks.node_security_group_id}"
    )


def test_database_admits_only_the_cluster_nodes_on_5432() -> None:
    resources = in_dir(DATABASE, "resource", labels=2)
    rules = {k: v for k, v in resources.items() if k[0].startswith("aws_vpc_security_group")}
    assert list(rules) == [("aws_vpc_security_group_ingress_rule", "from_nodes")]
    [rule] = rules.values()
    assert rule["security_group_id"] == "${aws_security_group.database.id}"
    assert rule["referenced_security_group_id"] == "${var.allowed_security_group_id}"
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == (
        "tcp",
        "${local.port}",
        "${local.port}",
    )
    assert locals_of(DATABASE)["port"] == 5432
    group = resources[("aws_security_group", "database")]
    assert "ingress" not in group and "egress" not in group, "rules only as separate resources"


@pytest.mark.parametrize(("env", "protected"), [("dev", False), ("staging", False), ("prod", True)])
def test_prod_database_is_protected_backed_up_and_multi_az(env: str, protected: bool) -> None:
    values = settings(env)
    assert values["db_deletion_protection"] is protected
    assert values["db_multi_az"] is protected
    assert values["db_backup_retention_days"] >= (14 if protected else 1)
    call = database_call()
    for name in ("deletion_protection", "multi_az"):
        assert call[name] == f"${{var.db_{name}}}"
    assert call["backup_retention_days"] == "${var.db_backup_retention_days}"
    rds = in_dir(DATABASE, "module")["rds"]
    assert rds["deletion_protection"] == "${var.deletion_protection}"
    assert rds["backup_retention_period"] == "${var.backup_retention_days}"
    # A protected database also leaves a final snapshot and its backups behind when deleted.
    assert rds["skip_final_snapshot"] == "${!var.deletion_protection}"
    assert rds["delete_automated_backups"] == "${!var.deletion_protection}"


def test_database_url_reaches_the_secret_the_chart_reads_without_terraform_seeing_it() -> None:
    secret = locals_of(ROOT_MODULE)["database_url_from"]
    assert database_call()["kubernetes_secret_name"] == "${local.database_url_from}"
    for env in ("staging", "prod"):
        external = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())["backend"]["database"]
        assert external["external"]["existingSecret"] == secret, env
    backend = yaml.safe_load((CHART / "charts" / "backend" / "values.yaml").read_text())
    key = backend["database"]["external"]["existingSecretKey"]
    assert locals_of(DATABASE)["secret_key"] == key
    # Terraform hands the chart of External Secrets only names, the host and the secret's ARN.
    release = in_dir(DATABASE, "resource", labels=2)[("helm_release", "database_url")]
    [values] = release["values"]
    assert "password" not in values.lower()
    assert "module.rds.db_instance_master_user_secret_arn" in values
    policy = in_dir(DATABASE, "module")["external_secrets_pod_identity"]
    assert policy["external_secrets_secrets_manager_arns"] == [
        "${module.rds.db_instance_master_user_secret_arn}"
    ]
    template = (
        DATABASE / "charts" / "database-url" / "templates" / "externalsecret.yaml"
    ).read_text()
    assert "{{ .Values.secretKey }}:" in template
    assert "{{ .password | urlquery }}" in template and "sslmode=require" in template
    # Every environment on AWS uses the RDS database, dev too.
    sets = app_release_sets()
    assert sets["backend.database.bundled.enabled"] == "false"
    assert sets["backend.database.external.existingSecret"] == (
        "${module.database.kubernetes_secret_name}"
    )
    assert "module.database" in str(app_release()["depends_on"])


# --- secrets and checkov ---------------------------------------------------------------------

SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "secret assigned a literal": re.compile(
        r"""(?ix)\b[\w.-]*(password|passwd|secret|token|api_?key|access_?key)["']?\s*[=:]\s*"""
        r"""["'](?!\$\{)[^"'\s]{6,}["']"""
    ),
    # 32+ base64 characters mixing upper case, lower case and digits (names and ARNs do not).
    "random-looking string": re.compile(
        r"(?<![\w+/=])(?=[\w+/=]*[A-Z])(?=[\w+/=]*[a-z])(?=[\w+/=]*\d)[A-Za-z0-9+/=]{32,}(?![\w+/=])"
    ),
}


def secret_findings(text: str) -> list[str]:
    return [label for label, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize(
    "sample",
    [
        'access_key = "AKIAABCDEFGHIJKLMNOP"',
        "-----BEGIN RSA PRIVATE KEY-----",
        'grafana_admin_password = "hunter2hunter2"',
        'token: "ghp_abcdefghijkl"',
        'value = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"',
    ],
)
def test_secret_scanner_flags_known_secret_shapes(sample: str) -> None:
    assert secret_findings(sample)


def test_no_secret_looking_literals_in_terraform_files() -> None:
    files = [p for p in TERRAFORM.rglob("*") if p.is_file() and ".terraform" not in p.parts]
    findings = {rel(p): secret_findings(p.read_text()) for p in files}
    assert {path: found for path, found in findings.items() if found} == {}


def test_every_checkov_skip_gives_a_reason() -> None:
    skips = [m for p in tf_files() for m in re.findall(r"#\s*checkov:skip=([^\n]*)", p.read_text())]
    assert skips, "expected the justified skips (registry module pins, state bucket extras)"
    for skip in skips:
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+:\s*\S.{20,}", skip), f"unjustified skip: {skip}"


def test_checkov_finds_no_failed_checks() -> None:
    checkov = CHECKOV if CHECKOV.exists() else shutil.which("checkov")
    if checkov is None:
        pytest.skip("checkov is not installed (make test-terraform creates .venv-checkov)")
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 0
    assert result.returncode == 0


# --- IAM names against AWS's limits ----------------------------------------------------------
# `terraform plan` is where a too-long name would fail, and it cannot run here, so the names are
# computed: from our HCL, and for the community modules from their naming rules (module defaults
# included) at the versions the constraints resolve to, read in their sources:
#   eks-pod-identity v1.12.1 (main.tf, aws_lb_controller.tf, external_secrets.tf), eks v20.37.2
#   (main.tf and modules/eks-managed-node-group/main.tf), vpc v5.21.0 (vpc-flow-logs.tf), rds
#   v6.13.1 (main.tf, modules/db_instance/main.tf).
# The AWS provider's name_prefix leaves room for its 26-character unique suffix.
IAM_LIMITS = {
    ("aws_iam_role", "name"): 64,
    ("aws_iam_role", "name_prefix"): 64 - 26,
    ("aws_iam_policy", "name"): 128,
    ("aws_iam_policy", "name_prefix"): 128 - 26,
    ("aws_iam_role_policy", "name"): 128,
    ("aws_iam_role_policy", "name_prefix"): 128 - 26,
}
IAM_NAME = re.compile(r"[\w+=,.@-]+")


def longest_environment() -> str:
    """The longest value the environment variable's validation accepts."""
    variable = in_dir(ROOT_MODULE, "variable")["environment"]
    pattern = terraform_regex_of(variable).pattern
    shape = re.fullmatch(r"\^\[a-z\]\[a-z0-9\]\{(\d+),(\d+)\}\$", pattern)
    assert shape, f"environment's validation changed shape ({pattern}): update this test"
    longest = "z" * (1 + int(shape.group(2)))
    assert terraform_regex_of(variable).search(longest)
    return longest


NAME_CASES = [*ENVIRONMENTS, longest_environment()]


def test_the_list_of_environments_checks_names_by_terraforms_rule() -> None:
    variable = in_dir(ROOT_MODULE, "variable")["environment"]
    assert terraform_regex_of(variable).pattern == f"^{ENVIRONMENT_NAME.pattern}$"


def expand(expression: Any, values: dict[str, str]) -> Any:
    """Substitute ${var.x}, ${local.x} and ${module.x.y} from values; None if one is unknown."""
    if not isinstance(expression, str):
        return expression
    for _ in range(5):
        expression = re.sub(
            r"\$\{((?:var|local|module)\.[\w.]+)\}",
            lambda m: values.get(m.group(1), m.group(0)),
            expression,
        )
    return None if "${" in expression else expression


def root_values(environment: str) -> dict[str, str]:
    """The values an environment root gives its locals (with var.environment set)."""
    values = {"var.environment": environment}
    for key, value in locals_of(ROOT_MODULE).items():
        if isinstance(value, str):
            values[f"local.{key}"] = value
    resolved = {k: expand(v, values) for k, v in values.items()}
    return {k: v for k, v in resolved.items() if v is not None}


def module_inputs(directory: Path, call: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    inputs = {f"var.{k}": expand(v, values) for k, v in call.items() if k not in META_ARGUMENTS}
    return {k: v for k, v in inputs.items() if isinstance(v, str)}


def eks_pod_identity_names(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    prefix = args.get("use_name_prefix", True)
    attribute, suffix = ("name_prefix", "-") if prefix else ("name", "")
    names = [("aws_iam_role", attribute, f"{args['name']}{suffix}")]
    if args.get("attach_aws_lb_controller_policy", False):
        policy = args.get("aws_lb_controller_policy_name") or (
            f"{args.get('policy_name_prefix', 'AmazonEKS_')}LoadBalancerController"
        )
        names.append(("aws_iam_policy", attribute, f"{policy}{suffix}"))
    if args.get("attach_external_secrets_policy", False):
        policy = args.get("external_secrets_policy_name") or (
            f"{args.get('policy_name_prefix', 'AmazonEKS_')}ExternalSecrets"
        )
        names.append(("aws_iam_policy", attribute, f"{policy}{suffix}"))
    assert not args.get("attach_custom_policy"), "model the custom policy's name too"
    return names


def eks_names(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    role = args.get("iam_role_name") or f"{args['cluster_name']}-cluster"
    names = []
    if args.get("iam_role_use_name_prefix", True):
        names.append(("aws_iam_role", "name_prefix", role + args.get("prefix_separator", "-")))
    else:
        names.append(("aws_iam_role", "name", role))
    if args.get("cluster_encryption_config") and args.get("attach_cluster_encryption_policy", True):
        policy = args.get("cluster_encryption_policy_name") or f"{role}-ClusterEncryption"
        prefixed = args.get("cluster_encryption_policy_use_name_prefix", True)
        names.append(("aws_iam_policy", "name_prefix" if prefixed else "name", policy))
    for key, group in args.get("eks_managed_node_groups", {}).items():
        node_role = group.get("iam_role_name") or f"{group.get('name', key)}-eks-node-group"
        if group.get("iam_role_use_name_prefix", True):
            names.append(("aws_iam_role", "name_prefix", f"{node_role}-"))
        else:
            names.append(("aws_iam_role", "name", node_role))
    return names


def vpc_names(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    if not (args.get("enable_flow_log") and args.get("create_flow_log_cloudwatch_iam_role")):
        return []
    role = args.get("vpc_flow_log_iam_role_name", "vpc-flow-log-role")
    policy = args.get("vpc_flow_log_iam_policy_name", "vpc-flow-log-to-cloudwatch")
    role_prefix = args.get("vpc_flow_log_iam_role_use_name_prefix", True)
    policy_prefix = args.get("vpc_flow_log_iam_policy_use_name_prefix", True)
    return [
        ("aws_iam_role", *(("name_prefix", f"{role}-") if role_prefix else ("name", role))),
        ("aws_iam_policy", *(("name_prefix", f"{policy}-") if policy_prefix else ("name", policy))),
    ]


def rds_names(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    # Its only IAM object is the enhanced-monitoring role (rds v6.13.1, main.tf), off by default.
    if not args.get("create_monitoring_role", False):
        return []
    role = args.get("monitoring_role_name", "rds-monitoring-role")
    prefixed = args.get("monitoring_role_use_name_prefix", False)
    return [("aws_iam_role", *(("name_prefix", f"{role}-") if prefixed else ("name", role)))]


COMMUNITY_MODULE_NAMES = {
    "terraform-aws-modules/eks-pod-identity/aws": eks_pod_identity_names,
    "terraform-aws-modules/eks/aws": eks_names,
    "terraform-aws-modules/vpc/aws": vpc_names,
    "terraform-aws-modules/rds/aws": rds_names,
}


def expand_all(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: expand_all(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_all(v, values) for v in value]
    return expand(value, values)


def iam_names(
    directory: Path, values: dict[str, str], where: str
) -> list[tuple[str, str, str, str]]:
    """(where, resource type, name or name_prefix, value) of each IAM name a configuration makes."""
    found = []
    for (rtype, rname), body in in_dir(directory, "resource", labels=2).items():
        if (rtype, "name") not in IAM_LIMITS:
            continue
        for attribute in ("name", "name_prefix"):
            if attribute in body:
                value = expand(body[attribute], values)
                assert value is not None, (
                    f"{where}/{rtype}.{rname}: cannot compute {body[attribute]}"
                )
                found.append((f"{where}/{rtype}.{rname}", rtype, attribute, value))
    for name, call in in_dir(directory, "module").items():
        source = call["source"]
        if is_local(source):
            child = module_dir(directory, source)
            child_values = module_inputs(directory, call, values)
            found += iam_names(child, child_values, f"{where}/module.{name}")
            continue
        assert source in COMMUNITY_MODULE_NAMES, f"no naming rules for {source}: add them above"
        args = {k: expand_all(v, values) for k, v in call.items() if k not in META_ARGUMENTS}
        for rtype, attribute, value in COMMUNITY_MODULE_NAMES[source](args):
            assert value is not None, f"{where}/module.{name}: cannot compute a name"
            found.append((f"{where}/module.{name}", rtype, attribute, value))
    return found


def environment_iam_names(environment: str) -> list[tuple[str, str, str, str]]:
    values = root_values(environment)
    # module.cluster.cluster_name is the eks module's cluster_name: the cluster module's name input.
    calls = in_dir(ROOT_MODULE, "module")
    values["module.cluster.cluster_name"] = expand(calls["cluster"]["name"], values)
    cluster_outputs = in_dir(MODULES / "cluster", "output")
    assert cluster_outputs["cluster_name"]["value"] == "${module.eks.cluster_name}"
    return iam_names(ROOT_MODULE, values, environment)


@pytest.mark.parametrize("environment", NAME_CASES)
def test_every_iam_role_and_policy_name_fits_aws_limits(environment: str) -> None:
    names = environment_iam_names(environment)
    kinds = {(rtype, attribute) for _, rtype, attribute, _ in names}
    assert {("aws_iam_role", "name"), ("aws_iam_role", "name_prefix")} & kinds, names
    too_long = [
        f"{where}: {rtype}.{attribute} {value!r} is {len(value)} characters, the limit is "
        f"{IAM_LIMITS[(rtype, attribute)]}"
        for where, rtype, attribute, value in names
        if len(value) > IAM_LIMITS[(rtype, attribute)]
    ]
    assert too_long == []
    assert [v for *_, v in names if not IAM_NAME.fullmatch(v)] == []


def test_fixed_iam_names_differ_between_environments_sharing_an_account() -> None:
    # Role and managed-policy names are unique per account; prefixes get a unique suffix.
    seen: dict[str, str] = {}
    for environment in ENVIRONMENTS:
        for where, rtype, attribute, value in environment_iam_names(environment):
            if attribute == "name" and rtype in {"aws_iam_role", "aws_iam_policy"}:
                key = f"{rtype} {value}"
                assert key not in seen, f"{where} and {seen[key]} are both named {value}"
                seen[key] = where
    assert seen


def test_admin_access_entries_are_keyed_by_principal_and_refuse_the_creator_twice() -> None:
    # Keys by list index would replace every entry when the list is reordered. The identity running
    # Terraform already gets an entry (enable_cluster_creator_admin_permissions), so a second one
    # for it would fail the apply: a postcondition stops the plan instead.
    eks = named(MODULES / "cluster" / "main.tf", "module")["eks"]
    assert eks["enable_cluster_creator_admin_permissions"] is True
    entries = eks["access_entries"]
    loop = re.fullmatch(
        r"\$\{\{for (\w+)(?:, (\w+))? in var\.admin_principal_arns : (\w+) => .*", entries, re.S
    )
    assert loop, entries
    assert loop.group(2) is None and loop.group(3) == loop.group(1), (
        f"not keyed by the ARN: {entries[:80]}"
    )
    session = typed(MODULES / "cluster" / "main.tf", "data")[("aws_iam_session_context", "current")]
    [condition] = session["lifecycle"][0]["postcondition"]
    assert "var.admin_principal_arns" in condition["condition"]
    assert "self.issuer_arn" in condition["condition"]
    variable = in_dir(MODULES / "cluster", "variable")["admin_principal_arns"]
    assert any("distinct" in rule["condition"] for rule in variable["validation"])


def release_tag_filter() -> re.Pattern[str]:
    """release.yml's tag filter as a regex (GitHub's filter syntax: '+' repeats, '.' is literal)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    [pattern] = workflow[True]["push"]["tags"]  # YAML 1.1 reads the key "on" as True
    assert "*" not in pattern and "?" not in pattern, f"update this conversion for {pattern}"
    return re.compile(pattern.replace(".", r"\."))


RELEASE_TAGS = ["v0.0.1", "v1.2.3", "v10.20.300"]
NOT_RELEASE_TAGS = ["v1", "v1.2", "1.2.3", "release-1.2.3", "v", "x1.2.3"]


def test_release_tag_samples_agree_with_the_release_workflow() -> None:
    release = release_tag_filter()
    assert all(release.fullmatch(tag) for tag in RELEASE_TAGS)
    assert not any(release.fullmatch(tag) for tag in NOT_RELEASE_TAGS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_oidc_tag_subjects_admit_the_release_workflows_tags_and_no_shorter_shapes(env: str) -> None:
    # StringLike cannot say "digits only", so "v*.*.*" is the narrowest pattern that still admits
    # every vX.Y.Z; the tag ruleset on v* tags (docs/CI-CD.md) covers the rest.
    patterns = example(ENV_DIRS[env] / "terraform.tfvars.example")["github_tag_patterns"]
    variable = named(OIDC / "variables.tf", "variable")["tag_patterns"]
    for pattern in patterns:
        assert terraform_regex_of(variable).search(pattern), f"{env}: {pattern} is refused"
        subject = string_like(f"repo:o/r:ref:refs/tags/{pattern}")
        for tag in RELEASE_TAGS:
            assert subject.fullmatch(f"repo:o/r:ref:refs/tags/{tag}"), f"{pattern} refuses {tag}"
        for tag in NOT_RELEASE_TAGS:
            assert not subject.fullmatch(f"repo:o/r:ref:refs/tags/{tag}"), f"{pattern} admits {tag}"


@pytest.mark.parametrize(
    ("pattern", "accepted"),
    [
        ("v*.*.*", True),
        ("v1.2.3", True),
        ("v1.*.*", True),
        ("v*", False),
        ("*", False),
        ("v*.*", False),
        ("release-*", False),
        ("v*.*.*-rc*", False),
    ],
)
def test_tag_patterns_must_have_the_release_tags_shape(pattern: str, accepted: bool) -> None:
    variable = named(OIDC / "variables.tf", "variable")["tag_patterns"]
    assert bool(terraform_regex_of(variable).search(pattern)) is accepted
