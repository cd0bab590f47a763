"""Volumes and mounts through the CLI: named and anonymous volumes, copy-up, binds, tmpfs,
--read-only, inspect's Mounts, commit, cp, and what a failed run leaves (nothing)."""

from __future__ import annotations

import json
import os
import stat

from tests.integration.helpers import inspect, one_line_error, run_d, wait_running

NET = ("--network", "none")


def _volumes(r) -> list[str]:
    return r("volume", "ls", "-q").stdout.split()


def test_named_volume_outlives_its_container(busybox):
    busybox("run", "--name", "a", *NET, "-v", "data:/data", "busybox",
            "sh", "-c", "echo one >> /data/log")
    assert _volumes(busybox) == ["data"]
    # in use by a stopped container: refused, as Docker does
    p = busybox("volume", "rm", "data", check=False)
    assert p.returncode == 1 and "in use" in one_line_error(p)
    busybox("rm", "a")
    out = busybox("run", "--rm", *NET, "-v", "data:/data", "busybox",
                  "sh", "-c", "echo two >> /data/log; cat /data/log").stdout
    assert out == "one\ntwo\n"
    info = json.loads(busybox("volume", "inspect", "data").stdout)[0]
    assert info["Name"] == "data" and info["Driver"] == "local"
    assert open(os.path.join(info["Mountpoint"], "log")).read() == "one\ntwo\n"
    assert busybox("volume", "rm", "data").stdout == "data\n"
    assert _volumes(busybox) == []
    p = busybox("volume", "inspect", "data", check=False)
    assert p.returncode == 1


def test_volume_create_labels_filters_and_prune(busybox):
    assert busybox("volume", "create", "--label", "tier=db", "v1").stdout == "v1\n"
    assert busybox("volume", "create", "v1").stdout == "v1\n"   # idempotent
    busybox("volume", "create", "v2")
    assert busybox("volume", "ls", "-q", "-f", "label=tier=db").stdout == "v1\n"
    assert busybox("volume", "ls", "-q", "-f", "dangling=true").stdout.split() == ["v1", "v2"]
    busybox("create", "--name", "u", *NET, "-v", "v2:/x", "busybox", "true")
    assert busybox("volume", "ls", "-q", "-f", "dangling=false").stdout == "v2\n"
    # prune: anonymous ones only; -a: every unused one (v2 is used)
    assert busybox("volume", "prune", "-f").stdout == ""
    assert "v1" in busybox("volume", "prune", "-a", "-f").stdout
    assert _volumes(busybox) == ["v2"]
    p = busybox("volume", "create", "bad/name", check=False)
    assert p.returncode == 1 and "invalid volume name" in one_line_error(p)
    p = busybox("volume", "create", "--opt", "type=nfs", "v3", check=False)
    assert p.returncode == 1 and "volume option" in one_line_error(p)


def test_bind_volume_option_uses_the_host_folder_and_keeps_it(busybox, tmp_path):
    host = tmp_path / "dev"
    host.mkdir()
    (host / "keep").write_text("mine")
    busybox("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
            f"device={host}", "hv")
    assert busybox("run", "--rm", *NET, "-v", "hv:/h", "busybox", "cat", "/h/keep").stdout \
        == "mine"
    busybox("volume", "rm", "hv")
    assert (host / "keep").read_text() == "mine"   # the device's contents are the user's


def _image_with_files(r) -> None:
    """busybox + /srv/app (owned 1000:1001, mode 0750) with a file (0640) and a symlink."""
    r("run", "--name", "mk", *NET, "busybox", "sh", "-c",
      "mkdir -p /srv/app/sub && echo seed > /srv/app/sub/f && ln -s /etc/passwd /srv/app/l"
      " && chown -R 1000:1001 /srv/app && chmod 0750 /srv/app && chmod 0640 /srv/app/sub/f")
    r("commit", "-c", "VOLUME /srv/app", "mk", "seeded")
    r("rm", "mk")


def test_copy_up_fills_a_new_volume_with_owners_and_modes(busybox):
    _image_with_files(busybox)
    busybox("run", "--rm", *NET, "-v", "fresh:/srv/app", "busybox:latest", "true")
    busybox("run", "--rm", *NET, "-v", "seeded2:/srv/app", "seeded", "true")
    mp = json.loads(busybox("volume", "inspect", "seeded2").stdout)[0]["Mountpoint"]
    st = os.stat(mp)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o750)
    f = os.stat(os.path.join(mp, "sub", "f"))
    assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) == (1000, 1001, 0o640)
    assert os.readlink(os.path.join(mp, "l")) == "/etc/passwd"
    assert open(os.path.join(mp, "sub", "f")).read() == "seed\n"
    # a volume that has data is not filled again; nocopy never fills
    os.unlink(os.path.join(mp, "sub", "f"))
    busybox("run", "--rm", *NET, "-v", "seeded2:/srv/app", "seeded", "true")
    assert not os.path.exists(os.path.join(mp, "sub", "f"))
    busybox("run", "--rm", *NET, "-v", "empty:/srv/app:nocopy", "seeded", "true")
    mp2 = json.loads(busybox("volume", "inspect", "empty").stdout)[0]["Mountpoint"]
    assert os.listdir(mp2) == []


def test_anonymous_volumes_and_rm_v(busybox):
    _image_with_files(busybox)     # its image config has Volumes: /srv/app
    busybox("create", "--name", "a", *NET, "-v", "/scratch", "-v", "named:/n", "seeded",
            "true")
    vols = set(_volumes(busybox))
    anon = vols - {"named"}
    assert len(anon) == 2 and all(len(v) == 64 for v in anon)
    mounts = {m["Destination"]: m for m in inspect(busybox, "a")["Mounts"]}
    assert set(mounts) == {"/scratch", "/n", "/srv/app"}
    assert mounts["/n"]["Name"] == "named" and mounts["/n"]["Type"] == "volume"
    busybox("rm", "-v", "a")
    assert _volumes(busybox) == ["named"]        # anonymous ones go with rm -v, named stay
    # without -v they stay, dangling, until a prune
    busybox("create", "--name", "b", *NET, "-v", "/scratch", "busybox", "true")
    busybox("rm", "b")
    assert len(_volumes(busybox)) == 2
    out = busybox("volume", "prune", "-f").stdout
    assert out.startswith("Deleted Volumes:") and _volumes(busybox) == ["named"]
    # --rm removes them too
    busybox("run", "--rm", *NET, "-v", "/scratch", "busybox", "true")
    assert _volumes(busybox) == ["named"]
    # a user mount at the image's volume target replaces the anonymous one
    busybox("create", "--name", "c", *NET, "--tmpfs", "/srv/app", "seeded", "true")
    assert _volumes(busybox) == ["named"]


def test_bind_mounts_show_host_files_and_ro_refuses_writes(busybox, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    (host / "f").write_text("from host")
    out = busybox("run", "--rm", *NET, "-v", f"{host}:/h:ro", "busybox", "sh", "-c",
                  "cat /h/f; echo; echo x > /h/g 2>/dev/null && echo wrote || echo refused")
    assert out.stdout == "from host\nrefused\n"
    busybox("run", "--rm", *NET, "--mount", f"type=bind,src={host},dst=/h", "busybox",
            "sh", "-c", "echo new > /h/g")
    assert (host / "g").read_text() == "new\n"
    # -v makes a missing host folder; --mount refuses one that does not exist
    made = tmp_path / "made" / "deep"
    busybox("run", "--rm", *NET, "-v", f"{made}:/m", "busybox", "true")
    assert made.is_dir()
    p = busybox("run", "--rm", *NET, "-v", "keepme:/k", "--mount",
                f"type=bind,src={tmp_path}/absent,dst=/x", "busybox", "true", check=False)
    assert p.returncode == 125 and "does not exist" in one_line_error(p)
    assert _volumes(busybox) == []   # the volume that run would have made is not left
    assert busybox("ps", "-aq").stdout == ""


def test_file_bind_and_etc_files_overridden(busybox, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.9.9.9 mine\n")
    out = busybox("run", "--rm", *NET, "-v", f"{hosts}:/etc/hosts:ro", "busybox",
                  "cat", "/etc/hosts").stdout
    assert out == "10.9.9.9 mine\n"   # the user's bind wins over rocker's /etc/hosts


def test_tmpfs_has_the_size_and_mode_asked_for(busybox):
    out = busybox("run", "--rm", *NET, "--tmpfs", "/t:size=2m,mode=1770", "--mount",
                  "type=tmpfs,dst=/u,tmpfs-size=1m", "busybox", "sh", "-c",
                  "grep -E ' /(t|u) ' /proc/mounts; stat -c %a /t; df -k /t | tail -1").stdout
    lines = out.splitlines()
    t = next(line for line in lines if " /t " in line)
    u = next(line for line in lines if " /u " in line)
    assert t.startswith("tmpfs /t tmpfs") and "size=2048k" in t and "noexec" in t
    assert "size=1024k" in u
    assert "1770" in lines
    assert lines[-1].split()[1] == "2048"


def test_read_only_root_as_docker(busybox):
    out = busybox("run", "--rm", *NET, "--read-only", "busybox", "sh", "-c",
                  "touch /x 2>/dev/null || echo root-ro; touch /tmp/x 2>/dev/null || "
                  "echo tmp-ro; echo a > /dev/shm/a && echo shm-ok; "
                  "cat /etc/hostname >/dev/null && echo etc-ok; echo b > /dev/null && "
                  "echo dev-ok").stdout
    assert out.split() == ["root-ro", "tmp-ro", "shm-ok", "etc-ok", "dev-ok"]
    out = busybox("run", "--rm", *NET, "--read-only", "--tmpfs", "/tmp", "-w", "/work",
                  "busybox", "sh", "-c", "touch /tmp/x && pwd").stdout
    assert out == "/work\n"
    info = inspect(busybox, run_d(busybox, *NET, "--read-only", "busybox", "sleep", "30"))
    assert info["HostConfig"]["ReadonlyRootfs"] is True


def test_inspect_mounts_as_docker(busybox, tmp_path):
    cid = run_d(busybox, *NET, "-v", "db:/db:ro", "-v", f"{tmp_path}:/h",
                "--mount", "type=tmpfs,dst=/t", "--tmpfs", "/run", "busybox", "sleep", "30")
    wait_running(busybox, cid)
    info = inspect(busybox, cid)
    m = {x["Destination"]: x for x in info["Mounts"]}
    assert set(m) == {"/db", "/h", "/t"}        # --tmpfs is HostConfig.Tmpfs, as in Docker
    assert m["/db"] == {"Type": "volume", "Name": "db", "Source": m["/db"]["Source"],
                        "Destination": "/db", "Driver": "local", "Mode": "", "RW": False,
                        "Propagation": ""}
    assert m["/db"]["Source"].endswith("/volumes/db/_data")
    assert m["/h"]["Type"] == "bind" and m["/h"]["Source"] == os.path.realpath(tmp_path)
    assert m["/h"]["RW"] is True and m["/h"]["Propagation"] == "rprivate"
    assert m["/t"]["Type"] == "tmpfs"
    assert info["HostConfig"]["Tmpfs"] == {"/run": ""}


def test_targets_over_proc_sys_dev_are_refused(busybox):
    for target in ("/proc", "/sys", "/dev", "/", "/proc/sys"):
        p = busybox("run", "--rm", *NET, "-v", f"x1:{target}", "busybox", "true", check=False)
        assert p.returncode == 125 and "not allowed" in one_line_error(p), target
    assert _volumes(busybox) == []


def test_commit_leaves_volume_and_bind_contents_out(busybox, tmp_path):
    (tmp_path / "hostfile").write_text("secret")
    busybox("run", "--name", "c", *NET, "-v", "vd:/vd", "-v", f"{tmp_path}:/b", "busybox",
            "sh", "-c", "echo v > /vd/inside; echo layer > /layer")
    busybox("commit", "c", "snap")
    out = busybox("run", "--rm", *NET, "snap", "sh", "-c",
                  "cat /layer; ls -A /vd /b").stdout
    assert out.splitlines()[0] == "layer"
    assert "inside" not in out and "hostfile" not in out


def test_cp_both_ways_running_or_not(busybox, tmp_path):
    busybox("create", "--name", "c", *NET, "-v", "cpv:/vol", "busybox", "sleep", "60")
    src = tmp_path / "in.txt"
    src.write_text("to the container")
    busybox("cp", str(src), "c:/vol/")               # stopped: into its volume
    busybox("cp", str(src), "c:/root/renamed.txt")   # and into its layer
    busybox("start", "c")
    wait_running(busybox, "c")
    out = busybox("exec", "c", "cat", "/vol/in.txt", "/root/renamed.txt").stdout
    assert out == "to the container" * 2
    busybox("exec", "c", "sh", "-c", "mkdir -p /d/e && echo deep > /d/e/f")
    busybox("cp", "c:/d", str(tmp_path / "out"))     # running: a whole folder out
    assert (tmp_path / "out" / "e" / "f").read_text() == "deep\n"
    p = busybox("cp", "c:/nope", str(tmp_path / "x"), check=False)
    assert p.returncode == 1 and "no such file" in one_line_error(p)
    p = busybox("cp", str(src), str(tmp_path / "y"), check=False)
    assert p.returncode == 1 and "CONTAINER:PATH" in one_line_error(p)


def test_bind_propagation_rslave_sees_host_mounts_made_later(busybox, tmp_path):
    """With rslave, a mount the host makes below the source after the start appears in the
    container; with the default rprivate it does not. (The test's own tmpfs mounts, made
    shared so that there is something to propagate, are removed at the end.)"""
    import subprocess
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rkvoltest", str(src)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(src)], check=True)
        (src / "sub").mkdir()
        slave = run_d(busybox, *NET, "-v", f"{src}:/s:rslave", "busybox", "sleep", "60")
        private = run_d(busybox, *NET, "-v", f"{src}:/s", "busybox", "sleep", "60")
        wait_running(busybox, slave)
        wait_running(busybox, private)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rkvoltest2",
                        str(src / "sub")], check=True)
        try:
            (src / "sub" / "late").write_text("made after the start")
            assert busybox("exec", slave, "cat", "/s/sub/late").stdout == "made after the start"
            p = busybox("exec", private, "cat", "/s/sub/late", check=False)
            assert p.returncode != 0
            assert inspect(busybox, slave)["Mounts"][0]["Propagation"] == "rslave"
            busybox("rm", "-f", slave, private)
        finally:
            subprocess.run(["umount", str(src / "sub")], check=False)
    finally:
        subprocess.run(["umount", "-l", str(src)], check=False)


def test_volumes_from_shares_volumes_and_binds(busybox, tmp_path):
    busybox("create", "--name", "src", *NET, "-v", "/anon", "-v", "named:/n", "-v",
            f"{tmp_path}:/h", "--tmpfs", "/t", "busybox", "true")
    out = busybox("run", "--rm", *NET, "--volumes-from", "src:ro", "busybox", "sh", "-c",
                  "grep -E ' /(anon|n|h|t) ' /proc/mounts | cut -d' ' -f2,4; "
                  "touch /n/x 2>/dev/null || echo refused").stdout.splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["/anon", "/n", "/h"]  # not its tmpfs
    assert all(line.split()[1].startswith("ro,") for line in out[:-1])
    assert out[-1] == "refused"
    busybox("run", "--name", "dst", *NET, "--volumes-from", "src", "busybox", "sh", "-c",
            "echo shared > /anon/f")
    # the anonymous volume is used by both: rm -v of one keeps it for the other
    busybox("rm", "-v", "src")
    assert busybox("run", "--rm", *NET, "--volumes-from", "dst", "busybox",
                   "cat", "/anon/f").stdout == "shared\n"
    busybox("rm", "-v", "dst")
    assert _volumes(busybox) == ["named"]
    p = busybox("run", "--rm", *NET, "--volumes-from", "nope", "busybox", "true", check=False)
    assert p.returncode == 125 and "no such container" in one_line_error(p)


def test_storage_roots_behind_symlinks(base_image_tar, tmp_path):
    """/var/run (the default runroot's parent) is a symlink on most systems: the sources the
    launcher opens without following symlinks are resolved first."""
    from tests.integration.conftest import Rocker
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "f").write_text("x")
    r = Rocker(str(link / "root"), str(link / "run"))
    try:
        r("import", base_image_tar, "busybox")
        out = r("run", "--rm", *NET, "-v", "dv:/d", "-v", f"{host}:/h", "busybox", "sh", "-c",
                "cat /etc/hostname >/dev/null && ls /h && echo ok > /d/f && cat /d/f").stdout
        assert out == "f\nok\n"
    finally:
        r.cleanup()


def test_bind_volume_device_inside_rocker_storage_is_refused(busybox):
    busybox("volume", "create", "inner")
    mp = json.loads(busybox("volume", "inspect", "inner").stdout)[0]["Mountpoint"]
    p = busybox("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
                f"device={mp}", "outer", check=False)
    assert p.returncode == 1 and "rocker's storage" in one_line_error(p)
    assert busybox("volume", "ls", "-q").stdout == "inner\n"
