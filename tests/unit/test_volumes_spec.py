"""Mount specs (-v, --mount, --tmpfs, the stack file's volumes/tmpfs), the in-root resolver and
the symlink-safe tree copy, without root."""

from __future__ import annotations

import os
import stat

import pytest

from rocker.containers.config import build_config
from rocker.containers.mounts import parse_mount, parse_mounts, parse_tmpfs, parse_volume
from rocker.errors import InvalidInput
from rocker.launcher.mounts import open_in_root
from rocker.util.treecopy import copy_entry, copy_into


def test_short_syntax():
    assert parse_volume("/data") == {"type": "volume", "source": "", "target": "/data",
                                     "readonly": False}
    assert parse_volume("db:/var/lib/db:ro") == {"type": "volume", "source": "db",
                                                 "target": "/var/lib/db", "readonly": True}
    assert parse_volume("db:/x:nocopy")["nocopy"] is True
    b = parse_volume("/srv//www/:/www:ro,rslave")
    assert b == {"type": "bind", "source": "/srv//www/", "target": "/www", "readonly": True,
                 "create_host_path": True, "propagation": "rslave"}
    assert parse_volume("/a:/b/../c/./d")["target"] == "/c/d"


@pytest.mark.parametrize("spec, message", [
    ("rel:/x:zz", "invalid mode"),
    ("./rel:/x", "invalid volume name"),
    ("a:/x", "invalid volume name"),           # Docker: two characters at least
    ("db:/x:rslave", "invalid mode"),           # propagation is for binds
    ("/h:/x:nocopy", "invalid mode"),           # nocopy is for volumes
    ("/h:/x:ro,rw", "twice"),
    ("db:relative", "absolute"),
    ("db:/proc", "not allowed"),
    ("db:/proc/sys", "not allowed"),
    ("db:/sys", "not allowed"),
    ("db:/dev/", "not allowed"),
    ("db:/a/..", "not allowed"),
    ("a:b:c:d", r"use \[SOURCE:\]TARGET"),
    (":/x", "empty source"),
])
def test_short_syntax_errors(spec, message):
    with pytest.raises(InvalidInput, match=message):
        parse_volume(spec)


def test_long_syntax():
    assert parse_mount("type=bind,src=/h,dst=/x,readonly,bind-propagation=rshared") == {
        "type": "bind", "source": "/h", "target": "/x", "readonly": True,
        "propagation": "rshared"}
    assert parse_mount("target=/x") == {"type": "volume", "source": "", "target": "/x",
                                        "readonly": False}
    v = parse_mount("type=volume,source=db,target=/x,volume-nocopy,volume-label=a=b,ro=false")
    assert v == {"type": "volume", "source": "db", "target": "/x", "readonly": False,
                 "nocopy": True, "labels": {"a": "b"}}
    t = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert t == {"type": "tmpfs", "source": "", "target": "/t", "readonly": False,
                 "tmpfs_size": 64 << 20, "tmpfs_mode": 0o1770}
    assert parse_mount('type=bind,"source=/a,b",target=/x')["source"] == "/a,b"  # CSV quoting


@pytest.mark.parametrize("spec, message", [
    ("type=nfs,target=/x", "bind, volume or tmpfs"),
    ("type=bind,target=/x", "needs a source"),
    ("type=bind,src=rel,target=/x", "absolute"),
    ("type=tmpfs,src=x,target=/x", "no source"),
    ("type=tmpfs,target=/x,volume-nocopy", "not allowed for type tmpfs"),
    ("type=volume,target=/x,bind-propagation=shared", "not allowed for type volume"),
    ("type=bind,src=/h,target=/x,bind-propagation=sideways", "invalid bind-propagation"),
    ("type=tmpfs,target=/x,tmpfs-mode=999", "octal"),
    ("type=tmpfs,target=/x,tmpfs-size=lots", "tmpfs-size"),
    ("type=volume,source=db", "target"),
    ("type=volume,target=/x,colour=red", "unexpected key"),
    ("type=volume,target=/x,target=/y", "given twice"),
    ("type=volume,target=/x,readonly=maybe", "true or false"),
    ("type=volume,target=/x,volume-driver=nfs", "only local"),
])
def test_long_syntax_errors(spec, message):
    with pytest.raises(InvalidInput, match=message):
        parse_mount(spec)


def test_tmpfs_and_duplicates():
    assert parse_tmpfs(["/run", "/t:size=1m,mode=1777,exec"]) == {
        "/run": "", "/t": f"size={1 << 20},mode=1777,exec"}
    with pytest.raises(InvalidInput, match="invalid --tmpfs option"):
        parse_tmpfs(["/t:huge=always"])
    with pytest.raises(InvalidInput, match="duplicate mount point: /x"):
        parse_mounts({"volume": ["/x"], "mount": ["type=tmpfs,target=/x/"]})
    with pytest.raises(InvalidInput, match="duplicate mount point: /x"):
        parse_mounts({"volume": ["db:/x"]}, ["/x"])
    with pytest.raises(InvalidInput, match="too many mounts"):
        parse_mounts({"volume": [f"/d{i}" for i in range(129)]})


def test_stack_forms_give_the_cli_forms():
    stack = parse_mounts(["db:/data:ro", {"type": "bind", "source": "/h", "target": "/h",
                                         "bind": {"propagation": "rslave",
                                                  "create_host_path": True}},
                          {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1m",
                                                                      "mode": 1777}},
                          {"type": "volume", "source": "db2", "target": "/n",
                           "volume": {"nocopy": True}, "read_only": True}])
    cli = parse_mounts({"volume": ["db:/data:ro"], "mount": [
        "type=bind,src=/h,dst=/h,bind-propagation=rslave",
        "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777",
        "type=volume,src=db2,dst=/n,volume-nocopy,readonly"]})
    cli[1]["create_host_path"] = True
    assert stack == cli
    with pytest.raises(InvalidInput, match="unknown key"):
        parse_mounts([{"target": "/x", "colour": "red"}])


def test_fields_reach_the_config():
    cfg = build_config("busybox", mounts={"volume": ["db:/d"], "mount": []},
                       tmpfs=["/run"], read_only=True)
    assert cfg.mounts[0]["source"] == "db" and cfg.tmpfs == {"/run": ""} and cfg.read_only
    with pytest.raises(InvalidInput) as e:
        build_config("busybox", mounts={"volume": ["db:/proc"]})
    assert e.value.field == "mounts"


# -- the in-root resolver ------------------------------------------------------------------

@pytest.fixture
def root(tmp_path):
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("container\n")
    os.symlink("/", r / "escape")
    os.symlink("../../../../../etc", r / "up")
    os.symlink("/etc", r / "abs")
    os.symlink(str(tmp_path / "outside"), r / "host")   # a host path, absolute
    (tmp_path / "outside").mkdir()
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd, tmp_path
    os.close(fd)


def _where(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_resolution_never_leaves_the_root(root):
    r, rfd, tmp = root
    for path, want in (("/escape/etc/passwd", "etc/passwd"), ("/up/passwd", "etc/passwd"),
                       ("/abs/passwd", "etc/passwd"), ("/../../etc/passwd", "etc/passwd")):
        fd = open_in_root(rfd, path)
        try:
            assert _where(fd) == str(r / want), path
        finally:
            os.close(fd)
    with pytest.raises(FileNotFoundError):   # the host's folder is not the container's
        open_in_root(rfd, "/host")


def test_creation_follows_symlinks_inside_the_root_only(root):
    r, rfd, tmp = root
    with pytest.raises(OSError, match="dangling"):   # the host's folder is not in the root
        open_in_root(rfd, "/host/new/dir", create="dir")
    assert not os.listdir(tmp / "outside")   # nothing was made on the host side
    os.makedirs(r / str(tmp / "outside").lstrip("/"))
    fd = open_in_root(rfd, "/host/new/dir", create="dir")
    os.close(fd)
    assert (r / str(tmp / "outside").lstrip("/") / "new" / "dir").is_dir()
    assert not os.listdir(tmp / "outside")
    fd = open_in_root(rfd, "/up/newfile", create="file")
    os.close(fd)
    assert (r / "etc" / "newfile").is_file()
    os.symlink("/nowhere/../nowhere2", r / "dangling")
    with pytest.raises(OSError):
        open_in_root(rfd, "/dangling", create="dir")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    with pytest.raises(OSError):
        open_in_root(rfd, "/loop1/x", create="dir")


# -- the tree copy -------------------------------------------------------------------------

def test_copy_keeps_modes_and_symlinks_and_never_follows_them(tmp_path):
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "f").write_text("data")
    os.chmod(src / "d" / "f", 0o640)
    os.chmod(src / "d", 0o750)
    os.symlink("/etc/passwd", src / "d" / "link")
    os.mkfifo(src / "fifo")
    dst = tmp_path / "dst"
    dst.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    os.symlink(victim, dst / "d")   # a symlink where a folder comes: replaced, not followed
    s, d = os.open(src, os.O_RDONLY | os.O_DIRECTORY), os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copy_into(s, d, top=True)
        (src / "d2").write_text("file")
        (dst / "d2").mkdir()
        with pytest.raises(IsADirectoryError):   # a file never replaces a folder
            copy_entry(s, "d2", d, "d2")
    finally:
        os.close(s)
        os.close(d)
    assert not os.listdir(victim)
    assert not os.path.islink(dst / "d")
    assert (dst / "d" / "f").read_text() == "data"
    assert stat.S_IMODE(os.stat(dst / "d" / "f").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(dst / "d").st_mode) == 0o750
    assert os.readlink(dst / "d" / "link") == "/etc/passwd"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert (dst / "d" / "e").is_dir()
