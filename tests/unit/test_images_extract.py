"""Lower-level checks of rocker.images.extract: the fast header parser agrees with tarfile's,
compression detection, names, size accounting."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from rocker.errors import InvalidInput, UnsafeArchive
from rocker.images.extract import (_fast_tarinfo_class, detect_compression, extract_layer,
                                   split_name, tree_size)
from tests.conftest import BASE_IMAGE
from tests.unit.test_images_tarutil import tar_bytes

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "type", "linkname", "uname", "gname",
          "devmajor", "devminor", "pax_headers", "offset_data")


def _members(data: bytes, tarinfo=None):
    kw = {"tarinfo": tarinfo} if tarinfo else {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|", **kw) as tf:
        return [tuple(getattr(m, f) for f in FIELDS) for m in tf]


def _variety(fmt):
    ustar = fmt == tarfile.USTAR_FORMAT
    big_uid = {"uid": 7} if ustar else {"uid": 8 ** 7 + 5}
    long = "d/" + "p" * 60 + "/" + "x" * 90 if ustar else "d/" + "x" * 150
    return tar_bytes([
        ("dir", "d/"), ("file", long, b"1" * 700, {"mode": 0o4755, "gid": 12}),
        ("symlink", "l" * 99, "t" * 99) if ustar else ("symlink", "l" * 120, "t" * 120),
        ("hardlink", "h", "d/" + "x" * 90 if ustar else long),
        ("chr", "c", 4, 64), ("blk", "b", 8, 1), ("fifo", "f"),
        ("file", "u\u00e9\u4e2d" if not ustar else "u", b"", big_uid),
        ("file", "p", b"x", {"pax_headers": {"SCHILY.xattr.user.a": "b"}}
         if fmt == tarfile.PAX_FORMAT else {}),
        ("file", "m", b"", {"mtime": 1700000000.5} if fmt == tarfile.PAX_FORMAT else {}),
    ], fmt=fmt)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_fast_parser_matches_tarfile(fmt):
    data = _variety(fmt)
    assert _members(data, _fast_tarinfo_class()) == _members(data)


def test_fast_parser_matches_on_base_image():
    data = open(BASE_IMAGE, "rb").read()
    assert _members(data, _fast_tarinfo_class()) == _members(data)


def test_corrupt_first_header_is_not_a_tar(tmp_path):
    data = bytearray(tar_bytes([("file", "a", b"1")]))
    data[10] ^= 0x55
    with pytest.raises(InvalidInput, match="not a tar archive"):
        extract_layer(io.BytesIO(bytes(data)), str(tmp_path))


def test_corrupt_later_header_refused(tmp_path):
    """tarfile alone would stop quietly at a bad header and import half an archive."""
    data = bytearray(tar_bytes([("file", "a", b"1"), ("file", "b", b"2")]))
    data[512 * 2 + 10] ^= 0x55  # the second header's name
    assert len(_members(bytes(data))) == 1  # what tarfile does by itself
    with pytest.raises(InvalidInput, match="after entry 'a'"):
        extract_layer(io.BytesIO(bytes(data)), str(tmp_path))


def test_truncated_header_refused(tmp_path):
    data = tar_bytes([("file", "a", b"1"), ("file", "b", b"2")])
    with pytest.raises(InvalidInput):
        extract_layer(io.BytesIO(data[:1024 + 300]), str(tmp_path))


def test_missing_end_blocks_accepted(tmp_path):
    data = tar_bytes([("file", "a", b"1")])[:1024]
    info = extract_layer(io.BytesIO(data), str(tmp_path))
    assert info.size == 1 and (tmp_path / "a").read_bytes() == b"1"


@pytest.mark.parametrize("head,kind", [(b"\x1f\x8b\x08", "gzip"), (b"BZh91", "bzip2"),
                                       (b"\xfd7zXZ\x00", "xz"), (b"./\x00\x00", "none"),
                                       (b"", "none")])
def test_detect_compression(head, kind):
    assert detect_compression(head) == kind


def test_zstd_layers_extract_and_keep_their_blob(tmp_path):
    import hashlib
    import zstandard
    raw = tar_bytes([("file", "a/b.txt", b"zstd content")])
    blob = zstandard.ZstdCompressor().compress(raw)
    assert detect_compression(blob) == "zstd"
    (tmp_path / "d").mkdir()
    kept = io.BytesIO()
    info = extract_layer(io.BytesIO(blob), str(tmp_path / "d"), keep=kept)
    assert (tmp_path / "d" / "a" / "b.txt").read_bytes() == b"zstd content"
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert kept.getvalue() == blob
    assert info.blob_digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert (info.blob_size, info.blob_compression) == (len(blob), "zstd")


@pytest.mark.parametrize("compress,kind,keeps_raw", [
    (lambda b: b, "none", True), ("gzip", "gzip", True), ("bz2", "none", False)])
def test_keep_writes_a_layer_media_type(tmp_path, compress, kind, keeps_raw):
    import bz2
    import gzip
    import hashlib
    raw = tar_bytes([("file", "x", b"1" * 5000)])
    data = {"gzip": gzip.compress, "bz2": bz2.compress}.get(compress, compress)(raw) \
        if isinstance(compress, str) else compress(raw)
    (tmp_path / "d").mkdir()
    kept = io.BytesIO()
    info = extract_layer(io.BytesIO(data), str(tmp_path / "d"), keep=kept)
    assert kept.getvalue() == (data if keeps_raw else raw)
    assert info.blob_compression == kind
    assert info.blob_digest == "sha256:" + hashlib.sha256(kept.getvalue()).hexdigest()


@pytest.mark.parametrize("name,parts", [("./a//b/./c/", ("a", "b", "c")), (".", ()),
                                        ("./", ()), ("a", ("a",))])
def test_split_name(name, parts):
    assert split_name(name) == parts


@pytest.mark.parametrize("name", ["/a", "a/../b", "..", "", "a\0b"])
def test_split_name_refuses(name):
    with pytest.raises(UnsafeArchive):
        split_name(name)


def test_tracked_size_matches_tree_walk(tmp_path):
    entries = [("file", "a", b"1" * 1000), ("hardlink", "b", "a"), ("file", "c", b"2" * 10),
               ("file", "c", b"3" * 20),                    # replaced: counts 20
               ("file", "d/e", b"4" * 50), ("symlink", "d", "a"),  # folder replaced
               ("file", "f", b"5" * 7), ("hardlink", "g", "f"), ("file", ".wh.f"),
               ("fifo", "p")]
    dest = tmp_path / "x"
    dest.mkdir()
    info = extract_layer(io.BytesIO(tar_bytes(entries)), str(dest))
    assert info.size == tree_size(str(dest)) == 1000 + 20 + 7
    assert not os.path.lexists(dest / "d" / "e")


def test_many_folders_and_cross_folder_hardlinks(tmp_path):
    """More folders than the fd cache holds, with hardlinks reaching back to early folders."""
    entries = []
    for i in range(600):
        entries.append(("file", f"d{i:03d}/sub/f", str(i).encode()))
        if i >= 300:
            entries.append(("hardlink", f"d{i:03d}/h", f"d{i - 300:03d}/sub/f"))
    dest = tmp_path / "x"
    dest.mkdir()
    info = extract_layer(io.BytesIO(tar_bytes(entries)), str(dest))
    assert (dest / "d450/h").read_bytes() == b"150"
    assert os.stat(dest / "d450/h").st_ino == os.stat(dest / "d150/sub/f").st_ino
    assert info.size == tree_size(str(dest))
    assert len(os.listdir(f"/proc/{os.getpid()}/fd")) < 64  # every fd was closed
