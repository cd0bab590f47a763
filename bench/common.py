"""Helpers shared by the benchmarks: timing, medians, a private storage root, peers' presence."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = os.path.join(REPO, "base-image", "busybox.tar")
ROCKER = [os.path.join(os.path.dirname(sys.executable), "rocker")]


def timed(argv: list[str], env: dict | None = None, check: bool = True, **kw) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return dt


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Root:
    """A throw-away rocker storage root (never /var/lib/rocker)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="rocker-bench-")
        self.env = dict(os.environ, ROCKER_ROOT=os.path.join(self.dir, "root"),
                        ROCKER_RUNROOT=os.path.join(self.dir, "run"))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(ROCKER + list(args), env=self.env, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"rocker {' '.join(args)}: {p.stderr.strip()}")
        return p

    def close(self) -> None:
        p = self.run("ps", "-aq", check=False)
        if p.stdout.split():
            self.run("rm", "-f", *p.stdout.split(), check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None
