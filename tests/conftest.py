"""Shared test helpers: where the project and the base image are."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = os.path.join(REPO, "base-image", "busybox.tar")


@pytest.fixture(scope="session")
def base_image_tar() -> str:
    if not os.path.exists(BASE_IMAGE):
        pytest.fail(f"{BASE_IMAGE} is missing: run `make image` (base-image/build.sh)")
    return BASE_IMAGE
