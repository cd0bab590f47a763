"""Helpers shared by the image tests: build small tar archives entry by entry.

    make_tar(path, [("file", "a/b", b"data"), ("dir", "a"), ("symlink", "l", "/"),
                    ("hardlink", "h", "a/b"), ("chr", "null", 1, 3), ("fifo", "p"),
                    ("raw", tarinfo, data)], compression="gz")

Each entry may end with a dict of TarInfo attributes (mode, uid, gid, mtime, pax_headers).
"""

from __future__ import annotations

import io
import tarfile


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for entry in entries:
            attrs = {}
            if isinstance(entry[-1], dict):
                attrs = entry[-1]
                entry = entry[:-1]
            kind, name = entry[0], entry[1]
            if kind == "raw":
                tf.addfile(name, io.BytesIO(entry[2]) if len(entry) > 2 and entry[2] else None)
                continue
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = 0o644
            data = None
            if kind == "file":
                data = entry[2] if len(entry) > 2 else b""
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = entry[2]
                ti.mode = 0o777
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = entry[2]
            elif kind in ("chr", "blk"):
                ti.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = entry[2], entry[3]
                ti.mode = 0o666
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "type":  # an arbitrary member type byte
                ti.type = entry[2]
            else:
                raise ValueError(kind)
            for k, v in attrs.items():
                setattr(ti, k, v)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data: bytes, compression: str | None) -> bytes:
    if compression in (None, "", "none"):
        return data
    if compression == "gz":
        import gzip
        return gzip.compress(data)
    if compression == "bz2":
        import bz2
        return bz2.compress(data)
    if compression == "xz":
        import lzma
        return lzma.compress(data)
    raise ValueError(compression)


def make_tar(path, entries, compression: str | None = None) -> str:
    with open(path, "wb") as f:
        f.write(compress(tar_bytes(entries), compression))
    return str(path)


def snapshot(root) -> dict:
    """Every path under `root` with its type, mode, size, content hash and link target."""
    import hashlib
    import os
    out = {}
    for dirpath, dirs, files, dfd in os.fwalk(str(root)):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            item = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)
            if os.path.islink(p):
                item += (os.readlink(p),)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    item += (hashlib.sha256(f.read()).hexdigest(),)
            out[os.path.relpath(p, str(root))] = item
    return out


def test_tar_bytes_roundtrip():
    data = tar_bytes([("dir", "a"), ("file", "a/b", b"x"), ("symlink", "l", "a/b")])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.getnames() == ["a", "a/b", "l"]
