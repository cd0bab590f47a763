"""rocker-runtime as an OCI runtime, through its command line (as root): the lifecycle the
callers drive (create with the caller's stdio and a pid file, start, state with no monitor,
exec, ps, pause/resume, kill, delete), run's exit code, hooks, the console socket, user
namespaces, the caller's cgroupsPath, and a failed create that leaves nothing behind."""

from __future__ import annotations

import array
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.integration.oci_helpers import Runtime, make_bundle, read_config, runtime_wrapper, \
    write_config

CG_MEMORY = "/sys/fs/cgroup/memory"


@pytest.fixture
def rt(tmp_path):
    r = Runtime(runtime_wrapper(str(tmp_path)), str(tmp_path / "state"))
    yield r
    r.cleanup()


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def _cgroup_dirs(rel: str) -> list[str]:
    return [os.path.join("/sys/fs/cgroup", h, rel) for h in os.listdir("/sys/fs/cgroup")
            if os.path.isdir(os.path.join("/sys/fs/cgroup", h, rel))]


def test_lifecycle_with_the_callers_stdio_pid_file_and_cgroups_path(rt, tmp_path):
    cgpath = f"rockertest-{os.getpid()}/c1"
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "echo out; echo err >&2; exec sleep 60"],
                         linux={"cgroupsPath": "/" + cgpath,
                                "resources": {"pids": {"limit": 50},
                                              "devices": [{"allow": False, "access": "rwm"}]}})
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        rt("create", "--bundle", bundle, "--pid-file", str(tmp_path / "pid"), "c1",
           stdout=o, stderr=e, capture_output=False)
    st = rt.state("c1")
    assert st["status"] == "created" and st["id"] == "c1" and st["bundle"] == bundle
    assert (tmp_path / "pid").read_text() == str(st["pid"])  # written before create returned
    assert out.read_text() == ""  # nothing of the command runs before start
    cg = _cgroup_dirs(cgpath)
    assert cg and all(str(st["pid"]) in open(os.path.join(d, "cgroup.procs")).read().split()
                      for d in cg)
    assert open(f"/sys/fs/cgroup/pids/{cgpath}/pids.max").read().strip() == "50"
    rt("start", "c1")
    assert rt.state("c1")["status"] == "running"
    assert _wait(lambda: out.read_text() == "out\n" and err.read_text() == "err\n")
    p = rt("exec", "c1", "sh", "-c", "echo $$; exit 7", check=False)
    assert p.returncode == 7 and p.stdout.strip().isdigit()
    p = rt("exec", "--env", "GREETING=hi", "--cwd", "/tmp", "c1", "sh", "-c",
           'echo "$GREETING $(pwd)"')
    assert p.stdout == "hi /tmp\n"
    assert st["pid"] in json.loads(rt("ps", "--format", "json", "c1").stdout)
    rt("pause", "c1")
    assert rt.state("c1")["status"] == "paused"
    p = rt("delete", "c1", check=False)
    assert p.returncode == 1 and "not stopped" in p.stderr
    rt("resume", "c1")
    assert rt.state("c1")["status"] == "running"
    rt("update", "--pids-limit", "60", "c1")
    assert open(f"/sys/fs/cgroup/pids/{cgpath}/pids.max").read().strip() == "60"
    rt("kill", "c1", "KILL")
    assert _wait(lambda: rt.state("c1")["status"] == "stopped")
    p = rt("kill", "c1", "TERM", check=False)
    assert p.returncode == 1 and "container not running" in p.stderr
    rt("delete", "c1")
    p = rt("state", "c1", check=False)
    assert p.returncode == 1 and "container does not exist" in p.stderr
    assert _cgroup_dirs(cgpath) == []  # the container's cgroup is gone ...
    for d in _cgroup_dirs(os.path.dirname(cgpath)):  # ... the caller's folder is the caller's
        os.rmdir(d)


def test_run_returns_the_exit_code_and_runs_the_hooks(rt, tmp_path):
    pre, post, start = tmp_path / "prestart.json", tmp_path / "poststop.json", tmp_path / "cc"
    hook = "/bin/sh"
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "cat /hooked; exit 3"], hooks={
        "prestart": [{"path": hook, "args": ["sh", "-c", f"cat > {pre}"]}],
        "createContainer": [{"path": hook, "args": ["sh", "-c", f"cat > {start}"]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo started > /hooked"]}],
        "poststop": [{"path": hook, "args": ["sh", "-c", f"cat > {post}"]}],
    })
    p = rt("run", "--bundle", bundle, "r1", check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "started\n"  # startContainer ran inside the container, before the command
    state = json.loads(pre.read_text())
    assert state["id"] == "r1" and state["pid"] > 0 and state["bundle"] == bundle
    assert json.loads(start.read_text())["status"] == "created"
    assert json.loads(post.read_text())["status"] == "stopped"
    assert not os.path.exists(os.path.join(rt.root, "r1"))  # run deletes what it made


def test_a_failing_hook_fails_create_and_leaves_nothing(rt, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["true"],
                         hooks={"createRuntime": [{"path": "/bin/false"}]},
                         linux={"cgroupsPath": f"/rockertest-{os.getpid()}-fail"})
    p = rt("create", "--bundle", bundle, "f1", check=False)
    assert p.returncode == 1 and "createRuntime hook /bin/false failed" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(rt.root, "f1"))
    assert _cgroup_dirs(f"rockertest-{os.getpid()}-fail") == []


def test_console_socket_gets_the_pty_master(rt, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "tty; echo hi; sleep 60"])
    cfg = read_config(bundle)
    cfg["process"]["terminal"] = True
    write_config(bundle, cfg)
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    rt("create", "--bundle", bundle, "--console-socket", path, "t1")
    conn, _ = srv.accept()
    fds = array.array("i")
    _msg, anc, _flags, _addr = conn.recvmsg(256, socket.CMSG_LEN(fds.itemsize))
    fds.frombytes(anc[0][2])
    master = fds[0]
    conn.close()
    srv.close()
    try:
        rt("start", "t1")
        seen = b""
        deadline = time.monotonic() + 10
        while b"hi" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 1024)
        assert b"/dev/pts/0" in seen and b"hi" in seen
        p = rt("create", "--bundle", bundle, "t2", check=False)
        assert p.returncode == 1 and "--console-socket" in p.stderr
    finally:
        os.close(master)
        rt("delete", "--force", "t1")


@pytest.fixture
def open_dir():
    """A folder the container's root in a user namespace can reach (pytest's tmp_path is
    0700 root's: the mapped root is `other` there, as runc documents for rootless)."""
    d = tempfile.mkdtemp(prefix="rockertest-userns-")
    os.chmod(d, 0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_user_namespace_mappings_rlimits_and_oom_score(rt, open_dir):
    bundle = make_bundle(os.path.join(open_dir, "b"), ["sh", "-c", "cat /proc/self/uid_map "
                                               "/proc/self/gid_map; ulimit -n; "
                                               "cat /proc/self/oom_score_adj; id -u"])
    cfg = read_config(bundle)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}]
    cfg["process"]["oomScoreAdj"] = 123
    write_config(bundle, cfg)
    os.chown(os.path.join(bundle, "rootfs"), 200000, 200000)
    p = rt("run", "--bundle", bundle, "u1")
    lines = [" ".join(line.split()) for line in p.stdout.splitlines()]
    assert lines == ["0 200000 65536", "0 200000 65536", "512", "123", "0"]


def test_exec_detached_with_a_pid_file(rt, tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "60"])
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
             "capture_output": False}  # a detached container keeps the caller's stdio
    rt("run", "--detach", "--bundle", bundle, "e1", **quiet)
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sleep", "30"], "cwd": "/", "env": ["PATH=/bin"],
                                "user": {"uid": 1000, "gid": 1000}}))
    rt("exec", "--detach", "--pid-file", str(tmp_path / "epid"), "--process", str(proc), "e1",
       **quiet)
    pid = int((tmp_path / "epid").read_text())
    status = open(f"/proc/{pid}/status").read()
    assert "Uid:\t1000\t1000\t1000\t1000" in status
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(
        f"/proc/{rt.state('e1')['pid']}/ns/pid")
    p = rt("exec", "e1", "no-such-command", check=False)
    assert p.returncode == 127 and "no-such-command" in p.stderr
    rt("kill", "--all", "e1", "KILL")
    assert _wait(lambda: rt.state("e1")["status"] == "stopped")
    rt("delete", "e1")
