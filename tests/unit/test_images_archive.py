"""rocker.images.archive without root: docker-archive (legacy and Docker 25 layouts) and OCI
layouts loaded into a store, save -> load keeping the ID, names and links checked, digests
and diff ids verified, nothing registered on failure."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from rocker.errors import InvalidInput, UnsafeArchive
from rocker.images import archive
from rocker.images.store import ImageStore
from rocker.paths import Paths
from tests.unit.test_images_tarutil import tar_bytes


@pytest.fixture
def store(tmp_path):
    return ImageStore(Paths(str(tmp_path / "root"), str(tmp_path / "run")))


def sha(b: bytes) -> str:
    import hashlib
    return "sha256:" + hashlib.sha256(b).hexdigest()


LAYER = tar_bytes([("file", "etc/hello", b"hi\n")])


def config(*layers) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]}},
                      indent=1).encode()


def write_tar(path, members) -> str:
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            if isinstance(data, tuple):       # ("symlink", target)
                ti = tarfile.TarInfo(name)
                ti.type, ti.linkname = tarfile.SYMTYPE, data[1]
                tf.addfile(ti)
                continue
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return str(path)


def test_legacy_docker_archive(store, tmp_path):
    cfg = config(LAYER)
    cid = sha(cfg)[7:]
    path = write_tar(tmp_path / "a.tar", [
        (f"{cid}.json", cfg), ("abc/layer.tar", LAYER), ("abc/VERSION", b"1.0"),
        ("manifest.json", json.dumps([{"Config": f"{cid}.json", "Layers": ["abc/layer.tar"],
                                       "RepoTags": ["docker.io/library/app:1"]}]).encode())])
    [loaded] = archive.load(store, path)
    assert loaded.refs == ["app:1"] and loaded.image_id == "sha256:" + cid
    img = store.resolve("app:1")
    assert store.config_bytes(img.id) == cfg
    assert open(store.layer_dirs(img)[0] + "/etc/hello").read() == "hi\n"


def test_docker25_archive_with_symlinked_layers_and_save_round_trip(store, tmp_path):
    cfg = config(LAYER)
    path = write_tar(tmp_path / "a.tar", [
        ("blobs/sha256/" + sha(cfg)[7:], cfg), ("blobs/sha256/" + sha(LAYER)[7:], LAYER),
        ("legacy/layer.tar", ("symlink", "../blobs/sha256/" + sha(LAYER)[7:])),
        ("manifest.json", json.dumps([{"Config": "blobs/sha256/" + sha(cfg)[7:],
                                       "Layers": ["legacy/layer.tar"],
                                       "RepoTags": ["app:2"]}]).encode())])
    archive.load(store, path)
    out = io.BytesIO()
    archive.save(store, ["app:2"], out)
    other = ImageStore(Paths(str(tmp_path / "root2"), str(tmp_path / "run2")))
    [loaded] = archive.load(other, io.BytesIO(out.getvalue()))
    assert loaded.image_id == sha(cfg) and loaded.refs == ["app:2"]
    names = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames()
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= set(names)


@pytest.mark.parametrize("members,err", [
    ([("../x", b"")], UnsafeArchive),
    ([("a", ("symlink", "/etc/passwd"))], UnsafeArchive),
    ([("a", ("symlink", "../../x"))], UnsafeArchive),
    ([("manifest.json", b"{}")], InvalidInput),
    ([("manifest.json", json.dumps([{"Config": "nope.json", "Layers": []}]).encode())],
     InvalidInput),
    ([("just-a-file", b"x")], InvalidInput),
])
def test_bad_archives(store, tmp_path, members, err):
    with pytest.raises(err):
        archive.load(store, write_tar(tmp_path / "bad.tar", members))
    assert store.image_ids() == []


def test_diff_id_and_digest_mismatches_register_nothing(store, tmp_path):
    cfg = config(tar_bytes([("file", "other", b"")]))
    path = write_tar(tmp_path / "a.tar", [
        ("c.json", cfg), ("l.tar", LAYER),
        ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode())])
    with pytest.raises(InvalidInput, match="corrupt or tampered"):
        archive.load(store, path)
    cfg = config(LAYER)
    bad = "blobs/sha256/" + "0" * 64
    path = write_tar(tmp_path / "b.tar", [
        ("c.json", cfg), (bad, LAYER),
        ("manifest.json", json.dumps([{"Config": "c.json", "Layers": [bad]}]).encode())])
    with pytest.raises(InvalidInput, match="corrupt or tampered"):
        archive.load(store, path)
    assert store.image_ids() == [] and store.usage()["layers"] == 0


def test_an_oci_layout_with_a_short_ref_name_loads_unnamed(store, tmp_path):
    import os
    root = tmp_path / "layout"
    (root / "blobs" / "sha256").mkdir(parents=True)
    cfg = config(LAYER)

    def blob(b):
        (root / "blobs" / "sha256" / sha(b)[7:]).write_bytes(b)
        return {"digest": sha(b), "size": len(b)}
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 **blob(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  **blob(LAYER)}]}).encode()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(man),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    said = []
    [loaded] = archive.load(store, str(root), say=said.append)
    assert loaded.refs == [] and loaded.image_id == sha(cfg)
    assert any("without a name" in s for s in said)
    assert os.path.exists(root / "blobs" / "sha256" / sha(LAYER)[7:])   # a folder is read only


def test_a_layer_of_an_older_rocker_is_saved_from_its_folder(store, tmp_path):
    """Layers imported before blobs were kept: save writes their tar again from the folder;
    when that tar differs from the original, the saved config says so (another ID)."""
    import os
    from rocker.state.store import read_json, write_json
    src = tmp_path / "l.tar"
    src.write_bytes(tar_bytes([("dir", "d"), ("file", "d/f", b"data")]))
    img = store.import_tar(str(src), "old:1")
    layer = store.layer_path(img.layers[0])
    os.unlink(os.path.join(layer, "blob"))
    meta = read_json(os.path.join(layer, "layer.json"))
    del meta["blob"]
    write_json(os.path.join(layer, "layer.json"), meta)
    said = []
    out = io.BytesIO()
    archive.save(store, ["old:1"], out, say=said.append)
    other = ImageStore(Paths(str(tmp_path / "root2"), str(tmp_path / "run2")))
    [loaded] = archive.load(other, io.BytesIO(out.getvalue()))
    again = other.resolve("old:1")
    assert open(os.path.join(other.layer_dirs(again)[0], "d", "f")).read() == "data"
    if loaded.image_id != img.id:
        assert any("older rocker" in s for s in said)
