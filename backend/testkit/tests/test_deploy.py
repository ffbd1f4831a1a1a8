"""The deploy suites' shared helpers fail the way those suites rely on: a failed command names
itself, the registry settings of the caller never leak in, the load loop counts what it refuses."""

from __future__ import annotations

import os
import time

import pytest

from testkit.deploy import Load, clean_env, run
from testkit.fake_coingecko import FakeCoinGecko


def test_a_failed_command_names_itself_its_exit_code_and_its_output() -> None:
    with pytest.raises(AssertionError, match=r"sh -c echo said-so >&2; exit 3 exited 3\nsaid-so"):
        run("sh", "-c", "echo said-so >&2; exit 3")
    assert run("sh", "-c", "exit 3", check=False).returncode == 3


def test_clean_env_drops_the_callers_registry_settings_and_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "the caller's")
    monkeypatch.setenv("PINNED_VALUES", "/the/callers.yaml")
    env = clean_env(REGISTRY_USER="ci")
    assert env["REGISTRY_USER"] == "ci"
    assert "REGISTRY_PASSWORD" not in env and "PINNED_VALUES" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert "REGISTRY_USER" not in os.environ


def test_load_counts_the_answers_it_accepts_and_lists_the_ones_it_refuses() -> None:
    said: list[str] = []
    with FakeCoinGecko() as fake:
        url = fake.url + "/exchange_rates"
        with Load(url, lambda status, _: status == 200, say=said.append) as load:
            time.sleep(0.3)
            fake.set_mode("500")
            time.sleep(0.3)
        report = load.report("a test")
    assert load.ok > 0 and load.failures, report
    assert all(failure.startswith("500 ") for failure in load.failures), load.failures
    assert said == [report.splitlines()[0]]
    assert f"{load.ok + len(load.failures)} requests to {url}" in report
