"""Hostile image tars, imported through the CLI as root: each is refused with an error naming
the entry, a victim folder beside the store stays byte-for-byte the same, nothing is
registered and no temporary files are left in the store."""

from __future__ import annotations

import os

import pytest

from tests.unit.test_images_tarutil import make_tar, snapshot

# The layer is extracted in ROOT/images/tmp/<work>/diff: five `..` reach tmp_path.
UP = "../../../../../"


def corpus(victim: str) -> dict[str, tuple[list, str]]:
    """name -> (entries, the entry the error must name)."""
    return {
        "absolute-path": ([("file", f"{victim}/pwned", b"x")], f"{victim}/pwned"),
        "absolute-dir": ([("dir", victim)], victim),
        "dotdot-escape": ([("file", f"{UP}victim/pwned", b"x")], f"{UP}victim/pwned"),
        "dotdot-inside": ([("dir", "a"), ("file", "a/../../x", b"x")], "a/../../x"),
        "dotdot-deep": ([("dir", "a"), ("file", f"a/{UP}../victim/pwned", b"x")],
                        f"a/{UP}../victim/pwned"),
        "symlink-to-root": ([("symlink", "root", "/"),
                             ("file", f"root{victim}/pwned", b"x")], f"root{victim}/pwned"),
        "symlink-to-victim": ([("symlink", "v", victim), ("file", "v/pwned", b"x")],
                              "v/pwned"),
        "symlink-to-victim-dir": ([("symlink", "v", victim), ("dir", "v/sub")], "v/sub"),
        "symlink-relative-escape": ([("symlink", "up", f"{UP}victim"),
                                     ("file", "up/pwned", b"x")], "up/pwned"),
        "symlink-then-overwrite-file": ([("symlink", "v", victim),
                                         ("file", "v/secret", b"changed")], "v/secret"),
        "symlink-then-symlink-under": ([("symlink", "v", victim),
                                        ("symlink", "v/evil", "/etc/shadow")], "v/evil"),
        "symlink-then-hardlink-through": ([("symlink", "v", victim),
                                           ("hardlink", "h", "v/secret")], "h"),
        "hardlink-into-symlinked-dir": ([("file", "f", b"x"), ("symlink", "v", victim),
                                         ("hardlink", "v/h", "f")], "v/h"),
        "hardlink-outside-absolute": ([("hardlink", "h", f"{victim}/secret")], "h"),
        "hardlink-outside-relative": ([("hardlink", "h", f"{UP}victim/secret")], "h"),
        "hardlink-to-symlink": ([("symlink", "s", f"{victim}/secret"),
                                 ("hardlink", "h", "s")], "h"),
        "hardlink-to-missing": ([("hardlink", "h", "nothing/here")], "h"),
        "hardlink-to-dir": ([("dir", "d"), ("hardlink", "h", "d")], "h"),
        "symlink-chain-escape": ([("symlink", "a", "b"), ("symlink", "b", "c"),
                                  ("symlink", "c", victim), ("file", "a/pwned", b"x")],
                                 "a/pwned"),
        "dir-replaced-by-symlink": ([("dir", "d"), ("file", "d/f", b"1"),
                                     ("symlink", "d", victim), ("file", "d/pwned", b"x")],
                                    "d/pwned"),
        "duplicate-entries": ([("file", "d/f", b"1"), ("symlink", "d", victim),
                               ("file", "d/f", b"2")], "d/f"),
        "whiteout-through-symlink": ([("symlink", "v", victim), ("file", "v/.wh.secret")],
                                     "v/.wh.secret"),
        "opaque-through-symlink": ([("symlink", "v", victim),
                                    ("file", "v/.wh..wh..opq")], "v/.wh..wh..opq"),
        "unknown-member-type": ([("file", "ok", b"1"), ("type", "weird", b"V")], "weird"),
    }


CASES = sorted(corpus("/victim"))


@pytest.mark.parametrize("case", CASES)
def test_hostile_tar_refused(rocker, tmp_path, case):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("do not touch\n")
    (victim / "sub").mkdir()
    (victim / "sub" / "file").write_text("nested\n")
    entries, entry = corpus(str(victim))[case]
    tar = make_tar(tmp_path / "evil.tar", entries)
    before = snapshot(tmp_path / "victim")
    before_dir = os.stat(victim).st_mtime_ns
    p = rocker("import", tar, "evil", check=False)
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in p.stderr, p.stderr
    assert repr(entry) in err[0], (case, err[0])
    assert snapshot(tmp_path / "victim") == before
    assert os.stat(victim).st_mtime_ns == before_dir
    assert not os.path.lexists("/pwned") and not os.path.lexists(tmp_path / "x")
    images = os.path.join(rocker.root, "images")
    assert os.listdir(os.path.join(images, "tmp")) == []
    assert os.listdir(os.path.join(images, "layers")) == []
    assert os.listdir(os.path.join(images, "configs")) == []
    assert rocker("images", "-q").stdout == ""


def test_symlinks_may_point_anywhere(rocker, tmp_path):
    """Symlinks alone are fine: they are stored as they are and never followed."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("x")
    before = snapshot(victim)
    tar = make_tar(tmp_path / "links.tar", [
        ("symlink", "root", "/"), ("symlink", "v", str(victim)),
        ("symlink", "up", f"{UP}victim/secret"), ("symlink", "v2", str(victim)),
        ("file", "v2", b"replaced, not followed")])
    rocker("import", tar, "links")
    from tests.integration.test_images_cli import layer_of
    layer = layer_of(rocker, "links")
    assert os.readlink(os.path.join(layer, "root")) == "/"
    assert os.readlink(os.path.join(layer, "v")) == str(victim)
    assert not os.path.islink(os.path.join(layer, "v2"))
    assert snapshot(victim) == before
