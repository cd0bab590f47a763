"""Concurrent imports into one store: 8 processes at once leave it consistent."""

from __future__ import annotations

import gzip
import json
import os
import subprocess

from tests.unit.test_images_tarutil import make_tar


def test_eight_concurrent_imports(rocker, base_image_tar, tmp_path):
    raw = open(base_image_tar, "rb").read()
    gz = tmp_path / "bb.tar.gz"
    gz.write_bytes(gzip.compress(raw, compresslevel=1))
    small = [make_tar(tmp_path / f"s{i}.tar", [("dir", "d"), ("file", f"d/f{i}", b"x" * i * 100),
                                                ("file", "common", b"c")]) for i in (1, 2)]
    jobs = [(base_image_tar, f"c{i}") for i in range(4)] + [(str(gz), "c4"), (str(gz), "c5")] \
        + [(small[0], "c6"), (small[1], "c7")]
    procs = [rocker.popen("import", src, ref, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) for src, ref in jobs]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    for (src, ref), (rc, out, err) in zip(jobs, results):
        assert rc == 0, (ref, err)
        assert out.startswith(f"Imported {ref}:latest (ID: "), out
    listing = rocker("images").stdout.splitlines()[1:]
    assert sorted(line.split()[0] for line in listing) == [f"c{i}" for i in range(8)]
    images = os.path.join(rocker.root, "images")
    assert os.listdir(os.path.join(images, "tmp")) == []
    layers = os.listdir(os.path.join(images, "layers"))
    assert len(layers) == 3
    for hexid in layers:
        d = os.path.join(images, "layers", hexid)
        assert sorted(os.listdir(d)) == ["blob", "diff", "layer.json"]
        meta = json.load(open(os.path.join(d, "layer.json")))
        assert meta["diff_id"] == "sha256:" + hexid
    for i in range(8):
        info = json.loads(rocker("image", "inspect", f"c{i}").stdout)[0]
        d = os.path.join(images, "layers", info["RootFS"]["Layers"][0][7:], "diff")
        if i < 6:
            assert os.stat(os.path.join(d, "bin/busybox")).st_nlink > 100
            assert info["Size"] == os.stat(os.path.join(d, "bin/busybox")).st_size + sum(
                os.path.getsize(os.path.join(d, "etc", f)) for f in os.listdir(
                    os.path.join(d, "etc"))) + os.path.getsize(os.path.join(d, "www/index.html"))
    refs = json.load(open(os.path.join(images, "repositories.json")))["refs"]
    assert sorted(refs) == [f"c{i}:latest" for i in range(8)]


def test_concurrent_import_and_rmi_of_shared_layer(rocker, base_image_tar):
    """Removing an image while others import the same layer never leaves a dangling image."""
    rocker("import", base_image_tar, "first")
    procs = [rocker.popen("import", base_image_tar, f"n{i}", stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) for i in range(4)]
    procs.append(rocker.popen("rmi", "first", stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
        p.stderr.close()
    for i in range(4):
        info = json.loads(rocker("image", "inspect", f"n{i}").stdout)[0]
        d = os.path.join(rocker.root, "images", "layers", info["RootFS"]["Layers"][0][7:])
        assert os.path.isfile(os.path.join(d, "layer.json"))
        assert os.path.isfile(os.path.join(d, "diff", "bin", "busybox"))
    assert os.listdir(os.path.join(rocker.root, "images", "tmp")) == []
