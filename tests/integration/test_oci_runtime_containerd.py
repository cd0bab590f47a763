"""containerd drives rocker-runtime through its runc shim (io.containerd.runc.v2 with the
runtime binary rocker-runtime), as a Kubernetes node would.

containerd runs with a private config (its own root, state, sockets; the CRI plugin
disabled), started by the test and stopped by its PID. The image is the base image, saved
by rocker as a docker-archive and imported with `ctr image import`. The containers'
cgroups are where containerd puts them (/<namespace>/<id>): the test's own namespace, checked
empty at the end and removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.integration.oci_helpers import runtime_wrapper

IMAGE = "docker.io/library/busybox:latest"


@pytest.fixture
def ctr(tmp_path, busybox):
    if not shutil.which("containerd"):
        pytest.fail("containerd is missing: bash dev.sh setup installs it")
    d = tmp_path / "ctrd"
    d.mkdir()
    sock = str(d / "containerd.sock")
    (d / "config.toml").write_text(f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
''')
    log = open(d / "containerd.log", "w")
    daemon = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=log,
                              stderr=subprocess.STDOUT)
    ns = f"rockertest{os.getpid()}"
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.05)

    def run(*args, check=True, timeout=60):
        p = subprocess.run(["ctr", "--address", sock, "--namespace", ns, *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    run.runtime = runtime_wrapper(str(tmp_path))
    run.ns = ns
    try:
        archive = str(tmp_path / "busybox-archive.tar")
        busybox("save", "-o", archive, "busybox")
        run("image", "import", archive)
        yield run
    finally:
        for line in run("task", "ls", "-q", check=False).stdout.split():
            run("task", "kill", "-s", "KILL", line, check=False)
            run("task", "delete", "-f", line, check=False)
        for line in run("container", "ls", "-q", check=False).stdout.split():
            run("container", "delete", line, check=False)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        left = [os.path.join(h, ns) for h in os.listdir("/sys/fs/cgroup")
                if os.path.isdir(os.path.join("/sys/fs/cgroup", h, ns))]
        for rel in left:  # the namespace's folder: containerd's choice, the test's to remove
            path = os.path.join("/sys/fs/cgroup", rel)
            assert not [e for e in os.scandir(path) if e.is_dir()], \
                f"a container's cgroup was left under {path}"
            os.rmdir(path)


def test_ctr_run_exit_codes_and_rm(ctr):
    p = ctr("run", "--runc-binary", ctr.runtime, "--rm", IMAGE, "hello", "echo", "hi")
    assert p.stdout == "hi\n"
    p = ctr("run", "--runc-binary", ctr.runtime, "--rm", IMAGE, "five", "sh", "-c", "exit 5",
            check=False)
    assert p.returncode == 5
    assert ctr("container", "ls", "-q").stdout.split() == []


def test_ctr_exec_pause_resume_kill_delete(ctr):
    ctr("run", "-d", "--runc-binary", ctr.runtime, IMAGE, "long", "sleep", "300")
    tasks = ctr("task", "ls").stdout
    assert "long" in tasks and "RUNNING" in tasks
    pid = int(tasks.split("long")[1].split()[0])
    assert open(f"/proc/{pid}/cgroup").read().count(f"/{ctr.ns}/long") >= 1  # cgroupsPath
    p = ctr("task", "exec", "--exec-id", "e1", "long", "sh", "-c", "echo in-exec; exit 4",
            check=False)
    assert (p.returncode, p.stdout) == (4, "in-exec\n")
    ctr("task", "pause", "long")
    assert "PAUSED" in ctr("task", "ls").stdout
    ctr("task", "resume", "long")
    assert "RUNNING" in ctr("task", "ls").stdout
    ctr("task", "kill", "-s", "KILL", "long")
    deadline = time.monotonic() + 10
    while "STOPPED" not in ctr("task", "ls").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "STOPPED" in ctr("task", "ls").stdout
    ctr("task", "delete", "long")
    ctr("container", "delete", "long")
    assert not os.path.exists(f"/sys/fs/cgroup/memory/{ctr.ns}/long")
