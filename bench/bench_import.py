"""Benchmark: `rocker import` of a ~200 MB mixed tar next to GNU `tar -xf` of the same file.

The tar is generated once and cached in /tmp/rocker-bench/mixed.tar: many small files, some
medium ones, a few large ones, hardlinks and symlinks. Each tool runs 3 times into a fresh
temporary folder (rocker: a fresh --root; tar: a fresh target folder); the medians and their
ratio are printed. Run: .venv/bin/python bench/bench_import.py [--runs N] [--profile]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = "/tmp/rocker-bench"
TAR = os.path.join(CACHE, "mixed.tar")
SEED = 42


def generate(path: str) -> None:
    rnd = random.Random(SEED)
    block = rnd.randbytes(4 << 20)

    def content(n: int) -> bytes:
        start = rnd.randrange(0, len(block) - 1)
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), len(block) - start)
            out += block[start:start + take]
            start = 0
        return bytes(out)

    tmp = path + ".tmp"
    files: list[str] = []
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name: str) -> None:
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = 1700000000
            tf.addfile(ti)

        def add_file(name: str, size: int, mode: int = 0o644) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = size
            ti.mode = mode
            ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(content(size)))
            files.append(name)

        add_dir("usr")
        for d in range(150):                       # 15,000 small files, 0-4 KB
            dname = f"usr/share/pkg{d:03d}"
            if d == 0:
                add_dir("usr/share")
            add_dir(dname)
            for i in range(100):
                add_file(f"{dname}/file{i:03d}.txt", rnd.randrange(0, 4096))
        add_dir("usr/lib")
        for i in range(150):                       # 150 medium files, 100 KB - 1 MB
            add_file(f"usr/lib/lib{i:03d}.so", rnd.randrange(100_000, 1_000_000), 0o755)
        add_dir("opt")
        for i in range(4):                         # 4 large files, ~24 MB
            add_file(f"opt/blob{i}.bin", 24 << 20)
        add_dir("links")
        for i in range(500):                       # hardlinks and symlinks
            target = files[rnd.randrange(len(files))]
            ti = tarfile.TarInfo(f"links/hard{i:03d}")
            ti.type = tarfile.LNKTYPE
            ti.linkname = target
            tf.addfile(ti)
            ti = tarfile.TarInfo(f"links/sym{i:03d}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../" + target
            tf.addfile(ti)
    os.replace(tmp, path)


CPU: dict[str, list[float]] = {"rocker": [], "tar": []}


def timed(argv: list[str], env: dict | None = None, who: str = "") -> float:
    """Wall time of one run; its CPU time (user+sys) goes to CPU[who]."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[who].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def run_rocker(tar: str, work: str) -> float:
    root = tempfile.mkdtemp(prefix="root-", dir=work)
    try:
        return timed([sys.executable, "-m", "rocker", "--root", root, "--runroot",
                      root + "-run", "import", tar, "bench"],
                     env=dict(os.environ, PYTHONPATH=REPO), who="rocker")
    finally:
        shutil.rmtree(root)


def run_tar(tar: str, work: str) -> float:
    dest = tempfile.mkdtemp(prefix="tar-", dir=work)
    try:
        return timed(["tar", "--numeric-owner", "-xf", tar, "-C", dest], who="tar")
    finally:
        shutil.rmtree(dest)


def profile(tar: str, work: str) -> None:
    import cProfile
    import pstats

    sys.path.insert(0, REPO)
    from rocker.images.store import ImageStore
    from rocker.paths import Paths

    root = tempfile.mkdtemp(prefix="prof-", dir=work)
    try:
        store = ImageStore(Paths(root, root + "-run"))
        prof = cProfile.Profile()
        prof.enable()
        store.import_tar(tar, "bench")
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    finally:
        shutil.rmtree(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one import in-process")
    ap.add_argument("--dir", default=CACHE,
                    help="where the fresh roots/targets are made (default: %(default)s; "
                         "/dev/shm measures CPU cost without the disk)")
    args = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(TAR):
        print(f"generating {TAR} ...", flush=True)
        generate(TAR)
    size = os.path.getsize(TAR)
    with tarfile.open(TAR) as tf:
        members = len(tf.getmembers())
    print(f"archive: {TAR} ({size / 2**20:.0f} MB, {members} entries)")
    work = tempfile.mkdtemp(prefix="rocker-bench-", dir=args.dir)
    print(f"targets under {args.dir}")
    try:
        # warm the page cache so both read the archive from memory
        with open(TAR, "rb") as f:
            while f.read(1 << 24):
                pass
        if args.profile:
            profile(TAR, work)
            return
        rk, gt = [], []
        for _ in range(args.runs):
            gt.append(run_tar(TAR, work))
            rk.append(run_rocker(TAR, work))
        r, g = statistics.median(rk), statistics.median(gt)
        print(f"GNU tar -xf     median of {args.runs}: {g:.3f}s  "
              f"({' '.join(f'{x:.3f}' for x in gt)})")
        print(f"rocker import   median of {args.runs}: {r:.3f}s  "
              f"({' '.join(f'{x:.3f}' for x in rk)})")
        print(f"ratio rocker/tar: {r / g:.2f}x  (target: <= 1.5x)")
        rc, gc = statistics.median(CPU["rocker"]), statistics.median(CPU["tar"])
        print(f"CPU time (user+sys) medians: rocker {rc:.3f}s, tar {gc:.3f}s, ratio "
              f"{rc / gc:.2f}x  (steadier than wall time on a busy machine)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
