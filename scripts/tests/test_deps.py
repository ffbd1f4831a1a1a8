"""scripts/deps.sh: present tools are used as they are, missing ones are installed as root on
Debian, and anyone else is stopped at once with one message naming every missing tool and the
install command.

Every run gets a PATH holding only fake tools and a fake `apt-get` that records its calls, so
nothing on this machine is installed or removed. The non-root case runs as `nobody` (setpriv)
when the tests run as root.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
BASH = shutil.which("bash") or "/bin/bash"
NOBODY = 65534


def tool_list() -> list[tuple[str, str, list[str]]]:
    """(command, Debian package, make targets) per line of scripts/system-tools.txt."""
    rows = []
    for line in (SCRIPTS / "system-tools.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            command, package, *targets = line.split()
            assert targets, f"system-tools.txt: {line!r} names no make target"
            rows.append((command, package, targets))
    return rows


def needed_by(target: str) -> list[tuple[str, str]]:
    return [(command, package) for command, package, targets in tool_list() if target in targets]


class Sandbox:
    """A world-readable copy of the script and its list, a bin directory for PATH, an apt log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.apt_log = root / "apt-get.log"
        (root / "scripts").mkdir()
        self.bin.mkdir()
        for name in ("deps.sh", "system-tools.txt"):
            shutil.copy(SCRIPTS / name, root / "scripts" / name)
        for path in (root, root / "scripts", self.bin):
            path.chmod(0o755)
        self.apt_log.touch(mode=0o666)
        self.apt_log.chmod(0o666)

    def executable(self, name: str, body: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(f"#!{BASH}\n{body}\n")
        path.chmod(0o755)

    def fake_apt_get(self, installs: dict[str, list[str]]) -> None:
        """apt-get that logs its arguments; `install` creates the commands of the named packages."""
        chmod = shutil.which("chmod") or "/bin/chmod"
        cases = "".join(
            f"        {package}) for c in {' '.join(commands)}; do"
            f' echo "#!{BASH}" >"{self.bin}/$c"; {chmod} 755 "{self.bin}/$c"; done ;;\n'
            for package, commands in installs.items()
        )
        self.executable(
            "apt-get",
            f'echo "$*" >>"{self.apt_log}"\n'
            f'for arg in "$@"; do\n    case $arg in\n{cases}    esac\ndone',
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines()

    def run(self, *args: str, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
        command = [BASH, str(self.root / "scripts" / "deps.sh"), *args]
        if as_nobody and os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            assert setpriv, "setpriv (util-linux) is needed to run the non-root case as nobody"
            ids = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            command = [setpriv, *ids, *command]
        return subprocess.run(
            command,
            env={"PATH": str(self.bin), "LANG": "C.UTF-8"},
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Not pytest's tmp_path: that lives under a directory only its owner may enter, and nobody must.
    root = Path(tempfile.mkdtemp(prefix="crypto-rates-deps-"))
    try:
        yield Sandbox(root)
    finally:
        shutil.rmtree(root)


def test_the_list_names_the_tools_the_readme_and_ci_rely_on() -> None:
    targets = ("test", "bench", "test-images")
    commands = {target: {c for c, _ in needed_by(target)} for target in targets}
    assert {"nginx", "chromium", "promtool"} <= commands["test"]
    assert "wrk" in commands["bench"]
    assert {"dockerd", "debootstrap"} <= commands["test-images"]
    packages = {}
    for command, package, _ in tool_list():
        assert packages.setdefault(command, package) == package, f"{command} is listed twice"


def test_missing_tools_stop_a_normal_user_at_once_with_every_tool_and_the_install_command(
    sandbox: Sandbox,
) -> None:
    sandbox.fake_apt_get({})
    result = sandbox.run("test", "bench", as_nobody=True)

    assert result.returncode == 1, result
    assert result.stdout == ""
    message = result.stderr.strip()
    assert "\n" not in message, f"expected one line, got:\n{message}"
    wanted = needed_by("test") + needed_by("bench")
    named = message.partition("(not on PATH)")[0]
    for command, _ in wanted:
        assert f" {command}" in named, f"{command} is not named in: {message}"
    packages = list(dict.fromkeys(package for _, package in wanted))
    install = "apt-get update && apt-get install -y --no-install-recommends " + " ".join(packages)
    assert message.endswith(install), message
    assert sandbox.apt_calls() == []


def test_missing_tools_stop_root_where_there_is_no_apt_get(sandbox: Sandbox) -> None:
    result = sandbox.run("bench")
    assert result.returncode == 1, result
    commands = ", ".join(command for command, _ in needed_by("bench"))
    packages = " ".join(dict.fromkeys(package for _, package in needed_by("bench")))
    assert result.stderr.startswith(f"deps: make bench needs {commands} (not on PATH)")
    assert result.stderr.rstrip().endswith(f"--no-install-recommends {packages}"), result.stderr


def test_a_missing_tool_with_a_fallback_does_not_stop_a_normal_user(sandbox: Sandbox) -> None:
    sandbox.fake_apt_get({})
    result = sandbox.run("--optional", "run", as_nobody=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert sandbox.apt_calls() == []


def test_present_tools_are_used_as_they_are_without_apt(sandbox: Sandbox) -> None:
    for command, _ in needed_by("test") + needed_by("bench"):
        sandbox.executable(command)
    sandbox.fake_apt_get({})
    result = sandbox.run("test", "bench")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert sandbox.apt_calls() == []


def test_a_file_named_by_its_path_counts_when_it_exists_executable_or_not(
    sandbox: Sandbox,
) -> None:
    library = sandbox.root / "lib" / "libc.a"  # libc6-dev's static libc: a file, not a command
    (sandbox.root / "scripts" / "system-tools.txt").write_text(f"{library} libc6-dev cgo\n")

    missing = sandbox.run("cgo", as_nobody=True)
    assert missing.returncode == 1 and f"needs {library} (not on PATH)" in missing.stderr, missing

    library.parent.mkdir(mode=0o755)
    library.write_text("")
    library.chmod(0o644)
    found = sandbox.run("cgo", as_nobody=True)
    assert (found.returncode, found.stdout, found.stderr) == (0, "", ""), found


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="installing is the root path (CI: root)")


@ROOT_ONLY
@pytest.mark.skipif(not Path("/etc/debian_version").exists(), reason="installing is Debian's path")
def test_root_on_debian_installs_only_the_missing_packages_after_one_update(
    sandbox: Sandbox,
) -> None:
    present, *missing = needed_by("test")
    sandbox.executable(present[0])
    sandbox.fake_apt_get({p: [c for c, q in missing if q == p] for _, p in missing})

    result = sandbox.run("test")

    assert result.returncode == 0, result
    packages = list(dict.fromkeys(package for _, package in missing))
    calls = sandbox.apt_calls()
    assert calls[0].endswith("update"), calls
    assert calls[1].endswith("install -y --no-install-recommends " + " ".join(packages)), calls
    assert len(calls) == 2, calls
    lines = result.stdout.splitlines()
    installing = [line.split()[2] for line in lines if line.startswith("deps: installing")]
    assert installing == packages, result.stdout
    assert present[1] not in calls[1].split()


@ROOT_ONLY
def test_an_install_that_leaves_a_tool_missing_fails_naming_it(sandbox: Sandbox) -> None:
    sandbox.fake_apt_get({})  # "succeeds" but installs nothing
    result = sandbox.run("bench")
    assert result.returncode == 1, result
    assert "wrk is still not on PATH" in result.stderr


def makefile_rules() -> dict[str, tuple[str, str]]:
    """target -> (prerequisites, recipe) for each explicit rule of the Makefile."""
    rules: dict[str, tuple[str, str]] = {}
    target = ""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t") and target:
            prerequisites, recipe = rules[target]
            rules[target] = (prerequisites, recipe + line + "\n")
        elif ":" in line and not line.startswith(("#", " ", ".")) and "=" not in line.split(":")[0]:
            target, _, rest = line.partition(":")
            rules[target.strip()] = (rest.split("##")[0], "")
        else:
            target = ""
    return rules


def test_every_make_target_in_the_list_runs_deps_before_anything_else() -> None:
    rules = makefile_rules()
    targets = {t for _, _, ts in tool_list() for t in ts}
    checked = 0
    for target in sorted(targets & rules.keys()):
        prerequisites, recipe = rules[target]
        if target == "run":  # nginx is optional there: Vite's preview server is the fallback
            assert "$(DEPS) --optional run" in recipe.splitlines()[0], recipe
        else:
            assert prerequisites.split()[:1] == [f"deps-{target}"], (
                f"make {target} must list deps-{target} as its first prerequisite: {prerequisites}"
            )
        checked += 1
    assert checked >= 5, rules.keys()
