"""rocker.util.fstree: the symlink-safe, iterative walker of container-writable trees."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

from rocker.images.diff import write_upper_tar
from rocker.util import fstree

DEPTH = 1100


def make_deep(top: str, depth: int = DEPTH, leaf: bytes = b"deep") -> None:
    fd = os.open(top, fstree.DIR_FLAGS)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", fstree.DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = nfd
    wfd = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(wfd, leaf)
    os.close(wfd)
    os.close(fd)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_walk_never_follows_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "f").write_text("x")
    os.symlink(str(outside), tree / "link")
    os.symlink(str(outside / "secret"), tree / "a" / "flink")
    top = fstree.open_dir(str(tree))
    try:
        seen = [(k, e.rel) for k, e in fstree.walk(top, post=True)]
    finally:
        os.close(top)
    assert seen == [("enter", "a"), ("other", "a/f"), ("other", "a/flink"), ("leave", "a"),
                    ("other", "link")]


def test_deep_tree_walk_size_and_removal_hold_few_descriptors(tmp_path):
    (tmp_path / "t").mkdir()
    make_deep(str(tmp_path / "t"), leaf=b"12345")
    before = open_fds()
    top = fstree.open_dir(str(tmp_path / "t"))
    most = 0
    n = 0
    for _kind, _e in fstree.walk(top, post=True):
        n += 1
        most = max(most, open_fds())
    os.close(top)
    assert n == 2 * DEPTH + 1
    assert most <= before + 4
    assert fstree.tree_size(str(tmp_path / "t")) == 5
    fstree.remove_tree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()
    assert open_fds() == before


def test_deep_tree_removal_under_a_nofile_limit_of_1024(tmp_path):
    (tmp_path / "t").mkdir()
    make_deep(str(tmp_path / "t"))
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))\n"
            "from rocker.util.fstree import remove_tree\n"
            "remove_tree(sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "t")], check=True)
    assert not (tmp_path / "t").exists()


def test_removal_does_not_follow_symlinks_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(str(outside), tree / "link")
    (tree / "sub").mkdir()
    os.symlink(str(outside / "keep"), tree / "sub" / "k")
    fstree.remove_tree(str(tree))
    assert not tree.exists()
    assert (outside / "keep").read_text() == "k"


def test_layer_tar_of_a_deep_tree(tmp_path):
    (tmp_path / "up").mkdir()
    make_deep(str(tmp_path / "up"))
    buf = io.BytesIO()
    try:
        write_upper_tar(str(tmp_path / "up"), buf)
    finally:
        fstree.remove_tree(str(tmp_path / "up"))   # pytest's own clean-up would recurse
    buf.seek(0)
    names = tarfile.open(fileobj=buf).getnames()
    assert len(names) == DEPTH + 1
    assert names[-1] == "/".join(["d"] * DEPTH) + "/leaf"


def test_a_folder_moved_during_the_walk_stops_it(tmp_path):
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "other").mkdir()
    top = fstree.open_dir(str(tree))
    try:
        with pytest.raises(fstree.TreeChanged):
            for kind, e in fstree.walk(top):
                if kind == "enter" and e.rel == "a/b":
                    # the container moves the folder the walk is in somewhere else
                    os.rename(tree / "a", tree / "other" / "a")
    finally:
        os.close(top)


def test_swap_of_a_listed_folder_for_a_symlink_is_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    up = tmp_path / "up"
    (up / "a").mkdir(parents=True)
    (up / "z").mkdir()
    (up / "z" / "f").write_text("mine")
    tmp_link = tmp_path / "lnk"
    os.symlink(str(outside), tmp_link)

    def skip(rel, st):
        if rel == "a":   # the walk is about to go on to "z": swap it for a symlink to the host
            os.rename(tmp_link, up / "zz")
            os.rename(up / "z", tmp_path / "z-moved")
            os.rename(up / "zz", up / "z")
        return False

    buf = io.BytesIO()
    write_upper_tar(str(up), buf, skip=skip)
    buf.seek(0)
    tf = tarfile.open(fileobj=buf)
    members = {m.name: m for m in tf.getmembers()}
    assert "z/secret" not in members
    assert members["z"].issym()
