"""A layer tar built from an overlayfs upper directory (what `commit` turns into a new layer).

The upper directory of a container holds what changed relative to its image. It becomes an
OCI-style layer tar (PAX format, names sorted, numeric owners, no user/group names):

- an overlay whiteout (char device 0:0 `<name>`) becomes an empty `.wh.<name>` entry;
- an opaque folder (xattr `trusted.overlay.opaque=y`, or `user.overlay.opaque=y` with the
  userxattr mount option) becomes the folder entry plus an empty `<dir>/.wh..wh..opq`;
- hardlinked files inside the upper directory stay hardlinks; sockets are skipped;
- xattrs are kept as `SCHILY.xattr.*` PAX records, except overlayfs' own (`*.overlay.*`).

The upper directory itself (the layer root) is not an entry. An empty upper directory gives a
valid, empty layer.
"""

from __future__ import annotations

import os
import stat
from typing import Any, BinaryIO

from rocker.images.extract import OPAQUE_MARKER, WHITEOUT_PREFIX

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        if name.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def write_upper_tar(upper: str, out: BinaryIO) -> None:
    """Write the layer tar of the overlay upper directory `upper` to `out`."""
    import tarfile

    inodes: dict[tuple[int, int], str] = {}

    def info(name: str, st: os.stat_result, kind: bytes) -> Any:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = ti.gname = ""
        ti.mtime = int(st.st_mtime)
        return ti

    def empty(name: str, st: os.stat_result) -> Any:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.REGTYPE
        ti.mode = 0o600
        ti.mtime = int(st.st_mtime)
        ti.uname = ti.gname = ""
        return ti

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      bufsize=64 * 1024) as tf:
        def walk(dir_path: str, prefix: str) -> None:
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                path = e.path
                name = prefix + e.name
                st = os.lstat(path)
                mode = st.st_mode
                if stat.S_ISCHR(mode) and st.st_rdev == 0:
                    tf.addfile(empty(prefix + WHITEOUT_PREFIX + e.name, st))
                elif stat.S_ISDIR(mode):
                    ti = info(name, st, tarfile.DIRTYPE)
                    ti.pax_headers = _xattrs(path)
                    tf.addfile(ti)
                    if _is_opaque(path):
                        tf.addfile(empty(name + "/" + OPAQUE_MARKER, st))
                    walk(path, name + "/")
                elif stat.S_ISREG(mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in inodes:
                        ti = info(name, st, tarfile.LNKTYPE)
                        ti.linkname = inodes[key]
                        tf.addfile(ti)
                        continue
                    if st.st_nlink > 1:
                        inodes[key] = name
                    ti = info(name, st, tarfile.REGTYPE)
                    ti.pax_headers = _xattrs(path)
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    with os.fdopen(fd, "rb", buffering=1 << 20) as f:
                        ti.size = os.fstat(f.fileno()).st_size
                        tf.addfile(ti, f)
                elif stat.S_ISLNK(mode):
                    ti = info(name, st, tarfile.SYMTYPE)
                    ti.linkname = os.readlink(path)
                    tf.addfile(ti)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    ti = info(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode)
                              else tarfile.BLKTYPE)
                    ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                    tf.addfile(ti)
                elif stat.S_ISFIFO(mode):
                    tf.addfile(info(name, st, tarfile.FIFOTYPE))
                # sockets and anything else cannot be stored in a tar: skipped

        walk(upper, "")
