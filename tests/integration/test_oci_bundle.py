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

