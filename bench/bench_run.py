"""Container start latency, exec latency and monitor memory, next to runc and podman.

    rocker run --rm busybox true       median wall time over N runs
    runc run (same root filesystem)    if runc is installed
    podman run --rm (same image)       if podman is installed (--network none, like rocker)
    rocker exec <running> true         median
    monitor RSS of a running container (after it slimmed itself down) and right after start

Run: .venv/bin/python bench/bench_run.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BASE_IMAGE, ROCKER, Root, have, median_ms, timed  # noqa: E402


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_rocker(n: int) -> dict:
    r = Root()
    try:
        r.run("import", BASE_IMAGE, "busybox")
        for _ in range(3):  # warm caches
            timed(ROCKER + ["run", "--rm", "busybox", "true"], env=r.env)
        run = [timed(ROCKER + ["run", "--rm", "busybox", "true"], env=r.env) for _ in range(n)]
        cid = r.run("run", "-d", "busybox", "sleep", "600").stdout.strip()
        info = json.loads(r.run("inspect", cid).stdout)[0]
        mon = info["State"]["MonitorPid"]
        rss_start = rss_kib(mon)
        time.sleep(1.5)
        info = json.loads(r.run("inspect", cid).stdout)[0]
        rss_slim = rss_kib(info["State"]["MonitorPid"])
        ex = [timed(ROCKER + ["exec", cid, "true"], env=r.env) for _ in range(n)]
        r.run("rm", "-f", cid)
        return {"run": median_ms(run), "exec": median_ms(ex), "rss_start": rss_start / 1024,
                "rss_slim": rss_slim / 1024}
    finally:
        r.close()


def bench_runc(n: int) -> float | None:
    if not have("runc"):
        return None
    d = tempfile.mkdtemp(prefix="rocker-bench-runc-")
    try:
        rootfs = os.path.join(d, "rootfs")
        os.mkdir(rootfs)
        subprocess.run(["tar", "-xf", BASE_IMAGE, "-C", rootfs], check=True)
        subprocess.run(["runc", "spec"], cwd=d, check=True)
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["args"] = ["true"]
        spec["process"]["terminal"] = False
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(spec, f)
        samples = []
        for i in range(n + 3):
            dt = timed(["runc", "--root", os.path.join(d, "state"), "run", "--bundle", d,
                        f"rkbench{i}"])
            if i >= 3:
                samples.append(dt)
        return median_ms(samples)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_podman(n: int) -> float | None:
    if not have("podman"):
        return None
    img = "localhost/rocker-bench-busybox:latest"
    try:
        subprocess.run(["podman", "import", BASE_IMAGE, img], check=True,
                       capture_output=True)
        # podman's defaults ask for more open files and processes than the hard limits of
        # this machine's sandbox allow ("error setting rlimit ... operation not permitted")
        limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
        argv = ["podman", "run", "--rm", "--network", "none", *limits, img, "true"]
        for _ in range(2):
            timed(argv)
        return median_ms([timed(argv) for _ in range(n)])
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"podman: {e}", file=sys.stderr)
        return None
    finally:
        subprocess.run(["podman", "rmi", "-f", img], capture_output=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    r = bench_rocker(n)
    runc = bench_runc(n)
    podman = bench_podman(max(5, n // 4))
    print(f"container start, `run --rm busybox true`, median of {n}:")
    print(f"  rocker   {r['run']:8.1f} ms")
    if runc is not None:
        print(f"  runc     {runc:8.1f} ms   (rocker/runc = {r['run'] / runc:.1f}x)")
    else:
        print("  runc     not installed (apt-get install runc)")
    if podman is not None:
        print(f"  podman   {podman:8.1f} ms   (rocker/podman = {r['run'] / podman:.2f}x)")
    elif have("podman"):
        print("  podman   failed (see the message above)")
    else:
        print("  podman   not installed (apt-get install podman)")
    print(f"exec latency, `exec <running> true`, median of {n}: {r['exec']:.1f} ms")
    print(f"monitor RSS: {r['rss_start']:.1f} MiB right after start (a fork of the CLI), "
          f"{r['rss_slim']:.1f} MiB once slimmed (after 1 s)")


if __name__ == "__main__":
    main()
