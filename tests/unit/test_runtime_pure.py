"""Pure pieces of the runtime: secure_join, user lookup, attach frames (no root)."""

import os

import pytest

from rocker.errors import ContainerStartError
from rocker.attach import frames
from rocker.launcher.rootfs import secure_join
from rocker.launcher.users import resolve_user


def test_secure_join_never_leaves_the_root(tmp_path):
    root = str(tmp_path / "rootfs")
    os.makedirs(root + "/etc")
    os.symlink("/", root + "/escape")
    os.symlink("../../../../etc/shadow", root + "/etc/hosts")
    os.symlink("/etc", root + "/abs")
    assert secure_join(root, "/escape/etc/passwd") == root + "/etc/passwd"
    assert secure_join(root, "/etc/hosts") == root + "/etc/shadow"
    assert secure_join(root, "/../../x") == root + "/x"
    assert secure_join(root, "/abs/hostname") == root + "/etc/hostname"


def test_secure_join_symlink_loop(tmp_path):
    root = str(tmp_path)
    os.symlink("b", root + "/a")
    os.symlink("a", root + "/b")
    with pytest.raises(OSError):
        secure_join(root, "/a/x")


@pytest.fixture
def etc(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "www-data:x:33:33:www:/var/www:/bin/false\n")
    (tmp_path / "group").write_text("root:x:0:\nwww-data:x:33:\nextra:x:50:www-data\n")
    return str(tmp_path)


def test_users_from_the_images_files(etc):
    assert resolve_user("www-data", etc) == (33, 33, [50], "/var/www")
    assert resolve_user("33", etc) == (33, 33, [50], "/var/www")
    assert resolve_user("1000:1000", etc) == (1000, 1000, [], "/")
    assert resolve_user("root:extra", etc) == (0, 50, [], "/root")
    with pytest.raises(ContainerStartError, match="unable to find user bob"):
        resolve_user("bob", etc)
    with pytest.raises(ContainerStartError, match="unable to find group nogroup"):
        resolve_user("root:nogroup", etc)


def test_frames_round_trip_in_pieces():
    data = frames.pack(frames.STDOUT, b"hello") + frames.pack(frames.EXIT, b'{"exit_code": 3}')
    r = frames.Reader()
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert got == [(frames.STDOUT, b"hello"), (frames.EXIT, b'{"exit_code": 3}')]


def test_frames_refuse_oversized_announcements():
    r = frames.Reader()
    with pytest.raises(ValueError):
        r.feed(b"\x00\xff\xff\xff\xff")
