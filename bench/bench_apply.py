"""Benchmark of stacks: `rocker apply` of a 50-container stack from scratch, then a no-op
`rocker apply` and `rocker diff` on it (aim: <= 0.5 s), and `rocker delete`.

If podman and podman-compose are installed (`pip install podman-compose` in any venv, and pass
--podman-compose PATH or have it on PATH), `podman-compose up -d` of the equivalent compose file
runs beside it; when podman cannot start a container on this host the reason is printed.

    sudo .venv/bin/python bench/bench_apply.py [--containers 50] [--repeat 5]

Everything runs on a private root (/tmp/rocker-bench-apply); nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAR = os.path.join(REPO, "base-image", "busybox.tar")
WORK = "/tmp/rocker-bench-apply"
CMD = "trap 'exit 0' TERM; while true; do sleep 5 & wait $!; done"


def stack_yaml(n: int) -> str:
    lines = ["name: bench", "images:", "  busybox:", f"    import: {TAR}", "containers:"]
    for i in range(n):
        lines += [f"  svc{i:02d}:", "    image: busybox",
                  f"    command: [sh, -c, \"{CMD}\"]", "    memory: 32m", "    cpu_shares: 512",
                  "    restart: always", "    labels: {bench: 'yes'}"]
    return "\n".join(lines) + "\n"


def compose_yaml(n: int) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [f"  svc{i:02d}:", "    image: localhost/busybox-bench",
                  f"    command: [sh, -c, \"{CMD}\"]", "    mem_limit: 32m",
                  "    cpu_shares: 512", "    restart: always", "    labels: {bench: 'yes'}"]
    return "\n".join(lines) + "\n"


def rocker(*args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, ROCKER_ROOT=f"{WORK}/root", ROCKER_RUNROOT=f"{WORK}/run")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rocker", *args], env=env, cwd=REPO,
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if check and p.returncode not in (0, 2):
        raise SystemExit(f"rocker {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return dt, p


def timed(label: str, repeat: int, *args: str) -> float:
    times = []
    for _ in range(repeat):
        dt, p = rocker(*args)
        times.append(dt)
    med = statistics.median(times)
    print(f"{label:<34} median {med:6.3f} s  (min {min(times):.3f}, max {max(times):.3f}, "
          f"n={repeat})  -> {p.stdout.strip().splitlines()[0] if p.stdout.strip() else ''}")
    return med


def bench_rocker(n: int, repeat: int) -> dict:
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    f = os.path.join(WORK, "stack.yaml")
    with open(f, "w") as fh:
        fh.write(stack_yaml(n))
    out = {}
    try:
        dt, p = rocker("apply", "-f", f, "-y")
        print(f"{'rocker apply (from scratch)':<34} {dt:13.3f} s  -> "
              f"{[ln for ln in p.stdout.splitlines() if ln.startswith('Apply')][0]}")
        out["apply"] = dt
        out["noop_apply"] = timed("rocker apply (no-op)", repeat, "apply", "-f", f, "-y")
        out["diff"] = timed("rocker diff (no-op)", repeat, "diff", "-f", f)
        out["diff_json"] = timed("rocker diff -o json (no-op)", repeat, "diff", "-f", f,
                                 "-o", "json")
        dt, p = rocker("delete", "-f", f, "-y")
        print(f"{'rocker delete':<34} {dt:13.3f} s")
        out["delete"] = dt
    finally:
        rocker("delete", "--stack", "bench", "-y", check=False)
        shutil.rmtree(WORK, ignore_errors=True)
    return out


def bench_podman(n: int, compose: str | None) -> None:
    compose = compose or shutil.which("podman-compose")
    if not compose or not shutil.which("podman"):
        print("podman-compose: not installed (pip install podman-compose; needs podman)")
        return
    d = os.path.join(WORK + "-podman")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    subprocess.run(["podman", "import", TAR, "localhost/busybox-bench"], capture_output=True)
    probe = subprocess.run(["podman", "run", "--rm", "localhost/busybox-bench", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["?"])[-1]
        print(f"podman-compose: skipped, podman cannot run a container here: {why}")
        shutil.rmtree(d, ignore_errors=True)
        return
    with open(os.path.join(d, "compose.yaml"), "w") as fh:
        fh.write(compose_yaml(n))
    try:
        for label in ("podman-compose up -d (scratch)", "podman-compose up -d (no-op)"):
            t0 = time.perf_counter()
            subprocess.run([compose, "up", "-d"], cwd=d, capture_output=True)
            print(f"{label:<34} {time.perf_counter() - t0:13.3f} s")
    finally:
        t0 = time.perf_counter()
        subprocess.run([compose, "down", "-t", "0"], cwd=d, capture_output=True)
        print(f"{'podman-compose down':<34} {time.perf_counter() - t0:13.3f} s")
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--podman-compose", default=None, metavar="PATH")
    ap.add_argument("--no-podman", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    print(f"{a.containers} containers, {os.cpu_count()} CPUs\n")
    res = bench_rocker(a.containers, a.repeat)
    verdict = "OK" if res["noop_apply"] <= 0.5 and res["diff"] <= 0.5 else "ABOVE 0.5 s TARGET"
    print(f"\nno-op apply / diff target 0.5 s: {verdict}\n")
    if not a.no_podman:
        bench_podman(a.containers, a.podman_compose)


if __name__ == "__main__":
    main()
