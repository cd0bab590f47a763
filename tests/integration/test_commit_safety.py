"""Issue 8 items 2 and 3: commit never copies host files into an image (the folder <-> symlink
swap race), commit freezes a running container and a killed commit's freeze is undone, rocker's
/etc mount points stay out of commits, and trees 1100 folders deep neither break commit, rm -f,
run --rm nor garbage collection (under a nofile limit of 1024)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time

from tests.integration.helpers import run_d, wait_running

SECRET = "HOST-SECRET-7f3a"
DEEP = 1100
# mkdir -p of 1100 levels from the container (busybox sh: cd one level at a time)
MAKE_DEEP = (f"i=0; while [ $i -lt {DEEP} ]; do mkdir d && cd d || exit 1; i=$((i+1)); done; "
             "echo leaf > leaf")


def _layer_files(r, ref: str) -> dict[str, bytes]:
    """Files of the last layer of image `ref`, read from `rocker save`-less store layout:
    run the image and tar its changed folder instead would be indirect, so read the store."""
    info = json.loads(r("image", "inspect", ref).stdout)[0]
    diff_id = info["RootFS"]["Layers"][-1].split(":", 1)[1]
    top = os.path.join(r.root, "images", "layers", diff_id, "diff")
    out = {}
    for d, _dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            try:
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, top)] = fh.read()
            except OSError:
                pass
    return out


def _host_secret_dir(tmp_path) -> str:
    d = tmp_path / "host-secrets"
    d.mkdir()
    (d / "f").write_text(SECRET)
    (d / "g").write_text(SECRET)
    return str(d)


EXCHANGE = ("import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
            "AT=-100; r = libc.renameat2(AT, sys.argv[1].encode(), AT, sys.argv[2].encode(), 2); "
            "sys.exit(0 if r == 0 else 1)")


def test_commit_walk_never_follows_a_swapped_symlink(busybox, tmp_path):
    """Deterministic: the test hook swaps the folder being committed with a symlink to a host
    folder at the worst moment (the folder listed, its first file not read yet)."""
    host = _host_secret_dir(tmp_path)
    busybox("run", "--name", "c", "busybox", "sh", "-c", "mkdir /a && echo mine > /a/f")
    rec = json.load(open(os.path.join(busybox.root, "containers", _cid(busybox, "c"),
                                      "container.json")))
    upper = rec["rootfs"]["upper"]
    os.symlink(host, os.path.join(upper, "alink"))
    hook = f"{sys.executable} -c '{EXCHANGE}' {upper}/a {upper}/alink"
    env = dict(busybox.env, ROCKER_TEST_COMMIT_HOOK_AT="a/f", ROCKER_TEST_COMMIT_HOOK=hook)
    p = subprocess.run(busybox.argv("commit", "--no-pause", "c", "snap:1"), env=env,
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
                           os.path.dirname(os.path.abspath(__file__)))))
    assert p.returncode == 0, p.stderr
    assert os.path.islink(os.path.join(upper, "a")), "the hook did not swap"
    files = _layer_files(busybox, "snap:1")
    assert all(SECRET.encode() not in v for v in files.values()), files
    assert host not in p.stderr


def _cid(r, name: str) -> str:
    return json.loads(r("inspect", name).stdout)[0]["Id"]


def test_commit_racing_a_swap_loop_copies_no_host_file(busybox, tmp_path):
    """A container that swaps a folder and a symlink to a host path in a loop (renameat2
    RENAME_EXCHANGE from the host side of its upper layer, as fast as it can) while it is
    committed, unpaused and paused: no host content in any layer."""
    host = _host_secret_dir(tmp_path)
    cid = run_d(busybox, "--name", "c", "busybox", "sh", "-c",
                "mkdir -p /a && for i in 1 2 3 4 5 6 7 8; do echo mine > /a/f$i; done; "
                "sleep 1000")
    wait_running(busybox, "c")
    rec = json.load(open(os.path.join(busybox.root, "containers", cid, "container.json")))
    upper = rec["rootfs"]["upper"]
    time.sleep(0.3)
    os.symlink(host, os.path.join(upper, "alink"))
    loop = subprocess.Popen([sys.executable, "-c",
                             "import ctypes, sys\nlibc = ctypes.CDLL(None)\n"
                             "a, b = sys.argv[1].encode(), sys.argv[2].encode()\n"
                             "while True: libc.renameat2(-100, a, -100, b, 2)\n",
                             f"{upper}/a", f"{upper}/alink"])
    hits = 0
    rounds = 0
    try:
        for i in range(30):
            for pause in ("--no-pause", "--pause"):
                rounds += 1
                p = busybox("commit", pause, "c", f"race:{i}{pause[2]}", check=False)
                if p.returncode != 0:
                    assert host not in p.stderr
                    continue
                files = _layer_files(busybox, f"race:{i}{pause[2]}")
                if any(SECRET.encode() in v for v in files.values()):
                    hits += 1
    finally:
        loop.kill()
        loop.wait()
    assert hits == 0, f"{hits} of {rounds} commits copied host files"
    assert json.loads(busybox("inspect", "c").stdout)[0]["State"]["Status"] == "running"
    assert _freezer_state(cid) == "THAWED"


def _freezer_state(cid: str) -> str | None:
    for base in ("/sys/fs/cgroup/freezer/rocker", "/sys/fs/cgroup/rocker"):
        for name in ("freezer.state", "cgroup.freeze"):
            p = os.path.join(base, cid, name)
            if os.path.exists(p):
                return open(p).read().strip()
    return None


def test_commit_pauses_and_a_killed_commit_is_thawed_by_the_next_command(busybox, tmp_path):
    cid = run_d(busybox, "--name", "c", "busybox", "sleep", "1000")
    wait_running(busybox, "c")
    seen = tmp_path / "seen"
    # the hook records the freezer state during the walk, then kills the commit itself
    hook = (f"cat /sys/fs/cgroup/freezer/rocker/{cid}/freezer.state > {seen}; "
            "kill -9 $PPID")
    env = dict(busybox.env, ROCKER_TEST_COMMIT_HOOK_AT="etc", ROCKER_TEST_COMMIT_HOOK=hook)
    p = subprocess.run(busybox.argv("commit", "c", "snap:1"), env=env, capture_output=True,
                       text=True, cwd=busybox_cwd())
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    assert seen.read_text().strip() == "FROZEN"
    assert _freezer_state(cid) == "FROZEN"
    # the next command notices the dead commit and thaws the container
    assert busybox("exec", "c", "echo", "alive", timeout=20).stdout.strip() == "alive"
    assert _freezer_state(cid) == "THAWED"
    assert not os.path.exists(os.path.join(busybox.root, "containers", cid, "commit-freeze"))
    # a normal commit thaws after itself; --no-pause never freezes
    busybox("commit", "c", "snap:2")
    assert _freezer_state(cid) == "THAWED"


def busybox_cwd() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_commit_leaves_rockers_etc_mount_points_out(busybox):
    busybox("run", "--name", "c", "busybox", "sh", "-c", "echo x > /etc/mine")
    busybox("commit", "c", "snap:1")
    files = _layer_files(busybox, "snap:1")
    assert "etc/mine" in files
    for name in ("etc/hostname", "etc/hosts", "etc/resolv.conf"):
        assert name not in files, files.keys()


def _limited(nofile: int = 1024):
    def pre():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return pre


def test_deep_tree_commit_rm_and_run_rm(busybox):
    busybox("run", "--name", "deep", "busybox", "sh", "-c", MAKE_DEEP, timeout=120)
    p = busybox("commit", "deep", "deep:1", check=False, preexec_fn=_limited(), timeout=120)
    assert p.returncode == 0, p.stderr
    out = busybox("run", "--rm", "deep:1", "sh", "-c",
                  "cd " + "/".join(["d"] * DEEP) + " && cat leaf", timeout=120).stdout
    assert out.strip() == "leaf"
    cid = _cid(busybox, "deep")
    p = busybox("rm", "-f", "deep", check=False, preexec_fn=_limited(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert not [n for n in os.listdir(os.path.join(busybox.root, "containers"))
                if cid in n], "a .rm- folder was left behind"
    p = busybox("run", "--rm", "busybox", "sh", "-c", MAKE_DEEP, check=False,
                preexec_fn=_limited(), timeout=120)
    assert p.returncode == 0, p.stderr
    # as with Docker, the container is gone when `run --rm` returns
    assert os.listdir(os.path.join(busybox.root, "containers")) == []
    # rmi removes the deep layer (pytest's own clean-up of tmp_path recurses and would fail)
    p = busybox("rmi", "deep:1", check=False, preexec_fn=_limited(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "deep" not in busybox("images").stdout


def test_deep_leftover_never_breaks_garbage_collection(busybox):
    """A crash left a deep half-removed folder: the next run removes it, or says it could not,
    but always runs."""
    busybox("run", "--name", "deep", "busybox", "sh", "-c", MAKE_DEEP, timeout=120)
    cid = _cid(busybox, "deep")
    cdir = os.path.join(busybox.root, "containers")
    busybox("rm", "deep")
    # what a removal killed after its rename leaves: make one by hand from a deep upper
    busybox("run", "--name", "deep2", "busybox", "sh", "-c", MAKE_DEEP, timeout=120)
    cid2 = _cid(busybox, "deep2")
    os.rename(os.path.join(cdir, cid2), os.path.join(cdir, f".rm-{cid2}"))
    env = dict(busybox.env, ROCKER_GC_AGE="0")
    p = subprocess.run(busybox.argv("run", "--rm", "busybox", "true"), env=env,
                       capture_output=True, text=True, cwd=busybox_cwd(),
                       preexec_fn=_limited(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(cdir, f".rm-{cid2}"))
    assert cid not in "".join(os.listdir(cdir))
    # its name link and cgroups go with rm -f of what is left (nothing: the folder is gone)
    busybox("rm", "-f", "deep2", check=False)
