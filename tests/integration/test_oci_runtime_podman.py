"""podman drives rocker-runtime (`--runtime`), through conmon, as it drives runc or crun.

podman gets a private store (--root, --runroot, --tmpdir in the test's folder) and a private
containers.conf (CONTAINERS_CONF): rocker-runtime registered as a runtime and listed in
runtime_supports_json (podman decides by the runtime's name whether to pass --log-format
json), cgroupfs (no systemd here), the file events backend, the rlimits this sandbox allows
(nofile/nproc 1024). Containers run with --network none: podman's networks would change the
host's firewall. The image is the base image, saved by rocker and loaded with `podman load`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.integration.oci_helpers import runtime_wrapper

IMAGE = "docker.io/library/busybox:latest"


@pytest.fixture
def store():
    """podman's store: a short path (podman refuses a runroot longer than 50 characters)."""
    d = tempfile.mkdtemp(prefix="rkpm-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def podman(tmp_path, store, busybox):
    if not shutil.which("podman"):
        pytest.fail("podman is missing: bash dev.sh setup installs it")
    runtime = runtime_wrapper(str(tmp_path))
    conf = tmp_path / "containers.conf"
    conf.write_text(f'''[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "rocker-runtime"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "rocker-runtime"]
[engine.runtimes]
rocker-runtime = ["{runtime}"]
''')
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    base = ["podman", "--root", f"{store}/root", "--runroot", f"{store}/run",
            "--tmpdir", f"{store}/tmp", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file", "--runtime", runtime]

    def run(*args, check=True, timeout=60):
        p = subprocess.run(base + list(args), capture_output=True, text=True, env=env,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    run.created = []  # ids of the containers a test made
    archive = str(tmp_path / "busybox-archive.tar")
    busybox("save", "-o", archive, "busybox")
    run("load", "-i", archive)
    try:
        yield run
    finally:
        run("rm", "-af", "-t", "0", check=False)
        # podman's own cgroups (cgroupfs: libpod_parent/libpod-<id>) went with its containers
        left = [d for d in os.listdir("/sys/fs/cgroup/memory/libpod_parent")
                if d.startswith("libpod-")] if os.path.isdir(
            "/sys/fs/cgroup/memory/libpod_parent") else []
        ours = [d for d in left if any(d.endswith(c) for c in run.created)]
        assert not ours, f"container cgroups left: {ours}"


def test_podman_run_rm_exit_codes(podman):
    p = podman("run", "--rm", "--network", "none", IMAGE, "echo", "hi")
    assert p.stdout == "hi\n"
    assert podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "exit 7",
                  check=False).returncode == 7
    p = podman("run", "--rm", "--network", "none", IMAGE, "no-such-command", check=False)
    assert p.returncode == 127 and "executable file not found" in p.stderr
    assert podman("ps", "-aq").stdout.split() == []


def test_podman_detached_exec_stop_rm(podman):
    cid = podman("run", "-d", "--name", "p1", "--network", "none", IMAGE,
                 "sleep", "300").stdout.strip()
    podman.created.append(cid)
    assert "Up" in podman("ps", "--filter", "name=p1").stdout
    p = podman("exec", "p1", "sh", "-c", "echo in-exec; exit 3", check=False)
    assert (p.returncode, p.stdout) == (3, "in-exec\n")
    assert podman("exec", "-t", "p1", "tty").stdout.strip() == "/dev/pts/0"
    podman("stop", "-t", "1", "p1")
    assert "Exited (137)" in podman("ps", "-a", "--filter", "name=p1").stdout
    podman("rm", "p1")
    assert podman("ps", "-aq").stdout.split() == []
