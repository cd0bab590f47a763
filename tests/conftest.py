"""Shared test helpers: where the project and the base image are; the hypothesis profiles."""

import os

import pytest
from hypothesis import settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = os.path.join(REPO, "base-image", "busybox.tar")

# Property tests: few examples locally, many in CI (CI=... in the environment; .ci/run sets it).
# A test's own @settings(max_examples=...) would win over the profile, so no test sets a count:
# they set only what they need besides it (deadline, health checks).
settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def base_image_tar() -> str:
    if not os.path.exists(BASE_IMAGE):
        pytest.fail(f"{BASE_IMAGE} is missing: run `make image` (base-image/build.sh)")
    return BASE_IMAGE
