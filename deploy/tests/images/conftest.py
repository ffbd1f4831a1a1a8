"""The images that deploy/images/provision.sh built, on the engine it started (make test-images)."""

from __future__ import annotations

import os

import pytest
from testkit.docker import Docker


@pytest.fixture(scope="session")
def docker() -> Docker:
    host = os.environ.get("DOCKER_HOST", "")
    if not host.startswith("unix://"):
        pytest.fail(
            "the image tests need the engine and images of deploy/images/provision.sh: "
            "run them with `make test-images` (root)",
            pytrace=False,
        )
    engine = Docker(host)
    engine.output("version")
    return engine
