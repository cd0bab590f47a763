"""The image store on tiny tars in tmp_path: registration, resolution, tag/rmi, corruption."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from rocker.errors import Conflict, CorruptRecord, InvalidInput, NotFound, UnsafeArchive
from rocker.images.store import ImageStore
from rocker.paths import Paths
from tests.unit.test_images_tarutil import compress, make_tar, tar_bytes

BASIC = [("dir", "etc"), ("file", "etc/hostname", b"box\n"), ("dir", "bin"),
         ("file", "bin/tool", b"x" * 3000, {"mode": 0o755}),
         ("hardlink", "bin/tool2", "bin/tool"), ("symlink", "bin/sh", "tool")]


@pytest.fixture
def store(tmp_path):
    return ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))


def _import(store, tmp_path, entries, ref, name="t.tar", compression=None, **kw):
    return store.import_tar(make_tar(tmp_path / name, entries, compression), ref, **kw)


def _tmp_empty(store):
    return not os.path.exists(store.tmp_root) or os.listdir(store.tmp_root) == []


def test_import_registers_content_addressed(store, tmp_path):
    img = _import(store, tmp_path, BASIC, "app:1", changes=['CMD ["sh"]', "ENV A=b"],
                  message="hello")
    raw = tar_bytes(BASIC)
    assert img.layers == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    cfg_bytes = open(store.config_path(img.id), "rb").read()
    assert img.id == "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
    assert img.short_id == img.id[7:19]
    assert img.refs == ["app:1"]
    assert img.config["Cmd"] == ["sh"] and img.config["Env"] == ["A=b"]
    assert img.comment == "hello" and img.history[0]["comment"] == "hello"
    doc = json.loads(cfg_bytes)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": img.layers}
    assert img.size == 4 + 3000  # the hardlink counts once
    d = store.layer_dirs(img)
    assert d == [os.path.join(store.layer_path(img.layers[0]), "diff")]
    assert open(os.path.join(d[0], "etc/hostname")).read() == "box\n"
    assert os.readlink(os.path.join(d[0], "bin/sh")) == "tool"
    st1 = os.stat(os.path.join(d[0], "bin/tool"))
    assert st1.st_ino == os.stat(os.path.join(d[0], "bin/tool2")).st_ino
    assert st1.st_mode & 0o7777 == 0o755 and st1.st_mtime == 1700000000
    assert _tmp_empty(store)


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_same_diff_id(store, tmp_path, compression):
    plain = _import(store, tmp_path, BASIC, "plain")
    comp = _import(store, tmp_path, BASIC, "comp", name="c.tar", compression=compression)
    assert comp.layers == plain.layers
    assert len(os.listdir(store.layers_root)) == 1


def test_stream_import_from_pipe(store, tmp_path):
    r, w = os.pipe()
    data = compress(tar_bytes(BASIC), "gz")
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        img = store.import_tar(f, "piped")
    os.waitpid(pid, 0)
    assert img.layers == ["sha256:" + hashlib.sha256(tar_bytes(BASIC)).hexdigest()]


def test_trailing_data_is_hashed(store, tmp_path):
    raw = tar_bytes(BASIC) + b"\0" * 4096
    path = tmp_path / "pad.tar"
    path.write_bytes(raw)
    img = store.import_tar(str(path), "pad")
    assert img.layers == ["sha256:" + hashlib.sha256(raw).hexdigest()]


def test_resolution(store, tmp_path):
    img = _import(store, tmp_path, BASIC, "busybox")
    store.tag("busybox", "other/name:v2")
    for ref in ("busybox", "busybox:latest", "other/name:v2", img.id, img.id[7:],
                img.short_id, img.id[:7 + 5], "sha256:" + img.short_id):
        assert store.resolve(ref).id == img.id, ref
    assert store.resolve("busybox").refs == ["busybox:latest", "other/name:v2"]
    with pytest.raises(NotFound):
        store.resolve("nope")
    with pytest.raises(NotFound):
        store.resolve("busybox:v9")
    with pytest.raises(InvalidInput):
        store.resolve("Bad Name")


def test_ambiguous_prefix(store, tmp_path):
    ids = []
    for i in range(17):  # 17 ids over 16 hex digits: two share their first digit
        ids.append(_import(store, tmp_path, BASIC, f"img{i}", message=str(i)).id)
    first = [i[7] for i in ids]
    shared = next(c for c in first if first.count(c) > 1)
    with pytest.raises(InvalidInput, match="ambiguous"):
        store.resolve(shared)
    unique = ids[0][7:7 + 12]
    assert store.resolve(unique).id == ids[0]
    assert len(os.listdir(store.layers_root)) == 1  # one layer shared by all


def test_name_wins_over_id_prefix(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "x")
    b = _import(store, tmp_path, BASIC, a.id[7:11], message="other")
    assert store.resolve(a.id[7:11]).id == b.id


def test_tag_and_rmi_untag_then_delete(store, tmp_path):
    img = _import(store, tmp_path, BASIC, "a")
    store.tag("a", "b:1")
    assert store.remove("a") == [("Untagged", "a:latest")]
    assert store.resolve("b:1").id == img.id
    layer_dir = store.layer_path(img.layers[0])
    out = store.remove("b:1")
    assert out == [("Untagged", "b:1"), ("Deleted", img.id), ("Deleted", img.layers[0])]
    assert not os.path.exists(layer_dir)
    assert not os.path.exists(store.config_path(img.id))
    assert store.images() == [] and store.refs() == {}
    assert _tmp_empty(store)


def test_rmi_by_id_with_several_refs_needs_force(store, tmp_path):
    img = _import(store, tmp_path, BASIC, "a")
    store.tag("a", "b")
    with pytest.raises(Conflict, match="several references"):
        store.remove(img.short_id)
    out = store.remove(img.short_id, force=True)
    assert ("Untagged", "a:latest") in out and ("Untagged", "b:latest") in out
    assert ("Deleted", img.id) in out


def test_rmi_keeps_shared_layer(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "a")
    b = _import(store, tmp_path, BASIC, "b", message="second")
    assert a.id != b.id and a.layers == b.layers
    out = store.remove("a")
    assert ("Deleted", a.id) in out and ("Deleted", a.layers[0]) not in out
    assert store.layer_dirs(store.resolve("b"))
    assert ("Deleted", b.layers[0]) in store.remove("b")
    assert os.listdir(store.layers_root) == []


def test_rmi_in_use(store, tmp_path):
    img = _import(store, tmp_path, BASIC, "a")
    users = {img.id: ["web"]}
    in_use = lambda iid: users.get(iid, [])  # noqa: E731
    with pytest.raises(Conflict, match="web"):
        store.remove("a", in_use=in_use)
    # forced: the reference goes, the image stays for the container
    assert store.remove("a", force=True, in_use=in_use) == [("Untagged", "a:latest")]
    left = store.images()
    assert [i.id for i in left] == [img.id] and left[0].refs == []
    users.clear()
    assert ("Deleted", img.id) in store.remove(img.short_id, in_use=in_use)


def test_retag_leaves_dangling_image(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "app")
    b = _import(store, tmp_path, BASIC + [("file", "new", b"1")], "app")
    assert store.resolve("app").id == b.id
    assert store.resolve(a.id).refs == []


def test_corrupt_config_does_not_break_listing(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "good")
    b = _import(store, tmp_path, [("file", "x", b"1")], "bad")
    with open(store.config_path(b.id), "w") as f:
        f.write("{not json")
    errors = []
    imgs = store.images(errors)
    assert [i.id for i in imgs] == [a.id]
    assert len(errors) == 1 and errors[0].id == b.id and errors[0].refs == ["bad:latest"]
    with pytest.raises(CorruptRecord):
        store.resolve("bad")
    # a corrupt image can still be removed
    assert ("Deleted", b.id) in store.remove("bad")
    assert [i.id for i in store.images()] == [a.id]


def test_tampered_config_detected(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "good")
    doc = json.load(open(store.config_path(a.id)))
    doc["config"]["User"] = "evil"
    with open(store.config_path(a.id), "w") as f:
        json.dump(doc, f)
    with pytest.raises(CorruptRecord, match="does not match"):
        store.resolve("good")


def test_missing_layer_reported(store, tmp_path):
    a = _import(store, tmp_path, BASIC, "good")
    import shutil
    shutil.rmtree(store.layer_path(a.layers[0]))
    with pytest.raises(CorruptRecord, match="missing"):
        store.resolve("good")


@pytest.mark.parametrize("entries,needle", [
    ([("file", "/abs", b"x")], "/abs"),
    ([("file", "../up", b"x")], "../up"),
    ([("dir", "a"), ("file", "a/../../x", b"x")], "a/../../x"),
    ([("symlink", "l", "/"), ("file", "l/etc/x", b"x")], "l/etc/x"),
    ([("symlink", "l", "/tmp"), ("hardlink", "h", "l/x")], "h"),
    ([("file", "f", b"x"), ("symlink", "s", "f"), ("hardlink", "h", "s")], "h"),
    ([("hardlink", "h", "missing")], "h"),
    ([("hardlink", "h", "../../etc/passwd")], "h"),
    ([("hardlink", "h", "/etc/passwd")], "h"),
    ([("dir", "d"), ("symlink", "d", "/"), ("file", "d/x", b"x")], "d/x"),
    ([("type", "weird", b"V")], "weird"),
])
def test_unsafe_archives_refused(store, tmp_path, entries, needle):
    with pytest.raises(UnsafeArchive) as e:
        _import(store, tmp_path, entries, "evil")
    assert needle in str(e.value)
    assert store.refs() == {} and store.image_ids() == []
    assert os.listdir(store.layers_root) == []
    assert _tmp_empty(store)


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 100, b"\x1f\x8bgarbage",
                                  b"BZh9garbage", b"\xfd7zXZ\x00garbage"])
def test_garbage_refused(store, tmp_path, data):
    p = tmp_path / "g.tar"
    p.write_bytes(data)
    with pytest.raises(InvalidInput):
        store.import_tar(str(p), "g")
    assert store.image_ids() == [] and _tmp_empty(store)


def test_truncated_refused(store, tmp_path):
    raw = tar_bytes([("file", "big", b"y" * 100000)])
    p = tmp_path / "t.tar"
    p.write_bytes(raw[:20000])
    with pytest.raises(InvalidInput):
        store.import_tar(str(p), "t")
    assert store.image_ids() == [] and _tmp_empty(store)


def test_missing_file_and_bad_ref(store, tmp_path):
    with pytest.raises(NotFound):
        store.import_tar(str(tmp_path / "nope.tar"), "x")
    with pytest.raises(InvalidInput):
        _import(store, tmp_path, BASIC, "Bad:Ref:x")
    with pytest.raises(InvalidInput):
        _import(store, tmp_path, BASIC, "ok", changes=["RUN x"])
    assert not os.path.exists(store.configs_root) or store.image_ids() == []


def test_later_entry_replaces_earlier(store, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    img = _import(store, tmp_path, [("symlink", "x", str(victim)), ("file", "x", b"inside"),
                                    ("file", "y", b"1"), ("dir", "y"), ("file", "y/z", b"2")],
                  "dup")
    d = store.layer_dirs(img)[0]
    assert victim.read_text() == "keep"
    assert not os.path.islink(os.path.join(d, "x"))
    assert open(os.path.join(d, "x"), "rb").read() == b"inside"
    assert open(os.path.join(d, "y/z"), "rb").read() == b"2"


def test_missing_parents_created_and_root_entry(store, tmp_path):
    img = _import(store, tmp_path, [("dir", ".", {"mode": 0o750}), ("file", "a/b/c", b"1")],
                  "p")
    d = store.layer_dirs(img)[0]
    assert os.path.isfile(os.path.join(d, "a/b/c"))
    assert os.stat(d).st_mode & 0o777 == 0o750


def test_readonly_dirs_extract(store, tmp_path):
    img = _import(store, tmp_path, [("dir", "ro", {"mode": 0o555}),
                                    ("file", "ro/f", b"1", {"mode": 0o444})], "ro")
    d = store.layer_dirs(img)[0]
    assert os.stat(os.path.join(d, "ro")).st_mode & 0o777 == 0o555
    store.remove("ro")
    assert os.listdir(store.layers_root) == []


def test_commit_without_whiteouts(store, tmp_path):
    base = _import(store, tmp_path, BASIC, "base", changes=["ENV A=1", 'CMD ["sh"]'])
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/hostname").write_text("changed\n")
    (upper / "new").write_text("n")
    os.link(upper / "new", upper / "new2")
    img = store.commit(str(upper), "base", "derived:1", changes=["ENV B=2"], message="m",
                       author="me")
    assert img.layers[:-1] == base.layers and len(img.layers) == 2
    assert img.config["Env"] == ["A=1", "B=2"] and img.config["Cmd"] == ["sh"]
    assert len(img.history) == 2 and img.history[-1]["comment"] == "m"
    assert img.author == "me" and img.comment == "m"
    dirs = store.layer_dirs(img)
    assert dirs[1] == store.layer_dirs(base)[0]  # top first
    assert open(os.path.join(dirs[0], "etc/hostname")).read() == "changed\n"
    assert os.stat(os.path.join(dirs[0], "new")).st_ino == \
        os.stat(os.path.join(dirs[0], "new2")).st_ino
    assert img.size == base.size + len("changed\n") + 1
    empty = tmp_path / "empty"
    empty.mkdir()
    e = store.commit(str(empty), img.id, None)
    assert len(e.layers) == 3 and e.refs == []
    assert _tmp_empty(store)


def test_stale_tmp_pruned(store, tmp_path):
    _import(store, tmp_path, BASIC, "a")
    stale = os.path.join(store.tmp_root, "999999999-layer-dead")
    os.makedirs(os.path.join(stale, "diff/x"))
    _import(store, tmp_path, BASIC, "b", message="2")
    assert not os.path.exists(stale)


def test_progress_called(store, tmp_path):
    calls = []
    _import(store, tmp_path, BASIC, "a", progress=lambda d, t: calls.append((d, t)))
    size = os.path.getsize(tmp_path / "t.tar")
    assert calls and calls[-1] == (size, size)


def test_pax_xattrs_user_namespace(store, tmp_path):
    entries = [("file", "f", b"1", {"pax_headers": {"SCHILY.xattr.user.k": "v",
                                                   "SCHILY.xattr.trusted.overlay.x": "y"}})]
    img = _import(store, tmp_path, entries, "x")
    f = os.path.join(store.layer_dirs(img)[0], "f")
    try:
        assert os.getxattr(f, "user.k") == b"v"
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    assert "trusted.overlay.x" not in os.listxattr(f)


def test_tarfile_gnu_format_longnames(store, tmp_path):
    long = "d" * 120 + "/" + "f" * 120
    data = tar_bytes([("file", long, b"1"), ("symlink", "l" * 150, "t" * 150)],
                     fmt=tarfile.GNU_FORMAT)
    p = tmp_path / "gnu.tar"
    p.write_bytes(data)
    img = store.import_tar(str(p), "gnu")
    d = store.layer_dirs(img)[0]
    assert os.path.isfile(os.path.join(d, long))
    assert os.readlink(os.path.join(d, "l" * 150)) == "t" * 150


# ---------------------------------------------------------------------------------------------
# source identity (stacks: a reference is current when its image came from the same tar+changes)


def test_import_records_the_source_identity_of_the_bytes_read(store, tmp_path):
    from rocker.images.store import SOURCE_KEY, changes_key, source_changes
    path = make_tar(tmp_path / "s.tar.gz", BASIC, "gz")
    with open(path, "ab") as f:
        f.write(b"\0" * 1000)         # bytes past the archive count too
    raw = open(path, "rb").read()
    img = store.import_tar(str(path), "app:1", changes=["env A=1", "CMD sh"])
    src = store.source_of(img.id)
    assert src == img.source
    # rocker's bookkeeping lives beside the config, never in it: the id is the config's sha256
    assert SOURCE_KEY not in img.document
    assert "sha256:" + hashlib.sha256(store.config_bytes(img.id)).hexdigest() == img.id
    assert src["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    # canonical: spelling does not count, order does
    assert changes_key(src["changes"]) == changes_key(source_changes(["ENV  A=1", "CMD sh"]))
    assert changes_key(src["changes"]) != changes_key(source_changes(["CMD sh", "ENV A=1"]))
    # a second import of the same tar: another image id, the same identity
    again = store.import_tar(str(path), "app:1", changes=["ENV A=1", "CMD sh"])
    assert again.id != img.id or again.document["created"] == img.document["created"]
    assert store.source_of(again.id)["digest"] == src["digest"]


def test_streamed_import_records_the_digest_of_the_stream(store, tmp_path):
    data = tar_bytes(BASIC)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        img = store.import_tar(f, "piped")
    os.waitpid(pid, 0)
    assert store.source_of(img.id)["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()


def test_commit_has_no_source_identity(store, tmp_path):
    base = _import(store, tmp_path, BASIC, "base")
    assert store.source_of(base.id) is not None
    empty = tmp_path / "empty"
    empty.mkdir()
    img = store.commit(str(empty), "base", "derived")
    assert store.source_of(img.id) is None
    assert store.source_of("sha256:" + "0" * 64) is None


def test_a_config_written_by_an_older_rocker_keeps_its_id_and_source(store, tmp_path):
    """Configs of older rockers (canonical JSON with rocker_source inside) are read as they are:
    same id, the source identity from inside."""
    from rocker.images.store import SOURCE_KEY, canonical_bytes
    img = _import(store, tmp_path, BASIC, "old")
    doc = dict(img.document)
    doc[SOURCE_KEY] = {"digest": "sha256:" + "1" * 64, "changes": []}
    data = canonical_bytes(doc)
    old_id = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(store.config_path(old_id), "wb") as f:
        f.write(data)
    store.tag(old_id, "library/legacy:1")
    assert store.resolve(old_id).id == old_id
    assert store.source_of(old_id)["digest"] == "sha256:" + "1" * 64
    # `library/legacy` is the short name `legacy` now, and the store finds it either way
    assert store.resolve("legacy:1").id == old_id
    assert store.resolve("docker.io/library/legacy:1").id == old_id


def test_register_image_keeps_config_bytes_and_digest_refs(store, tmp_path):
    import json
    base = _import(store, tmp_path, BASIC, "base")
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                      "rootfs": {"type": "layers", "diff_ids": base.layers}},
                     indent=3).encode()
    digest = "sha256:" + "2" * 64
    img = store.register_image(cfg, [], refs=["127.0.0.1:5000/x:1"],
                               digests=["127.0.0.1:5000/x@" + digest])
    assert img.id == "sha256:" + hashlib.sha256(cfg).hexdigest()
    assert store.config_bytes(img.id) == cfg
    assert store.resolve("127.0.0.1:5000/x@" + digest).id == img.id
    assert store.resolve("127.0.0.1:5000/x:1").digests == ["127.0.0.1:5000/x@" + digest]
    store.tag("base", "other")      # a later write keeps the digest table
    assert store.resolve("127.0.0.1:5000/x@" + digest).id == img.id
    store.remove("127.0.0.1:5000/x:1")
    assert store.digest_refs() == {}


def test_rmi_of_digest_references(store, tmp_path):
    import json
    base = _import(store, tmp_path, BASIC, "base")
    cfg = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": base.layers}}
                     ).encode()
    d1, d2 = "sha256:" + "3" * 64, "sha256:" + "4" * 64
    img = store.register_image(cfg, [], refs=["r/x:1"], digests=[f"r/x@{d1}", f"r/x@{d2}"])
    assert store.remove(f"r/x@{d1}") == [("Untagged", f"r/x@{d1}")]
    out = store.remove("r/x:1")
    assert ("Untagged", f"r/x@{d2}") in out and ("Deleted", img.id) in out
    assert store.digest_refs() == {}
    img = store.register_image(cfg, [], digests=[f"r/x@{d1}"])
    out = store.remove(f"r/x@{d1}")
    assert ("Deleted", img.id) in out


def test_prune_layers_removes_only_layers_no_image_names(store, tmp_path):
    import shutil
    img = _import(store, tmp_path, BASIC, "keep")
    orphan = store.layer_path("sha256:" + "9" * 64)
    shutil.copytree(store.layer_path(img.layers[0]), orphan, symlinks=True)
    assert [d for d, _ in store.prune_layers()] == ["sha256:" + "9" * 64]
    assert store.has_layer(img.layers[0]) and not os.path.exists(orphan)
    assert store.prune_layers() == []
