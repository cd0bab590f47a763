"""Unit tests of rocker-runtime (rocker.ociruntime) that need no root: where a container's
cgroup goes (cgroupsPath), linux.resources written to fake v1 and v2 cgroupfs trees, the
device rules, signals, the state folder and its status, the default spec and features, and
the command line's errors (stderr and --log, text and json)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from rocker.errors import InvalidInput, NotFound
from rocker.launcher import ocispec
from rocker.ociruntime import container, defaults, resources
from rocker.ociruntime.state import CREATED, RUNNING, STOPPED, Store, check_id, status
from tests.conftest import REPO
from tests.unit.test_cgroups_v1 import make_layout as make_v1
from tests.unit.test_cgroups_v2 import make_root as make_v2


@pytest.mark.parametrize("path, cid, want", [
    ("", "c1", ("rocker", "rt-c1")),
    (None, "c1", ("rocker", "rt-c1")),
    ("/default/c1", "c1", ("default", "c1")),           # containerd
    ("/libpod_parent/libpod-abc", "abc", ("libpod_parent", "libpod-abc")),
    ("/test", "x", ("", "test")),                        # right below the hierarchy root
    ("a/b/c", "x", ("a/b", "c")),
])
def test_cgroups_path_is_honoured(path, cid, want):
    assert resources.location(path, cid) == want


@pytest.mark.parametrize("path", ["/a/../b", "/", "machine.slice:libpod:abc", "/a/./b"])
def test_bad_cgroups_paths_are_one_clear_error(path):
    with pytest.raises(InvalidInput):
        resources.location(path, "c1")


RES = {"memory": {"limit": 50 * 2**20, "reservation": 20 * 2**20, "swap": 100 * 2**20,
                  "swappiness": 10, "disableOOMKiller": True},
       "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
       "pids": {"limit": 100}}


def test_resources_on_cgroup_v1_at_the_callers_path(tmp_path):
    layout = make_v1(tmp_path)
    m = resources.manager("default", "c1", layout)
    m.create()
    mem = m.dir("memory")  # files the v1 fake lacks but the kernel has
    for name in ("memory.swappiness", "memory.kmem.limit_in_bytes"):
        with open(os.path.join(mem, name), "w") as f:
            f.write("0")
    assert resources.apply(m, RES) == []
    assert m.dir("memory") == os.path.join(layout.controllers["memory"], "default", "c1")

    def rd(ctl, name):
        return open(os.path.join(m.dir(ctl), name)).read().strip()
    assert rd("memory", "memory.limit_in_bytes") == str(50 * 2**20)
    assert rd("memory", "memory.memsw.limit_in_bytes") == str(100 * 2**20)
    assert rd("memory", "memory.soft_limit_in_bytes") == str(20 * 2**20)
    assert rd("memory", "memory.swappiness") == "10"
    assert rd("memory", "memory.oom_control") == "1"
    assert (rd("cpu", "cpu.shares"), rd("cpu", "cpu.cfs_quota_us"),
            rd("cpu", "cpu.cfs_period_us")) == ("512", "50000", "100000")
    assert (rd("cpuset", "cpuset.cpus"), rd("cpuset", "cpuset.mems")) == ("0-1", "0")
    assert rd("pids", "pids.max") == "100"
    m.destroy()
    # the container's own folder goes; the caller's `default` stays (it is the caller's)
    assert not os.path.exists(os.path.join(layout.controllers["memory"], "default", "c1"))
    assert os.path.isdir(os.path.join(layout.controllers["memory"], "default"))


def test_resources_on_cgroup_v2(tmp_path):
    layout = make_v2(tmp_path)
    m = resources.manager("default", "c1", layout)
    m.create()
    resources.apply(m, RES)

    def rd(name):
        return open(os.path.join(m.path, name)).read().strip()
    assert m.path == os.path.join(layout.root, "default", "c1")
    assert rd("memory.max") == str(50 * 2**20)
    assert rd("memory.swap.max") == str(50 * 2**20)  # v2 counts swap alone
    assert rd("memory.low") == str(20 * 2**20)
    assert rd("cpu.max") == "50000 100000"
    assert rd("cpu.weight") == str(1 + (510 * 9999) // 262142)
    assert rd("pids.max") == "100"


def test_a_kernel_memory_limit_the_kernel_refuses_is_a_warning(tmp_path):
    layout = make_v1(tmp_path)
    m = resources.manager("", "c1", layout)
    m.create()
    warnings = resources.apply(m, {"memory": {"kernel": 2**20}})
    assert warnings and "memory.kernel ignored" in warnings[0]


@pytest.mark.parametrize("res, word", [
    ({"network": {"classID": 1}}, "net_cls"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, "hugetlb"),
])
def test_resources_rocker_cannot_honour_are_refused(tmp_path, res, word):
    m = resources.manager("", "c1", make_v1(tmp_path))
    m.create()
    with pytest.raises(InvalidInput, match=word):
        resources.apply(m, res)


def test_device_rules_in_order_then_the_defaults(tmp_path):
    layout = make_v1(tmp_path)
    m = resources.manager("", "c1", layout)
    m.create()
    log = []
    orig = resources.fs.write
    resources.fs.write = lambda path, value, **kw: log.append((os.path.basename(path), value))
    try:
        resources.setup_devices(m, [{"allow": False, "access": "rwm"},
                                    {"allow": True, "type": "b", "major": 8, "minor": 0,
                                     "access": "r"}],
                                [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    finally:
        resources.fs.write = orig
    assert log[:3] == [("devices.deny", "a"), ("devices.allow", "b 8:0 r"),
                       ("devices.allow", "c 10:229 rwm")]
    assert [v for _f, v in log[3:]] == list(resources.DEFAULT_DEVICE_RULES)


@pytest.mark.parametrize("text, sig", [("TERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL),
                                       ("9", 9), ("hup", signal.SIGHUP)])
def test_signals(text, sig):
    assert container.parse_signal(text) == sig


@pytest.mark.parametrize("text", ["NOPE", "0", "999", ""])
def test_bad_signals(text):
    with pytest.raises(InvalidInput):
        container.parse_signal(text)


@pytest.mark.parametrize("cid", ["", "a/b", "..", "a b", "x" * 2000])
def test_bad_ids(cid):
    with pytest.raises(InvalidInput):
        check_id(cid)


def test_status_comes_from_the_kernel_not_the_record(tmp_path):
    store = Store(str(tmp_path))
    store.claim("c1")
    st = {"id": "c1", "bundle": "/b", "cgroup": ["", "c1"], "hooks": {}}
    from rocker.ociruntime.state import record_pid
    record_pid(st, os.getpid())
    os.mkfifo(store.path("c1", "go.fifo"))
    assert status(store, "c1", st) == CREATED
    os.unlink(store.path("c1", "go.fifo"))
    assert status(store, "c1", st) == RUNNING
    st["pid_start"] += 1  # another process with the same pid
    assert status(store, "c1", st) == STOPPED
    child = subprocess.Popen(["true"])
    child.wait()
    record_pid(st, child.pid)
    assert status(store, "c1", st) == STOPPED
    with pytest.raises(NotFound, match="container not running"):
        from rocker.ociruntime.state import signal_init
        signal_init(st, signal.SIGTERM)


def test_the_default_spec_is_one_the_launcher_runs():
    spec = defaults.default_spec()
    spec["root"]["path"] = "/tmp/rootfs"
    launch = ocispec.to_launch(spec)
    assert launch["lower"] is None and launch["readonly_root"]
    assert launch["process"]["rlimits"] == [(7, 1024, 1024)]
    assert {n["type"] for n in launch["namespaces"]} == {"pid", "network", "ipc", "uts",
                                                          "mount", "cgroup"}


def test_features_name_the_hooks_and_namespaces():
    f = defaults.features()
    assert f["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                          "poststart", "poststop"]
    assert "user" in f["linux"]["namespaces"] and f["linux"]["cgroup"]["systemd"] is False


def test_user_namespace_and_process_settings_reach_the_launcher():
    spec = defaults.default_spec()
    spec["root"]["path"] = "/tmp/rootfs"
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    spec["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    spec["process"]["oomScoreAdj"] = 100
    spec["hooks"] = {"startContainer": [{"path": "/bin/true", "timeout": 3}]}
    s = ocispec.to_launch(spec)
    assert s["userns"] and s["uid_mappings"] == [(0, 100000, 65536)]
    assert s["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert s["devices"][0]["major"] == 10 and s["devices"][0]["mode"] == 0o666
    assert s["process"]["oom_score_adj"] == 100
    assert s["hooks"]["startContainer"] == [{"path": "/bin/true", "args": ["/bin/true"],
                                             "env": [], "timeout": 3}]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "rocker.ociruntime", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60, **kw)


def test_cli_refuses_systemd_cgroups_clearly(tmp_path):
    p = _cli("--root", str(tmp_path), "--systemd-cgroup", "state", "x")
    assert p.returncode == 1 and "--systemd-cgroup is not supported" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_cli_errors_go_to_the_json_log(tmp_path):
    log = tmp_path / "log.json"
    p = _cli("--root", str(tmp_path), "--log", str(log), "--log-format", "json", "kill", "nope")
    assert p.returncode == 1 and "container does not exist: nope" in p.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container does not exist: nope"
    p = _cli("--root", str(tmp_path), "--log", str(tmp_path / "log.txt"), "delete", "nope")
    assert p.returncode == 1
    assert 'level=error msg="container does not exist: nope"' in (tmp_path / "log.txt").read_text()


def test_cli_version_spec_and_delete_force_of_nothing(tmp_path):
    p = _cli("--version")
    assert p.returncode == 0 and p.stdout.startswith("rocker-runtime version ")
    p = _cli("spec", "--bundle", str(tmp_path))
    assert p.returncode == 0
    assert json.loads((tmp_path / "config.json").read_text())["process"]["args"] == ["sh"]
    p = _cli("spec", "--bundle", str(tmp_path))
    assert p.returncode == 1 and "exists already" in p.stderr
    assert _cli("--root", str(tmp_path / "r"), "delete", "--force", "nope").returncode == 0
    p = _cli("--root", str(tmp_path / "r"), "list", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout) == []


def test_cli_create_of_a_bad_bundle_leaves_nothing(tmp_path):
    (tmp_path / "b").mkdir()
    p = _cli("--root", str(tmp_path / "r"), "create", "--bundle", str(tmp_path / "b"), "c1")
    assert p.returncode == 1 and "no config.json in bundle" in p.stderr
    assert not (tmp_path / "r" / "c1").exists()
