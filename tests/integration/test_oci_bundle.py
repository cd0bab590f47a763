"""Issue 9 item 2: the launcher runs an OCI runtime-spec config.json, and the config is honest
OCI: `runc run` of a copy whose root.path points at an unpacked image runs the same process
with the same isolation (user, hostname, capabilities, no_new_privs, seccomp, masked and
read-only paths, devices, mounts, environment)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

from tests.integration.helpers import inspect, run_d, wait_for

# what a process can see of its isolation, stdout only (stderr order differs between the two)
PROBE = ("id; hostname; grep -E '^(Cap|NoNew|Seccomp)' /proc/self/status; "
         "cat /proc/kcore 2>/dev/null | wc -c; "
         "echo x 2>/dev/null > /proc/sys/kernel/ns_last_pid || echo read-only-proc-sys; "
         "unshare -U true 2>/dev/null || echo no-user-namespaces; "
         "mount -t tmpfs x /mnt 2>/dev/null || echo no-mount; "
         "ls /dev | grep -v '^core$' | tr '\\n' ' '; echo; "
         "awk '$2 != \"/\" && $2 !~ /systemd/ {print $2, $3, $4 ~ /(^|,)ro(,|$)/}' /proc/mounts"
         " | sort | tr '\\n' ';'; echo; pwd; env | sort | grep -v '^HOSTNAME='; echo done")


def test_runc_runs_a_rocker_config_with_the_same_isolation(busybox, tmp_path, base_image_tar):
    runc = shutil.which("runc")
    assert runc, "runc is missing: bash dev.sh setup installs it"
    cid = run_d(busybox, "--name", "probe", "-w", "/tmp", "-e", "GREETING=hi", "busybox",
                "sh", "-c", PROBE + "; sleep 60")
    path = inspect(busybox, "probe")["OCIConfigPath"]
    wait_for(lambda: "done" in busybox("logs", "probe").stdout, what="the probe's output")
    ours = busybox("logs", "probe").stdout
    cfg = json.load(open(path))
    assert cfg["ociVersion"].startswith("1.")
    assert {n["type"] for n in cfg["linux"]["namespaces"]} >= {"pid", "mount", "network",
                                                                "ipc", "uts", "cgroup"}
    assert cfg["linux"]["seccomp"]["syscalls"] and cfg["linux"]["maskedPaths"]
    # the same config, on an unpacked copy of the image, in a cgroup of the test's own
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["tar", "-xf", base_image_tar, "-C", str(bundle / "rootfs")], check=True)
    cfg["root"]["path"] = str(bundle / "rootfs")
    cg = f"/rk-runc-test-{cid[:12]}"
    cfg["linux"]["cgroupsPath"] = cg
    cfg["process"]["args"][-1] = cfg["process"]["args"][-1].replace("; sleep 60", "")
    (bundle / "config.json").write_text(json.dumps(cfg))
    state = tmp_path / "runc-state"
    try:
        p = subprocess.run([runc, "--root", str(state), "run", "-b", str(bundle),
                            f"rk-test-{cid[:12]}"], capture_output=True, text=True, timeout=60)
    finally:
        subprocess.run([runc, "--root", str(state), "delete", "-f", f"rk-test-{cid[:12]}"],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    # one known difference, where rocker is the stricter: on cgroup v1 rocker also makes the
    # tmpfs that holds the hierarchies read-only; runc leaves that tmpfs writable
    assert p.stdout == ours.replace("/sys/fs/cgroup tmpfs 1;", "/sys/fs/cgroup tmpfs 0;"), \
        f"rocker:\n{ours}\nrunc:\n{p.stdout}"
    assert "CapEff:\t00000000a80425fb" in ours and "NoNewPrivs:\t1" in ours
    assert "Seccomp:\t2" in ours and "no-user-namespaces" in ours and "no-mount" in ours
    assert "read-only-proc-sys" in ours and "GREETING=hi" in ours and "/tmp\n" in ours
    busybox("rm", "-f", "probe")
    assert glob.glob(f"/sys/fs/cgroup/*{cg}") == []
    assert not os.path.exists(path)



LAUNCH = r'''
import json, os, sys
from rocker.launcher import ocispec, syscalls
from rocker.launcher.launch import create
syscalls.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: the init is ours to reap
spec = ocispec.to_launch(json.load(open(sys.argv[1])))
out_r, out_w = os.pipe()
null = os.open("/dev/null", os.O_RDONLY)
created = create(spec, [], (null, out_w, out_w))
os.close(out_w)
before = os.readlink(f"/proc/{created.pid}/ns/net")  # created: namespaces made, no command
exe = os.readlink(f"/proc/{created.pid}/exe")  # still rocker's python, not the command
started = created.start()
text = b""
while chunk := os.read(out_r, 4096):
    text += chunk
_, status = os.waitpid(started.pid, 0)
print(json.dumps({"before": before, "exit": os.waitstatus_to_exitcode(status),
                  "ran_before_start": "python" not in exe, "out": text.decode()}))
'''


def test_launcher_creates_then_starts_and_joins_a_namespace_by_path(busybox, tmp_path):
    """create() stops before the user's command; start() runs it; a namespace given by path
    in linux.namespaces is joined (the network of a running container), the others are new."""
    run_d(busybox, "--name", "host-ns", "busybox", "sleep", "60")
    rec = inspect(busybox, "host-ns")
    pid = rec["State"]["Pid"]
    cfg = json.load(open(rec["OCIConfigPath"]))
    for d in ("upper", "work", "rootfs"):
        (tmp_path / d).mkdir()
    ann = cfg["annotations"]
    ann["io.rocker.overlay.upperdir"] = str(tmp_path / "upper")
    ann["io.rocker.overlay.workdir"] = str(tmp_path / "work")
    cfg["root"]["path"] = str(tmp_path / "rootfs")
    cfg["linux"]["namespaces"] = [
        {"type": t, **({"path": f"/proc/{pid}/ns/net"} if t == "network" else {})}
        for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    from tests.conftest import REPO
    import sys
    p = subprocess.run([sys.executable, "-c", LAUNCH, str(tmp_path / "config.json")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert len(got["out"].split()) == 2, got
    net, ipc = got["out"].split()
    assert got["exit"] == 0 and not got["ran_before_start"]
    assert net == os.readlink(f"/proc/{pid}/ns/net") == got["before"]
    assert ipc != os.readlink(f"/proc/{pid}/ns/ipc")  # not joined: a new one
    busybox("rm", "-f", "host-ns")
