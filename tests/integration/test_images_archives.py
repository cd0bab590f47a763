"""Archives end to end, as root: rocker save -> podman load -> podman run and podman save ->
rocker load -> rocker run (docker-archive and oci-archive), OCI layout folders (skopeo), IDs
kept both ways, `import` of an image archive refused, hostile and corrupt archives refused
with nothing registered, `export` of a container, an image with many layers, prune and df.
podman runs with its own --root/--runroot in the test's temp folder and the ulimits this host
allows."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from tests.integration.helpers import one_line_error
from tests.integration.test_registry_support import Layout, sha, tar_of


class Podman:
    def __init__(self, folder) -> None:
        if shutil.which("podman") is None:
            pytest.skip("podman is not installed (dev.sh installs it)")
        d = str(folder)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    f'[engine]\ntmp_dir = "{d}/tmp"\nevents_logger = "file"\n'
                    f'events_logfile_path = "{d}/events.log"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=f"{d}/containers.conf")
        import tempfile
        self.runroot = tempfile.mkdtemp(prefix="rk-podman-", dir="/tmp")  # <= 50 characters
        self.base = ["podman", "--root", f"{d}/root", "--runroot", self.runroot,
                     "--storage-driver", "vfs"]

    def __call__(self, *args: str) -> str:
        p = subprocess.run(self.base + list(args), env=self.env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, f"podman {' '.join(args)}: {p.stderr}"
        return p.stdout

    def run(self, image: str, *cmd: str) -> str:
        return self("run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                    "--ulimit", "nproc=1024:1024", image, *cmd)

    def image_id(self, image: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", image).strip()


@pytest.fixture
def podman(tmp_path):
    p = Podman(tmp_path / "podman")
    yield p
    subprocess.run(p.base + ["rm", "-af"], env=p.env, capture_output=True)
    shutil.rmtree(p.runroot, ignore_errors=True)


def rocker_id(r, ref: str) -> str:
    return json.loads(r("image", "inspect", ref).stdout)[0]["Id"]


def test_rocker_save_podman_load_run(busybox, podman, tmp_path):
    r = busybox
    r("tag", "busybox", "saved/app:2")
    out = tmp_path / "saved.tar"
    r("save", "-o", str(out), "saved/app:2")
    podman("load", "-i", str(out))
    assert podman.run("docker.io/saved/app:2", "echo", "in podman") == "in podman\n"
    assert podman.image_id("docker.io/saved/app:2") == rocker_id(r, "saved/app:2")[7:]
    # the same tar is an OCI archive and a docker-archive to skopeo
    if shutil.which("skopeo"):
        for transport in ("oci-archive", "docker-archive"):
            p = subprocess.run(["skopeo", "inspect", "--config", f"{transport}:{out}"],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            assert json.loads(p.stdout)["rootfs"]["diff_ids"]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_save_rocker_load_run(rocker, podman, tmp_path, base_image_tar, fmt):
    podman("import", base_image_tar, "localhost/pbox:1")
    out = tmp_path / f"{fmt}.tar"
    podman("save", "--format", fmt, "-o", str(out), "localhost/pbox:1")
    p = rocker("load", "-i", str(out))
    assert "Loaded image: localhost/pbox:1" in p.stdout
    assert rocker("run", "--rm", "localhost/pbox:1", "echo", "in rocker").stdout == \
        "in rocker\n"
    assert rocker_id(rocker, "localhost/pbox:1")[7:] == podman.image_id("localhost/pbox:1")
    # stdin works too, and a second load registers nothing new
    with open(out, "rb") as f:
        p = rocker("load", input=f.read())
    assert b"Loaded image: localhost/pbox:1" in p.stdout


def test_oci_layout_folder_and_many_layers(rocker, tmp_path, base_image_tar):
    layout = Layout(tmp_path / "layout")
    with open(base_image_tar, "rb") as f:
        layers = [(f.read(), "gzip")]
    for i in range(70):     # more than the mount data page holds with full paths
        layers.append((tar_of([("file", f"layer/{i}", f"{i}\n".encode())]), "none"))
    layers.append((tar_of([("file", "layer/.wh.0", b"")]), "none"))
    desc = layout.image(layers, {"Cmd": ["sh", "-c", "ls /layer | wc -l; cat /layer/69"]})
    layout.tag("many", desc)
    rocker("load", "-i", layout.path)
    p = rocker("images", "--format", "json")
    row = json.loads(p.stdout)[0]
    assert row["Id"] == desc["config_digest"]
    assert rocker("run", "--rm", row["Id"]).stdout == "69\n69\n"


def test_import_of_an_image_archive_is_refused_with_a_hint(busybox, tmp_path):
    out = tmp_path / "saved.tar"
    busybox("save", "-o", str(out), "busybox")
    before = busybox("images", "-q").stdout
    p = busybox("import", str(out), "broken", check=False)
    assert p.returncode == 1 and "rocker load -i" in one_line_error(p)
    assert busybox("images", "-q").stdout == before
    with open(out, "rb") as f:
        p = busybox("import", "-", "broken", input=f.read(), check=False)
    assert p.returncode == 1 and "rocker load" in p.stderr.decode()


def _archive(tmp_path, members: list[tuple]) -> str:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tf:
        for m in members:
            ti = tarfile.TarInfo(m[1])
            if m[0] == "file":
                ti.size = len(m[2])
                tf.addfile(ti, io.BytesIO(m[2]))
            elif m[0] == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, m[2]
                tf.addfile(ti)
    return str(path)


def test_hostile_and_corrupt_archives_are_refused(rocker, tmp_path, base_image_tar):
    victim = tmp_path / "victim"
    victim.write_text("secret")
    cfg = json.dumps({"os": "linux", "architecture": "amd64", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha(b"x")]}}).encode()
    cases = [
        [("file", "../escape", b"x")],
        [("file", "/abs", b"x")],
        [("file", "manifest.json", json.dumps([{"Config": "../victim", "Layers": []}])
          .encode())],
        [("symlink", "c.json", "../../victim"),
         ("file", "manifest.json", json.dumps([{"Config": "c.json", "Layers": []}]).encode())],
        [("file", "manifest.json", b"not json")],
        [("file", "c.json", cfg), ("file", "l.tar", tar_of([("file", "y", b"y")])),
         ("file", "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l.tar"],
                                                "RepoTags": ["evil:1"]}]).encode())],
        [("file", "rootfs-only", b"hello")],
    ]
    for members in cases:
        p = rocker("load", "-q", "-i", _archive(tmp_path, members), check=False)
        assert p.returncode == 1, (members, p.stderr)
        assert p.stderr.startswith("rocker: ") and len(p.stderr.strip().splitlines()) == 1, \
            p.stderr
    assert victim.read_text() == "secret"
    assert rocker("images", "-q").stdout == ""
    images = os.path.join(rocker.root, "images")
    for sub in ("configs", "layers", "tmp"):
        assert not os.path.exists(os.path.join(images, sub)) or \
            os.listdir(os.path.join(images, sub)) == [], sub
    p = rocker("load", "-i", str(tmp_path / "nosuch.tar"), check=False)
    assert p.returncode == 1 and "no such file" in one_line_error(p)
    # a truncated archive
    good = tmp_path / "good.tar"
    rocker("import", base_image_tar, "busybox")
    rocker("save", "-o", str(good), "busybox")
    data = good.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    rocker("rmi", "busybox")
    p = rocker("load", "-i", str(cut), check=False)
    assert p.returncode == 1 and rocker("images", "-q").stdout == ""


def test_export_a_container(busybox, tmp_path):
    r = busybox
    r("run", "--name", "c", "busybox", "sh", "-c",
      "echo new > /root/new.txt; rm /bin/vi; mkdir -p /srv/x; echo y > /srv/x/y")
    out = tmp_path / "c.tar"
    r("export", "-o", str(out), "c")
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        assert tf.extractfile("root/new.txt").read() == b"new\n"
    assert "bin/vi" not in names and "bin/sh" in names and "srv/x/y" in names
    r("import", str(out), "flat")
    assert r("run", "--rm", "flat", "cat", "/srv/x/y").stdout == "y\n"
    assert r("run", "--rm", "flat", "sh", "-c", "test -e /bin/vi || echo gone").stdout == \
        "gone\n"
    p = r("export", "nosuch", check=False)
    assert p.returncode == 1


def test_prune_and_df(busybox, tmp_path):
    r = busybox
    r("import", str(_archive(tmp_path, [("file", "a", b"a" * 10000)])), "other")
    r("import", str(_archive(tmp_path, [("file", "a", b"b" * 10000)])), "other")   # <none>
    assert "<none>" in r("images").stdout
    df = r("system", "df").stdout
    assert df.splitlines()[1].split()[:3] == ["Images", "3", "0"]
    p = r("image", "prune")
    assert "Deleted:" in p.stdout and "<none>" not in r("images").stdout
    r("create", "--name", "keep", "busybox", "true")
    r("image", "prune", "-a")
    assert r("images", "--format", "json").stdout.count('"Repository"') == 1   # busybox stays
