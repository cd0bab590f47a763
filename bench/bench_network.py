"""Networking benchmarks (issue 10), rocker side by side with podman and runc.

    default network   `rocker run --rm busybox true` (rocker's `bridge`: a bridge, a veth pair,
                      a lease, rocker's nftables table) against `podman run --rm ... true` on
                      podman's default network (netavark: a bridge, a veth pair, iptables rules);
                      target: rocker faster than podman, aim at 0.5x
    --network none    `rocker run --rm --network none busybox true` against `runc run` of a bundle
                      made from rocker's own config.json (same namespaces, mounts, seccomp,
                      capabilities; the image unpacked as its root) and podman --network none
    published port    `run -d -p 127.0.0.1:PORT:80 busybox httpd -f -p 80 -h /www`: how long
                      `run -d` takes, and from its return until 127.0.0.1:PORT answers HTTP
                      (poll-connect, a fresh connection every try), rocker and podman

Every figure is the median of N runs (default 20), the peers interleaved (the order alternates
each round) so that a load change on this shared machine hits both alike; the load averages are
printed before and after. --profile adds where rocker's time goes on the default network
(ROCKER_TRACE marks, rocker/util/trace.py).

The bench re-executes itself inside a network and mount namespace of its own (`unshare --net
--mount`, as tests/integration does with the network): the bridges, veths, sysctls and firewall
rules of both rocker and podman live and die with it. rocker runs on a throw-away storage root,
podman on a private --root/--runroot/tmp dir/network config dir in a temp folder with the
nofile/nproc rlimits this host allows (bench/common.py: Podman). ../shared/tools/leakcheck runs
inside the namespace before it goes and on the host afterwards.

podman is not part of dev.sh (no test needs it): `apt-get install -y podman` (Debian 12: podman
4.3 with netavark, aardvark-dns, conmon; runc is already installed by dev.sh). Without podman
the podman columns say so and the rest still runs.

Run as root:  .venv/bin/python bench/bench_network.py [-n N] [--profile] [--only default,none,port]
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
from common import (BASE_IMAGE, Podman, Root, bench_end, bench_start, free_port,  # noqa: E402
                    have, in_private_netns, load, median_ms, print_profile, stats, timed,
                    trace_profile, wait_http)

TRUE = ["busybox", "true"]
HTTPD = ["httpd", "-f", "-p", "80", "-h", "/www"]


def interleaved(n: int, runners: dict[str, callable], warm: int = 3) -> dict[str, list[float]]:
    """Each runner `warm` times unmeasured, then n rounds of all of them; the order alternates."""
    for _ in range(warm):
        for fn in runners.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in runners}
    names = list(runners)
    for i in range(n):
        for k in (names if i % 2 == 0 else names[::-1]):
            out[k].append(runners[k]())
    return out


def report(title: str, res: dict[str, list[float]], base: str) -> None:
    """The figures of one section; each peer's line ends with the ratio of `base` to it."""
    print(f"\n{title}")
    for k, v in res.items():
        ratio = "" if k == base else f"  rocker/this {median_ms(res[base]) / median_ms(v):.2f}x"
        print(f"  {k:<34} {stats(v)}{ratio}")


# ---- runc with rocker's own config.json -----------------------------------------------------
def runc_bundle(r: Root, work: str) -> str:
    """A bundle whose config.json is the one rocker wrote for `run --network none busybox`,
    with root.path on an unpacked copy of the image, the command `true`, the /etc files rocker
    bind-mounts copied beside it, and a cgroup of the bench's own (rk prefix)."""
    cid = r.run("run", "-d", "--network", "none", "busybox", "sleep", "600").stdout.strip()
    try:
        path = json.loads(r.run("inspect", cid).stdout)[0]["OCIConfigPath"]
        with open(path) as f:
            cfg = json.load(f)
        bundle = os.path.join(work, "bundle")
        os.makedirs(os.path.join(bundle, "rootfs"))
        subprocess.run(["tar", "-xf", BASE_IMAGE, "-C", os.path.join(bundle, "rootfs")],
                       check=True)
        for m in cfg["mounts"]:
            if m["type"] == "bind":
                copy = os.path.join(bundle, os.path.basename(m["source"]))
                shutil.copyfile(m["source"], copy)
                m["source"] = copy
    finally:
        r.run("rm", "-f", cid)
    cfg["root"]["path"] = os.path.join(bundle, "rootfs")
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    cfg["linux"]["cgroupsPath"] = "/rk-bench-runc"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


# ---- the sections ---------------------------------------------------------------------------
def section_default(n: int, r: Root, pm: Podman | None) -> None:
    runners = {"rocker run --rm (bridge)": lambda: r.timed("run", "--rm", *TRUE)}
    if pm:
        runners["podman run --rm (podman, netavark)"] = lambda: timed(
            pm.argv("run", "--rm", pm.IMAGE, "true"), env=pm.env)
    res = interleaved(n, runners)
    report(f"default network, `run --rm busybox true`, median of {n} ({load()}):", res,
           "rocker run --rm (bridge)")
    if pm:
        ratio = median_ms(res["rocker run --rm (bridge)"]) / \
            median_ms(res["podman run --rm (podman, netavark)"])
        verdict = ("MEETS the 0.5x aim" if ratio <= 0.5 else
                   "faster than podman, but ABOVE the 0.5x aim" if ratio < 1 else
                   "NOT faster than podman")
        print(f"  rocker/podman = {ratio:.2f}x: {verdict}")


def section_none(n: int, r: Root, pm: Podman | None, work: str) -> None:
    runners = {"rocker run --rm --network none": lambda: r.timed("run", "--rm", "--network",
                                                                 "none", *TRUE)}
    if have("runc"):
        bundle = runc_bundle(r, work)
        state = os.path.join(work, "runc-state")
        seq = iter(range(10 ** 6))
        runners["runc run (rocker's config.json)"] = lambda: timed(
            ["runc", "--root", state, "run", "--bundle", bundle, f"rkbench{next(seq)}"])
    else:
        print("runc: not installed (bash dev.sh setup installs it)")
    if pm:
        runners["podman run --rm --network none"] = lambda: timed(
            pm.argv("run", "--rm", "--network", "none", pm.IMAGE, "true"), env=pm.env)
    res = interleaved(n, runners)
    report(f"--network none, `run --rm busybox true`, median of {n} ({load()}):", res,
           "rocker run --rm --network none")


def one_port(start: list[str], env: dict, rm: list[str]) -> tuple[float, float]:
    """(seconds `run -d` took, seconds from its return until HTTP answered)."""
    port = free_port()
    argv = [a.replace("PORT", str(port)) for a in start]
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    t1 = time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {p.stderr.strip()[-400:]}")
    cid = p.stdout.strip().splitlines()[-1]
    try:
        t2 = wait_http(port)
    finally:
        subprocess.run(rm + [cid], env=env, capture_output=True)
    return t1 - t0, t2 - t1


def section_port(n: int, r: Root, pm: Podman | None) -> None:
    rk = (r.argv("run", "-d", "-p", "127.0.0.1:PORT:80", "busybox", *HTTPD), r.env,
          r.argv("rm", "-f"))
    peers = {"rocker": rk}
    if pm:
        peers["podman"] = (pm.argv("run", "-d", "-p", "127.0.0.1:PORT:80", pm.IMAGE, *HTTPD),
                           pm.env, pm.argv("rm", "-f", "-t", "0"))
    for who, (start, env, rm) in peers.items():  # warm, and see that it works at all
        try:
            one_port(start, env, rm)
        except RuntimeError as e:
            print(f"{who}: published port does not answer: {e}")
            return
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in peers}
    names = list(peers)
    for i in range(n):
        for k in (names if i % 2 == 0 else names[::-1]):
            res[k].append(one_port(*peers[k]))
    print(f"\npublished port, `run -d -p 127.0.0.1:PORT:80 busybox httpd -f -p 80 -h /www`, "
          f"median of {n} ({load()}):")
    for k, v in res.items():
        run_d = [a for a, _ in v]
        reach = [b for _, b in v]
        total = [a + b for a, b in v]
        print(f"  {k:<7} run -d          {stats(run_d)}")
        print(f"  {k:<7} then HTTP after {stats(reach)}")
        print(f"  {k:<7} total           {stats(total)}")
    if pm:
        tot = {k: median_ms([a + b for a, b in v]) for k, v in res.items()}
        print(f"  rocker/podman (run -d until HTTP answers) = {tot['rocker'] / tot['podman']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="measured runs of each (default 20)")
    ap.add_argument("--only", default="default,none,port",
                    help="sections to run, comma-separated (default: %(default)s)")
    ap.add_argument("--profile", action="store_true",
                    help="also: where rocker's time goes on the default network (ROCKER_TRACE)")
    ap.add_argument("--no-podman", action="store_true")
    a = ap.parse_args()
    in_private_netns()
    bench_start()
    only = set(a.only.split(","))
    print(f"bench_network: {load()}; inside a private network namespace")
    work = tempfile.mkdtemp(prefix="rocker-bench-net-")
    r = Root()
    pm = None
    try:
        r.run("import", BASE_IMAGE, "busybox")
        if not a.no_podman:
            if not have("podman"):
                print("podman: not installed (apt-get install -y podman)")
            else:
                pm = Podman()
                why = pm.setup()
                if why:
                    print(f"podman: cannot run a container here: {why}")
                    pm.close()
                    pm = None
                else:
                    print(pm.info())
        if "default" in only:
            section_default(a.n, r, pm)
        if "none" in only:
            section_none(a.n, r, pm, work)
        if "port" in only:
            section_port(a.n, r, pm)
        if a.profile:
            print(f"\nwhere rocker's time goes, `run --rm busybox true` on the default network, "
                  f"medians of {a.n} traced runs ({load()}):")
            print_profile(trace_profile(r, ["run", "--rm", *TRUE], a.n))
            print(f"\nthe same with --network none ({load()}):")
            print_profile(trace_profile(r, ["run", "--rm", "--network", "none", *TRUE], a.n))
            print(f"\n`run -d -p 127.0.0.1:PORT:80 busybox httpd ...` until it returns "
                  f"({load()}):")
            print_profile(trace_profile(
                r, ["run", "-d", "-p", f"127.0.0.1:{free_port()}:80", "busybox", *HTTPD], a.n,
                cleanup=lambda out: r.run("rm", "-f", out.strip())))
        print(f"\n{load()}")
    finally:
        r.close()
        if pm:
            pm.close()
        shutil.rmtree(work, ignore_errors=True)
        bench_end()


if __name__ == "__main__":
    main()
