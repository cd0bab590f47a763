"""Helpers of the rocker-runtime integration tests: the command (a wrapper that runs this
checkout's rocker.ociruntime, so a worktree tests its own code), and bundles made from the
base image."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import BASE_IMAGE, REPO


def runtime_wrapper(folder: str) -> str:
    """An executable named rocker-runtime in `folder` that runs this checkout's runtime."""
    path = os.path.join(folder, "rocker-runtime")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m rocker.ociruntime "
                '"$@"\n')
    os.chmod(path, 0o755)
    return path


def make_bundle(folder: str, args: list[str], **changes) -> str:
    """A bundle in `folder`: the base image unpacked into rootfs/ and `rocker-runtime spec`'s
    config with `args`, no terminal, a writable root, and `changes` merged into it."""
    from rocker.ociruntime.defaults import default_spec
    os.makedirs(os.path.join(folder, "rootfs"), exist_ok=True)
    subprocess.run(["tar", "-xf", BASE_IMAGE, "-C", os.path.join(folder, "rootfs")], check=True)
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["root"]["readonly"] = False
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    write_config(folder, cfg)
    return folder


def write_config(folder: str, cfg: dict) -> None:
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)


def read_config(folder: str) -> dict:
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


class Runtime:
    """rocker-runtime with a private --root."""

    def __init__(self, exe: str, root: str) -> None:
        self.exe, self.root = exe, root

    def __call__(self, *args: str, check: bool = True, timeout: float = 60,
                 **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        p = subprocess.run([self.exe, "--root", self.root, *args], text=True,
                           timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"rocker-runtime {' '.join(args)} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def cleanup(self) -> None:
        try:
            ids = os.listdir(self.root)
        except FileNotFoundError:
            return
        for cid in ids:
            self("delete", "--force", cid, check=False)
