"""Unit tests of rocker.cgroups.detect: the cgroup layout from sample mountinfo texts."""

from __future__ import annotations

import pytest

from rocker.cgroups import HYBRID, V1, V2, Layout, detect, manager_for
from rocker.cgroups.detect import parse_mountinfo
from rocker.cgroups.v1 import V1Manager
from rocker.cgroups.v2 import V2Manager
from rocker.errors import HostError

PURE_V2 = """\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 22 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
"""

# this machine: every controller separate (cpu and cpuacct too), cgroup2 at unified/
HYBRID_SEPARATE = """\
28 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# classic systemd hybrid (Debian 10 / Ubuntu 20.04): co-mounted cpu,cpuacct
HYBRID_SYSTEMD = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
34 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset
35 25 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,freezer
36 25 0:33 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,devices
37 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,blkio
"""

PURE_V1 = """\
25 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - tmpfs tmpfs rw,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
34 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset,clone_children
35 25 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,freezer
"""

# "cgroup2" appears in the text (a directory name, a device name) but no cgroup2 filesystem
TRAP = PURE_V1 + """\
60 28 254:1 /srv/cgroup2 /mnt/cgroup2 rw,relatime - ext4 /dev/vda1 rw
61 28 0:50 / /mnt/cgroup2-test rw,relatime - tmpfs cgroup2 rw
"""

NONE = """\
28 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
"""

V2_ELSEWHERE = NONE + "40 28 0:38 / /run/cg rw,relatime - cgroup2 none rw\n"


def _detect(tmp_path, text, root="/sys/fs/cgroup"):
    f = tmp_path / "mountinfo"
    f.write_text(text)
    return detect(str(f), root)


def test_pure_v2(tmp_path):
    lay = _detect(tmp_path, PURE_V2)
    assert lay.mode == V2 and lay.version == 2
    assert lay.root == "/sys/fs/cgroup" and lay.controllers == {}
    assert isinstance(manager_for("c1", lay), V2Manager)
    assert manager_for("c1", lay).paths() == ["/sys/fs/cgroup/rocker/c1"]


def test_hybrid_like_this_machine(tmp_path):
    lay = _detect(tmp_path, HYBRID_SEPARATE)
    assert lay.mode == HYBRID and lay.version == 1
    assert lay.unified == "/sys/fs/cgroup/unified"
    assert lay.controllers["cpu"] == "/sys/fs/cgroup/cpu"
    assert lay.controllers["cpuacct"] == "/sys/fs/cgroup/cpuacct"
    assert "systemd" not in lay.controllers and "name=systemd" not in lay.controllers
    m = manager_for("c1", lay)
    assert isinstance(m, V1Manager)
    assert sorted(m.paths()) == sorted(
        f"/sys/fs/cgroup/{c}/rocker/c1"
        for c in ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio"))


def test_hybrid_systemd_comounted(tmp_path):
    lay = _detect(tmp_path, HYBRID_SYSTEMD)
    assert lay.mode == HYBRID
    assert lay.controllers["cpu"] == lay.controllers["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert lay.controllers["net_cls"] == "/sys/fs/cgroup/net_cls,net_prio"
    assert "xattr" not in lay.controllers
    m = manager_for("c1", lay)
    paths = m.paths()
    assert paths.count("/sys/fs/cgroup/cpu,cpuacct/rocker/c1") == 1
    assert not any("net_cls" in p for p in paths)
    assert m.dir("cpuacct") == m.dir("cpu")


def test_pure_v1(tmp_path):
    lay = _detect(tmp_path, PURE_V1)
    assert lay.mode == V1 and lay.unified is None
    assert lay.controllers["cpu"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert "clone_children" not in lay.controllers
    assert lay.hierarchies()["/sys/fs/cgroup/cpu,cpuacct"] == "cpu,cpuacct"
    m = manager_for("c1", lay)
    assert m.dir("blkio") is None and m.dir("devices") is None


def test_cgroup2_in_text_is_not_v2(tmp_path):
    assert "cgroup2" in TRAP
    assert _detect(tmp_path, TRAP).mode == V1


def test_no_cgroups(tmp_path):
    with pytest.raises(HostError, match="no cgroup filesystem"):
        _detect(tmp_path, NONE)


def test_v2_mounted_elsewhere_only(tmp_path):
    lay = _detect(tmp_path, V2_ELSEWHERE)
    assert lay.mode == V2 and lay.root == "/run/cg"


def test_other_root(tmp_path):
    text = PURE_V2.replace("/sys/fs/cgroup", "/tmp/cg")
    assert _detect(tmp_path, text, root="/tmp/cg").mode == V2
    # the same text with the default root is not v2 at /sys/fs/cgroup: v2 mounted elsewhere
    assert _detect(tmp_path, text).root == "/tmp/cg"


def test_escaped_mount_point():
    mounts = parse_mountinfo(
        "40 31 0:40 / /mnt/my\\040cgroups rw - cgroup cgroup rw,memory\n")
    assert mounts == [("/mnt/my cgroups", "cgroup", "rw,memory")]


def test_optional_fields_and_garbage():
    text = ("garbage line\n"
            "41 31 0:38 / /sys/fs/cgroup rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw\n")
    assert parse_mountinfo(text) == [("/sys/fs/cgroup", "cgroup2", "rw")]


def test_missing_mountinfo(tmp_path):
    with pytest.raises(HostError, match="cannot read"):
        detect(str(tmp_path / "nope"))


def test_this_host():
    lay = detect()
    assert lay.mode in (V1, V2, HYBRID)
    if lay.mode != V2:
        assert "memory" in lay.controllers


def test_layout_repr_and_equality():
    a = Layout(V1, controllers={"memory": "/x"})
    assert a == Layout(V1, controllers={"memory": "/x"})
    assert "memory" in repr(a)
