"""Image commands end to end, as root: import (all compressions, stdin), special files,
whiteouts, tag, rmi, inspect, commit of an overlay upper dir (checked through a real overlay
mount in a private mount namespace)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess

import pytest

from rocker.images.store import ImageStore
from rocker.paths import Paths
from tests.unit.test_images_tarutil import compress, make_tar

LINE = re.compile(r"^Imported (\S+) \(ID: ([0-9a-f]{12}), Size: (\d+(?:\.\d+)?[kMGT]?B)\)$")


def store_of(rocker) -> ImageStore:
    return ImageStore(Paths(rocker.root, rocker.runroot))


def layer_of(rocker, ref: str) -> str:
    s = store_of(rocker)
    return s.layer_dirs(s.resolve(ref))[0]


def assert_clean_tmp(rocker):
    tmp = os.path.join(rocker.root, "images", "tmp")
    assert not os.path.exists(tmp) or os.listdir(tmp) == []


def test_import_base_image(rocker, base_image_tar):
    p = rocker("import", base_image_tar, "busybox")
    m = LINE.match(p.stdout.strip())
    assert m, p.stdout
    assert m.group(1) == "busybox:latest" and m.group(3) == "1.98MB"
    out = rocker("images").stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE", "CREATED"]
    row = out[1].split()
    assert row[:4] == ["busybox", "latest", m.group(2), "1.98MB"]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", " ".join(row[4:]))
    # columns are aligned: every field starts where its header does
    for h in ("TAG", "IMAGE ID", "SIZE", "CREATED"):
        assert out[0].index(h) == out[1].index(row[["TAG", "IMAGE ID", "SIZE",
                                                     "CREATED"].index(h) + 1])
    assert rocker("images", "-q").stdout.split() == [m.group(2)]
    layer = layer_of(rocker, "busybox")
    with open(base_image_tar, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert os.path.basename(os.path.dirname(layer)) == digest
    # hardlinks stay hardlinks
    st = os.stat(os.path.join(layer, "bin/busybox"))
    assert st.st_nlink > 100 and os.stat(os.path.join(layer, "bin/sh")).st_ino == st.st_ino
    assert stat.S_IMODE(os.stat(os.path.join(layer, "tmp")).st_mode) == 0o1777
    assert_clean_tmp(rocker)


def test_images_empty_hint_and_json(rocker):
    p = rocker("images")
    assert "rocker import" in p.stdout and len(p.stdout.strip().splitlines()) == 1
    assert rocker("images", "-q").stdout == ""
    assert json.loads(rocker("images", "--format", "json").stdout) == []


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_imports(rocker, base_image_tar, tmp_path, compression):
    raw = open(base_image_tar, "rb").read()
    path = tmp_path / f"bb.tar.{compression}"
    path.write_bytes(compress(raw, compression))
    p = rocker("import", str(path), f"bb:{compression}")
    assert LINE.match(p.stdout.strip())
    layer = layer_of(rocker, f"bb:{compression}")
    assert os.path.basename(os.path.dirname(layer)) == hashlib.sha256(raw).hexdigest()
    assert os.path.isfile(os.path.join(layer, "bin/busybox"))


def test_import_from_stdin(rocker, base_image_tar):
    raw = open(base_image_tar, "rb").read()
    p = rocker("import", "-", "bb:stdin", "-c", 'CMD ["sh"]', "-c", "ENV K=V", "-m", "piped",
               input=compress(raw, "gz"))
    assert p.stdout.decode().startswith("Imported bb:stdin (ID: ")
    info = json.loads(rocker("image", "inspect", "bb:stdin").stdout)
    assert info[0]["Config"]["Cmd"] == ["sh"] and info[0]["Config"]["Env"] == ["K=V"]
    assert info[0]["Comment"] == "piped"
    assert info[0]["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]


def test_special_files(rocker, tmp_path):
    tar = make_tar(tmp_path / "s.tar", [
        ("dir", "d", {"mode": 0o1777, "uid": 1234, "gid": 5678}),
        ("file", "d/suid", b"#!/bin/sh\n", {"mode": 0o4755, "uid": 1234, "gid": 5678}),
        ("file", "sgid", b"x", {"mode": 0o2711, "uid": 0, "gid": 5678}),
        ("hardlink", "d/suid-link", "d/suid"),
        ("chr", "null", 1, 3, {"mode": 0o666}),
        ("blk", "loopX", 7, 200, {"mode": 0o660, "gid": 6}),
        ("fifo", "pipe", {"mode": 0o620, "uid": 42}),
        ("symlink", "abs-link", "/etc/passwd", {"uid": 1234, "gid": 5678}),
        ("file", "x-attr", b"x", {"pax_headers": {"SCHILY.xattr.user.note": "hello",
                                                  "SCHILY.xattr.trusted.t": "v"}}),
    ])
    rocker("import", tar, "special")
    layer = layer_of(rocker, "special")
    st = os.lstat(os.path.join(layer, "d"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o1777, 1234, 5678)
    st = os.lstat(os.path.join(layer, "d/suid"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1234, 5678)
    assert os.lstat(os.path.join(layer, "d/suid-link")).st_ino == st.st_ino
    st = os.lstat(os.path.join(layer, "sgid"))
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o2711, 5678)
    st = os.lstat(os.path.join(layer, "null"))
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    st = os.lstat(os.path.join(layer, "loopX"))
    assert stat.S_ISBLK(st.st_mode) and os.minor(st.st_rdev) == 200 and st.st_gid == 6
    st = os.lstat(os.path.join(layer, "pipe"))
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620 and st.st_uid == 42
    st = os.lstat(os.path.join(layer, "abs-link"))
    assert stat.S_ISLNK(st.st_mode) and (st.st_uid, st.st_gid) == (1234, 5678)
    assert os.readlink(os.path.join(layer, "abs-link")) == "/etc/passwd"
    assert os.getxattr(os.path.join(layer, "x-attr"), "trusted.t") == b"v"
    try:
        assert os.getxattr(os.path.join(layer, "x-attr"), "user.note") == b"hello"
    except OSError:
        pass  # filesystem without user xattrs


def _overlay_ls(lowers: list[str], tmp_path, script: str) -> str:
    """Mount lowers (top first) read-only in a private mount namespace and run `script`."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    cmd = (f"mount -t overlay overlay -o lowerdir={':'.join(lowers)} {mnt} && cd {mnt} && "
           f"{script}")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_whiteouts(rocker, tmp_path):
    base = make_tar(tmp_path / "base.tar", [
        ("file", "keep", b"k"), ("file", "gone", b"g"), ("dir", "opq"),
        ("file", "opq/old", b"o"), ("dir", "dir-gone"), ("file", "dir-gone/f", b"f")])
    top = make_tar(tmp_path / "top.tar", [
        ("file", ".wh.gone"), ("file", ".wh.dir-gone"), ("dir", "opq"),
        ("file", "opq/.wh..wh..opq"), ("file", "opq/new", b"n"),
        ("file", ".wh..wh.plnk")])
    rocker("import", base, "wh-base")
    rocker("import", top, "wh-top")
    layer = layer_of(rocker, "wh-top")
    for name in ("gone", "dir-gone"):
        st = os.lstat(os.path.join(layer, name))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(layer, "opq"), "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(layer)) == ["dir-gone", "gone", "opq"]
    assert os.listdir(os.path.join(layer, "opq")) == ["new"]
    out = _overlay_ls([layer, layer_of(rocker, "wh-base")], tmp_path, "ls -A . opq")
    assert out.split() == [".:", "keep", "opq", "opq:", "new"]


def test_commit_upper_dir_with_whiteouts(rocker, tmp_path):
    base = make_tar(tmp_path / "base.tar", [
        ("file", "keep", b"k"), ("file", "gone", b"g"), ("dir", "opq"),
        ("file", "opq/old", b"o")])
    rocker("import", base, "cbase", "-c", 'CMD ["sh"]')
    upper = tmp_path / "upper"
    (upper / "opq").mkdir(parents=True)
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq/new").write_text("n")
    os.mknod(upper / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (upper / "added").write_text("a")
    os.chown(upper / "added", 1234, 5678)
    os.chmod(upper / "added", 0o4750)
    s = store_of(rocker)
    img = s.commit(str(upper), "cbase", "committed", changes=["ENV X=1"], message="snap")
    assert img.config["Cmd"] == ["sh"] and img.config["Env"] == ["X=1"]
    dirs = s.layer_dirs(img)
    assert len(dirs) == 2
    st = os.lstat(os.path.join(dirs[0], "gone"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(dirs[0], "opq"), "trusted.overlay.opaque") == b"y"
    st = os.lstat(os.path.join(dirs[0], "added"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4750, 1234, 5678)
    out = _overlay_ls(dirs, tmp_path, "ls -A . opq")
    assert out.split() == [".:", "added", "keep", "opq", "opq:", "new"]
    p = rocker("images")
    assert "committed" in p.stdout and "cbase" in p.stdout
    assert_clean_tmp(rocker)


def test_tag_rmi_inspect(busybox, tmp_path):
    rocker = busybox
    iid = json.loads(rocker("image", "inspect", "busybox").stdout)[0]["Id"]
    rocker("tag", "busybox", "mybox:v1")
    rows = [line.split()[:3] for line in rocker("images").stdout.splitlines()[1:]]
    assert sorted(rows) == [["busybox", "latest", iid[7:19]], ["mybox", "v1", iid[7:19]]]
    info = json.loads(rocker("image", "inspect", "mybox:v1", iid[7:15]).stdout)
    assert len(info) == 2 and info[0]["Id"] == iid
    assert sorted(info[0]["RepoTags"]) == ["busybox:latest", "mybox:v1"]
    for key in ("Id", "RepoTags", "Created", "Size", "Config", "RootFS", "History", "Comment"):
        assert key in info[0]
    assert info[0]["Size"] > 1_900_000
    # untag only
    p = rocker("rmi", "mybox:v1")
    assert p.stdout.strip() == "Untagged: mybox:v1"
    # a second image that shares the layer
    rocker("tag", "busybox", "keep:1")
    other = rocker("import", "-m", "x", "--", os.path.join(os.path.dirname(__file__), "..", "..",
                                                "base-image", "busybox.tar"),
                   "other").stdout
    assert "Imported other:latest" in other
    p = rocker("rmi", iid[7:19], check=False)  # by id with two references: needs -f
    assert p.returncode != 0 and "several references" in p.stderr
    p = rocker("rmi", "-f", iid[7:19])  # -f: both references of that image go
    lines = p.stdout.splitlines()
    assert "Untagged: busybox:latest" in lines and "Untagged: keep:1" in lines
    assert f"Deleted: {iid}" in lines
    assert not any(line.startswith("Deleted: sha256:") and line != f"Deleted: {iid}"
                   for line in lines), "shared layer must stay"
    s = store_of(rocker)
    assert s.layer_dirs(s.resolve("other"))
    p = rocker("rmi", "other")
    assert len([x for x in p.stdout.splitlines() if x.startswith("Deleted:")]) == 2
    assert os.listdir(os.path.join(rocker.root, "images", "layers")) == []
    assert_clean_tmp(rocker)


def test_errors_are_one_line(busybox, tmp_path):
    rocker = busybox
    for args, needle in [
        (("image", "inspect", "nope"), "no such image"),
        (("rmi", "nope"), "no such image"),
        (("tag", "nope", "x"), "no such image"),
        (("tag", "busybox", "Bad Name"), "invalid reference"),
        (("import", str(tmp_path / "missing.tar"), "x"), "no such file"),
        (("import", str(tmp_path), "x"), "folder"),
        (("import", "-", "x", "-c", "RUN true"), "unknown instruction"),
    ]:
        p = rocker(*args, check=False, input="")
        assert p.returncode != 0, args
        err = p.stderr.strip().splitlines()
        assert len(err) == 1 and needle in err[0] and "Traceback" not in p.stderr, (args, err)


def test_rmi_refuses_image_in_use(busybox):
    rocker = busybox
    iid = json.loads(rocker("image", "inspect", "busybox").stdout)[0]["Id"]
    cdir = os.path.join(rocker.root, "containers", "c" * 64)
    os.makedirs(cdir)
    with open(os.path.join(cdir, "container.json"), "w") as f:
        json.dump({"id": "c" * 64, "name": "web", "image_id": iid}, f)
    try:
        p = rocker("rmi", "busybox", check=False)
        assert p.returncode != 0 and "web" in p.stderr
        p = rocker("rmi", "-f", "busybox")
        assert p.stdout.strip() == "Untagged: busybox:latest"
        assert rocker("images", "-q").stdout.strip() == iid[7:19]
        assert "<none>" in rocker("images").stdout
    finally:
        import shutil
        shutil.rmtree(os.path.join(rocker.root, "containers"))
    p = rocker("rmi", iid[7:19])
    assert f"Deleted: {iid}" in p.stdout


def test_corrupt_config_listing(busybox, tmp_path):
    rocker = busybox
    tar = make_tar(tmp_path / "x.tar", [("file", "x", b"1")])
    rocker("import", tar, "broken")
    s = store_of(rocker)
    with open(s.config_path(s.resolve("broken").id), "w") as f:
        f.write("{")
    p = rocker("images")
    assert p.returncode == 0
    assert "busybox" in p.stdout and "broken" in p.stdout and "warning" in p.stderr
    p = rocker("image", "inspect", "broken", check=False)
    assert p.returncode != 0 and "corrupt" in p.stderr
    rocker("rmi", "broken")
    assert "broken" not in rocker("images").stdout


def test_device_nodes_refused_when_not_root(tmp_path):
    from tests.integration.conftest import Rocker
    root = tmp_path / "nr"
    root.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chown(root, 65534, 65534)
    tar = make_tar(tmp_path / "dev.tar", [("file", "ok", b"1"), ("chr", "null", 1, 3)])
    os.chmod(tar, 0o644)
    r = Rocker(str(root / "root"), str(root / "run"))
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *r.argv(
        "import", tar, "dev")]
    # let uid 65534 reach tmp_path for the length of this test
    parents = [tmp_path.parent, tmp_path.parent.parent]
    modes = [stat.S_IMODE(os.stat(d).st_mode) for d in parents]
    try:
        for d in parents:
            os.chmod(d, 0o711)
        p = subprocess.run(argv, capture_output=True, text=True,
                           env=dict(r.env, HOME=str(root)), timeout=60)
    finally:
        for d, m in zip(parents, modes):
            os.chmod(d, m)
    assert p.returncode != 0 and "'null'" in p.stderr and "root" in p.stderr, p.stderr
    assert os.listdir(root / "root" / "images" / "tmp") == []
    assert os.listdir(root / "root" / "images" / "configs") == []
