"""Container start latency, exec latency and monitor memory, next to runc and podman.

    rocker run --rm --network none busybox true    median wall time over N runs
    runc run (`runc spec` bundle, same rootfs)     if runc is installed
    podman run --rm --network none (same image)    if podman is installed
    rocker exec <running> true                     median
    monitor RSS of a running container right after start and once slimmed (<= 12 MiB)

All with --network none, the like-for-like figure against runc's bundle (a network namespace with
only lo); the default network against podman's is bench/bench_network.py, two checkouts against
each other bench/bench_compare.py. Like them it runs in a private network and mount namespace of
its own, rocker on a throw-away root and podman on a private store (bench/common.py).

Run as root: .venv/bin/python bench/bench_run.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BASE_IMAGE, Podman, Root, bench_end, bench_start, have,  # noqa: E402
                    in_private_netns, load, median_ms, monitor_rss, timed)


def bench_rocker(n: int) -> dict:
    r = Root()
    try:
        r.run("import", BASE_IMAGE, "busybox")
        argv = ["run", "--rm", "--network", "none", "busybox", "true"]
        for _ in range(3):  # warm caches
            r.timed(*argv)
        run = [r.timed(*argv) for _ in range(n)]
        rss = [monitor_rss(r, ["--network", "none"]) for _ in range(3)]
        cid = r.run("run", "-d", "--network", "none", "busybox", "sleep", "600").stdout.strip()
        ex = [r.timed("exec", cid, "true") for _ in range(n)]
        r.run("rm", "-f", cid)
        return {"run": median_ms(run), "exec": median_ms(ex),
                "rss_start": max(x[0] for x in rss), "rss_slim": max(x[1] for x in rss)}
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
    pm = Podman()
    try:
        why = pm.setup()
        if why:
            print(f"podman: {why}", file=sys.stderr)
            return None
        argv = pm.argv("run", "--rm", "--network", "none", pm.IMAGE, "true")
        for _ in range(2):
            timed(argv, env=pm.env)
        return median_ms([timed(argv, env=pm.env) for _ in range(n)])
    finally:
        pm.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    in_private_netns()
    bench_start()
    try:
        print(f"bench_run: {load()}")
        r = bench_rocker(n)
        runc = bench_runc(n)
        podman = bench_podman(max(5, n // 4))
    finally:
        bench_end()
    print(f"container start, `run --rm --network none busybox true`, median of {n} ({load()}):")
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
    print(f"monitor RSS (max of 3): {r['rss_start']:.1f} MiB right after start (a fork of the "
          f"CLI), {r['rss_slim']:.1f} MiB once slimmed (target <= 12 MiB)")


if __name__ == "__main__":
    main()
