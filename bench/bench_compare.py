"""Two (or more) checkouts of rocker side by side: `run --rm busybox true` and the slim monitor's
memory, before and after a change (issue 9: not slower than before; the slim monitor at or under
12 MiB).

    .venv/bin/python bench/bench_compare.py [-n 20] before=/work/wt-e4f after=/work/main

Each TREE (LABEL=PATH, or PATH) is run as `python -m rocker` with PYTHONPATH=PATH from PATH, on a
storage root of its own, the base image of this checkout imported into each. Variants: `run --rm
busybox true` as such (in a tree with networks that is the default bridge network) and, in trees
that have --network, `run --rm --network none busybox true` (the like-for-like figure against a
tree without networks). All (tree, variant) pairs are run in one interleaved loop, the order
rotating each round, N measured rounds after 3 warm ones; medians, min and max are printed with
the load averages. Then, per tree and variant, three `run -d busybox sleep 600` containers: the
monitor's RSS right after `run -d` returns (a fork of the CLI) and once it has re-executed itself
as the slim monitor (its command line says --resume; after about 1 s).

Like bench_network.py it runs in a private network and mount namespace of its own (a tree's
default network makes a bridge and firewall rules) and runs the leak check inside and outside.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BASE_IMAGE, Root, bench_end, bench_start, in_private_netns,  # noqa: E402
                    load, median_ms, monitor_rss, stats)

SLIM_LIMIT_MIB = 12.0


def has_network(r: Root) -> bool:
    return "--network" in r.run("run", "--help").stdout


def head(tree: str) -> str:
    p = subprocess.run(["git", "-C", tree, "log", "-1", "--format=%h %s"], capture_output=True,
                       text=True)
    return p.stdout.strip()[:90] if p.returncode == 0 else "(not a git checkout)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="+", metavar="[LABEL=]PATH")
    ap.add_argument("-n", type=int, default=20, help="measured rounds (default 20)")
    ap.add_argument("--rss", type=int, default=3, help="containers per RSS figure (default 3)")
    a = ap.parse_args()
    trees = []
    for t in a.trees:
        label, _, path = t.rpartition("=")
        path = os.path.abspath(path)
        if not os.path.isdir(os.path.join(path, "rocker")):
            raise SystemExit(f"{path}: not a rocker checkout (no rocker/ in it)")
        trees.append((label or os.path.basename(path), path))
    in_private_netns()
    bench_start()
    print(f"bench_compare: {load()}; inside a private network namespace")
    roots: dict[str, Root] = {}
    try:
        variants: list[tuple[str, Root, list[str]]] = []
        for label, path in trees:
            print(f"  {label:<8} {path}: {head(path)}")
            r = roots[label] = Root(path)
            r.run("import", BASE_IMAGE, "busybox")
            if has_network(r):
                variants.append((f"{label} run --rm (default: bridge)", r, []))
                variants.append((f"{label} run --rm --network none", r, ["--network", "none"]))
            else:
                variants.append((f"{label} run --rm (no networks)", r, []))
        samples: dict[str, list[float]] = {v[0]: [] for v in variants}
        for i in range(a.n + 3):
            k = i % len(variants)
            for name, r, extra in variants[k:] + variants[:k]:
                dt = r.timed("run", "--rm", *extra, "busybox", "true")
                if i >= 3:
                    samples[name].append(dt)
        print(f"\n`run --rm busybox true`, interleaved, median of {a.n} ({load()}):")
        first = variants[0][0]
        for name, v in samples.items():
            ratio = "" if name == first else \
                f"  this/{first.split()[0]} {median_ms(v) / median_ms(samples[first]):.2f}x"
            print(f"  {name:<38} {stats(v)}{ratio}")
        print(f"\nmonitor RSS (MiB), max of {a.rss} containers, `run -d busybox sleep 600` "
              f"({load()}):")
        rss_variants = [(n.replace("run --rm", "run -d"), r, e) for n, r, e in variants]
        for label, _path in trees:
            r = roots[label]
            if has_network(r):  # the resolver (user network) and port reservations stay in it
                r.run("network", "create", "rkbench")
                rss_variants.append((f"{label} run -d --network rkbench -p", r,
                                     ["--network", "rkbench", "-p", "127.0.0.1::80"]))
        for name, r, extra in rss_variants:
            got = [monitor_rss(r, extra) for _ in range(a.rss)]
            start, slim = max(g[0] for g in got), max(g[1] for g in got)
            verdict = "ok" if slim <= SLIM_LIMIT_MIB else f"ABOVE {SLIM_LIMIT_MIB:g} MiB"
            print(f"  {name:<38} after start {start:5.1f}   slim {slim:5.1f}  ({verdict})")
        print(f"\n{load()}")
    finally:
        for r in roots.values():
            r.close()
        bench_end()


if __name__ == "__main__":
    main()
