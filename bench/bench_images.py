"""Benchmark: `rocker pull` against `podman pull` of the same multi-layer image from a local
registry (Debian's docker-registry on 127.0.0.1, storage in a temp folder), and `rocker save`
/ `rocker load` against `podman save` / `podman load` of it, side by side.

The image: the base image plus LAYERS generated layers (many small files, some medium ones,
gzip), written as an OCI layout once and fed to the registry with `skopeo copy`. Every run
starts from an empty store (a fresh rocker --root; podman `rmi -a` on its private store, the
overlay driver), so both download and unpack everything. Medians of --runs.
Everything runs in a private network and mount namespace (bench/common.py), with the leak
check before and after. Run: .venv/bin/python bench/bench_images.py [--runs N] [--layers N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def layer_tar(rnd: random.Random, i: int) -> bytes:
    block = rnd.randbytes(1 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for j in range(800):
            n = rnd.choice((200, 1500, 6000, 30000))
            start = rnd.randrange(0, len(block) - n)
            ti = tarfile.TarInfo(f"data{i}/d{j % 40}/f{j}")
            ti.size, ti.mtime = n, 1700000000
            tf.addfile(ti, io.BytesIO(block[start:start + n]))
        for j in range(3):
            data = rnd.randbytes(2 << 20)
            ti = tarfile.TarInfo(f"data{i}/big{j}")
            ti.size, ti.mtime = len(data), 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_layout(path: str, layers: int) -> None:
    rnd = random.Random(7)
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)

    def blob(data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    with open(common.BASE_IMAGE, "rb") as f:
        raws = [f.read()] + [layer_tar(rnd, i) for i in range(layers)]
    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
              **blob(gzip.compress(r, 6, mtime=0))} for r in raws]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [
                          "sha256:" + hashlib.sha256(r).hexdigest() for r in raws]}}).encode()
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 **blob(cfg)}, "layers": descs}).encode()
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(man),
            "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)


def median(xs: list[float]) -> float:
    import statistics
    return statistics.median(xs)


def row(what: str, rocker: list[float], podman: list[float]) -> str:
    r, p = median(rocker), median(podman)
    return f"{what:<8} rocker {r:6.2f} s   podman {p:6.2f} s   ratio {r / p:4.2f}x"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    for tool in ("docker-registry", "skopeo", "podman"):
        if not common.have(tool):
            print(f"{tool} is missing (bash dev.sh installs it)")
            return 1
    common.in_private_netns()
    common.bench_start()
    work = tempfile.mkdtemp(prefix="rocker-bench-images-")
    reg = None
    podman = common.Podman()
    try:
        layout = os.path.join(work, "layout")
        make_layout(layout, args.layers)
        port = common.free_port()
        with open(os.path.join(work, "registry.yml"), "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {work}/registry\nhttp:\n  addr: 127.0.0.1:{port}\n")
        reg = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        common.wait_http(port)
        ref = f"127.0.0.1:{port}/bench:1"
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{layout}:bench", f"docker://{ref}"], check=True)
        size = sum(os.path.getsize(os.path.join(layout, "blobs", "sha256", n))
                   for n in os.listdir(os.path.join(layout, "blobs", "sha256")))
        print(f"image: {args.layers + 1} layers, {size / 1e6:.1f} MB compressed; "
              f"{common.load()}; {podman.info()}")
        pulls_r, pulls_p, saves_r, saves_p, loads_r, loads_p = [], [], [], [], [], []
        for i in range(args.runs):
            root = common.Root()
            try:
                pulls_r.append(root.timed("pull", "-q", ref))
                out = os.path.join(work, "r.tar")
                saves_r.append(root.timed("save", "-o", out, ref))
                root.run("rmi", ref)
                loads_r.append(root.timed("load", "-q", "-i", out))
            finally:
                root.close()
            podman.run("rmi", "-af", check=False)
            t0 = time.perf_counter()
            podman.run("pull", "-q", "--tls-verify=false", ref)
            pulls_p.append(time.perf_counter() - t0)
            out = os.path.join(work, "p.tar")
            if os.path.exists(out):
                os.unlink(out)
            t0 = time.perf_counter()
            podman.run("save", "-q", "-o", out, ref)
            saves_p.append(time.perf_counter() - t0)
            podman.run("rmi", "-af", check=False)
            t0 = time.perf_counter()
            podman.run("load", "-q", "-i", os.path.join(work, "r.tar"))
            loads_p.append(time.perf_counter() - t0)
            print(f"run {i + 1}: pull {pulls_r[-1]:.2f}/{pulls_p[-1]:.2f} s, save "
                  f"{saves_r[-1]:.2f}/{saves_p[-1]:.2f} s, load {loads_r[-1]:.2f}/"
                  f"{loads_p[-1]:.2f} s (rocker/podman)")
        print(row("pull", pulls_r, pulls_p))
        print(row("save", saves_r, saves_p))
        print(row("load", loads_r, loads_p))
    finally:
        if reg is not None:
            reg.terminate()
            reg.wait()
        podman.close()
        shutil.rmtree(work, ignore_errors=True)
    common.bench_end()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
