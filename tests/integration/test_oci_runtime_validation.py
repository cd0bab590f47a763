"""The OCI runtime validation suite (opencontainers/runtime-tools) against rocker-runtime and,
live on the same machine, against runc: in every one of its programs rocker-runtime must pass
at least as many tests as runc and fail no more.

The suite is built once into the ignored folder .rtt/build of the checkout
(../shared/peers/build-runtime-tools, Debian's golang-1.19-go; dev.sh installs it) and run with
../shared/peers/run-runtime-tools. What still fails, for both runtimes, is listed in
docs/kubernetes.md with the reasons.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO
from tests.integration.oci_helpers import runtime_wrapper

PEERS = os.path.join(os.path.dirname(REPO), "shared", "peers")
BUILD = os.path.join(REPO, ".rtt", "build")
LINE = re.compile(r"^(\S+)\s+ok\s+(\d+)\s+not ok\s+(\d+)\s")


def _scores(runtime: str) -> dict[str, tuple[int, int]]:
    p = subprocess.run(["bash", os.path.join(PEERS, "run-runtime-tools"), BUILD, runtime],
                       capture_output=True, text=True, timeout=3600)
    out = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    assert out, f"run-runtime-tools printed no scores:\n{p.stdout}\n{p.stderr}"
    return out


@pytest.fixture(scope="module")
def suite():
    p = subprocess.run(["bash", os.path.join(PEERS, "build-runtime-tools"), BUILD],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, f"build-runtime-tools failed: {p.stderr[-2000:]}"
    return BUILD


def test_validation_suite_scores_at_least_what_runc_scores(suite, tmp_path):
    runc = shutil.which("runc")
    assert runc, "runc is missing: bash dev.sh setup installs it"
    ours = _scores(runtime_wrapper(str(tmp_path)))
    theirs = _scores(runc)
    assert set(ours) == set(theirs)
    worse = {name: (ours[name], theirs[name]) for name in theirs
             if ours[name][0] < theirs[name][0] or ours[name][1] > theirs[name][1]}
    assert not worse, "programs where rocker-runtime scores below runc " \
                      "(rocker ok/not ok, runc ok/not ok): " + repr(worse)
    total = [sum(v[i] for v in ours.values()) for i in (0, 1)]
    runc_total = [sum(v[i] for v in theirs.values()) for i in (0, 1)]
    print(f"runtime-tools: rocker-runtime {total[0]} ok / {total[1]} not ok; "
          f"runc {runc_total[0]} ok / {runc_total[1]} not ok")
