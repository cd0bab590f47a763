"""Pure pieces of the runtime: user lookup, attach frames (no root)."""


import pytest

from rocker.errors import ContainerStartError
from rocker.attach import frames
from rocker.launcher.users import resolve_user


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
