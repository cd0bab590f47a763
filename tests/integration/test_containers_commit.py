"""`rocker commit`: a container's changes (with deletions) become a new image on the base layers."""

from __future__ import annotations

import json

from tests.integration.helpers import one_line_error, run_d, wait_running


def _layers(r, ref: str) -> list[str]:
    return json.loads(r("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]


def test_commit_changes_and_deletions(busybox):
    busybox("run", "--name", "c", "busybox", "sh", "-c",
            "echo changed > /etc/motd-new && echo more >> /etc/hosts.allow; "
            "rm /bin/vi && rm -r /usr/share 2>/dev/null; mkdir -p /data/sub && "
            "echo deep > /data/sub/f; true")
    img_id = busybox("commit", "-m", "my change", "c", "snap:1").stdout.strip()
    assert img_id
    out = busybox("run", "--rm", "snap:1", "sh", "-c",
                  "cat /etc/motd-new /data/sub/f; test -e /bin/vi; echo vi=$?; "
                  "test -e /bin/ls; echo ls=$?").stdout
    assert out.splitlines() == ["changed", "deep", "vi=1", "ls=0"]
    # the base image is unchanged
    out = busybox("run", "--rm", "busybox", "sh", "-c",
                  "test -e /bin/vi; echo vi=$?; test -e /etc/motd-new; echo new=$?").stdout
    assert out.splitlines() == ["vi=0", "new=1"]
    images = busybox("images").stdout
    assert any(ln.split()[:2] == ["snap", "1"] for ln in images.splitlines()), images
    base = _layers(busybox, "busybox")
    new = _layers(busybox, "snap:1")
    assert new[:len(base)] == base and len(new) == len(base) + 1
    info = json.loads(busybox("image", "inspect", "snap:1").stdout)[0]
    assert info["Id"].startswith("sha256:")
    assert img_id in info["Id"]


def test_commit_of_a_commit_stacks_layers(busybox):
    busybox("run", "--name", "c1", "busybox", "sh", "-c", "echo 1 > /one")
    busybox("commit", "c1", "s:1")
    busybox("run", "--name", "c2", "s:1", "sh", "-c", "echo 2 > /two; rm /one")
    busybox("commit", "c2", "s:2")
    assert len(_layers(busybox, "s:2")) == len(_layers(busybox, "busybox")) + 2
    out = busybox("run", "--rm", "s:2", "sh", "-c", "cat /two; test -e /one; echo one=$?").stdout
    assert out.splitlines() == ["2", "one=1"]


def test_commit_of_a_running_container(busybox):
    cid = run_d(busybox, "busybox", "sh", "-c", "echo live > /live; sleep 100")
    wait_running(busybox, cid)
    busybox("exec", cid, "test", "-f", "/live")
    busybox("commit", cid, "live:1")
    assert busybox("run", "--rm", "live:1", "cat", "/live").stdout == "live\n"


def test_commit_with_changes_sets_config(busybox):
    busybox("run", "--name", "c", "busybox", "true")
    busybox("commit", "-c", "ENV GREETING=hey", "-c", "WORKDIR /srv",
            "-c", 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', "c", "cfg:1")
    assert busybox("run", "--rm", "cfg:1").stdout == "hey from /srv\n"


def test_commit_with_opaque_directory(busybox):
    # a deleted directory re-created: the old content must not show through
    busybox("run", "--name", "c0", "busybox", "sh", "-c",
            "mkdir -p /d/sub && echo a > /d/a && echo b > /d/sub/b")
    busybox("commit", "c0", "opaque:0")
    busybox("run", "--name", "c", "opaque:0", "sh", "-c",
            "rm -r /d && mkdir /d && echo only > /d/only")
    busybox("commit", "c", "opaque:1")
    out = busybox("run", "--rm", "opaque:1", "ls", "-A", "/d").stdout.split()
    assert out == ["only"]


def test_commit_errors(busybox):
    p = busybox("commit", "nosuch", "x:1", check=False)
    assert p.returncode != 0
    one_line_error(p)
    busybox("run", "--name", "c", "busybox", "true")
    p = busybox("commit", "c", "Bad Name", check=False)
    assert p.returncode != 0
    one_line_error(p)
