"""rocker-runtime against runc on the same OCI bundle (issue 13), side by side.

    run      `rocker-runtime run ID` and `runc run ID` of one bundle: the base image unpacked
             as its root and `rocker-runtime spec`'s config (no terminal, `true`): create,
             start, wait, delete in one command
    split    create, start, then delete once the command ended: what containerd's shim and
             podman's conmon do, one process per step (state polled until `stopped`)

Every figure is the median of N runs (default 20); the two runtimes alternate (the order flips
each round) so that a load change on this shared machine hits both alike; the load averages
are printed before and after. Each runtime has a private --root in a temp folder; the bench
runs in a network and mount namespace of its own (bench/common.py), with the leak check
inside and on the host.

Run as root:  .venv/bin/python bench/bench_oci_runtime.py [-n N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BASE_IMAGE, REPO, bench_end, bench_start, have,  # noqa: E402
                    in_private_netns, load, stats, timed)


def make_bundle(folder: str) -> str:
    sys.path.insert(0, REPO)
    from rocker.ociruntime.defaults import default_spec
    os.makedirs(os.path.join(folder, "rootfs"))
    subprocess.run(["tar", "-xf", BASE_IMAGE, "-C", os.path.join(folder, "rootfs")], check=True)
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    return folder


def wrapper(folder: str) -> str:
    """rocker-runtime of this checkout (the venv's editable install may point elsewhere)."""
    path = os.path.join(folder, "rocker-runtime")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m rocker.ociruntime "
                '"$@"\n')
    os.chmod(path, 0o755)
    return path


def split(exe: list[str], bundle: str, cid: str) -> float:
    t0 = time.perf_counter()
    devnull = subprocess.DEVNULL
    subprocess.run(exe + ["create", "--bundle", bundle, cid], check=True, stdout=devnull,
                   stderr=devnull)
    subprocess.run(exe + ["start", cid], check=True)
    while True:
        out = subprocess.run(exe + ["state", cid], capture_output=True, text=True, check=True)
        if json.loads(out.stdout)["status"] == "stopped":
            break
    subprocess.run(exe + ["delete", cid], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    in_private_netns()
    bench_start()
    if not have("runc"):
        raise SystemExit("runc is missing: bash dev.sh setup installs it")
    tmp = tempfile.mkdtemp(prefix="rocker-bench-oci-")
    try:
        bundle = make_bundle(os.path.join(tmp, "bundle"))
        runtimes = {"rocker-runtime": [wrapper(tmp), "--root", os.path.join(tmp, "rk")],
                    "runc": ["runc", "--root", os.path.join(tmp, "runc")]}
        print(f"bundle: {bundle} (busybox, `true`); {load()}")
        for what in ("run", "split"):
            samples: dict[str, list[float]] = {k: [] for k in runtimes}
            for i in range(args.n):
                order = list(runtimes) if i % 2 == 0 else list(reversed(runtimes))
                for name in order:
                    cid = f"bench{i}"
                    if what == "run":
                        samples[name].append(timed(runtimes[name] + ["run", "--bundle", bundle,
                                                                     cid]))
                    else:
                        samples[name].append(split(runtimes[name], bundle, cid))
            for name, s in samples.items():
                print(f"{what:6s} {name:15s} {stats(s)}")
        print(load())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench_end()


if __name__ == "__main__":
    main()
