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

import errno
import os
import stat
from typing import Any, BinaryIO

from rocker.images.extract import OPAQUE_MARKER, WHITEOUT_PREFIX
from rocker.util import fstree

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def _xattrs(fd: int) -> dict[str, str]:
    try:
        names = os.listxattr(fd)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        if name.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        try:
            value = os.getxattr(fd, name)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(fd: int) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError:
            continue
    return False


def write_upper_tar(upper: str, out: BinaryIO, skip=None) -> None:
    """Write the layer tar of the overlay upper directory `upper` to `out`.

    The walk is rocker.util.fstree's: it never follows a symlink, whatever the container does
    to its tree meanwhile. `skip(rel, st)` may leave entries out (rocker's own mount points)."""
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
        top = fstree.open_dir(upper)
        try:
            for kind, e in fstree.walk(top):
                _add(tf, kind, e, info, empty, inodes, skip)
        finally:
            os.close(top)


def _add(tf: Any, kind: str, e: fstree.Entry, info, empty, inodes: dict, skip) -> None:
    import tarfile

    st, name = e.st, e.rel
    mode = st.st_mode
    if skip is not None and skip(name, st):
        return
    if kind == fstree.ENTER:
        ti = info(name, st, tarfile.DIRTYPE)
        ti.pax_headers = _xattrs(e.fd)
        tf.addfile(ti)
        if _is_opaque(e.fd):
            tf.addfile(empty(name + "/" + OPAQUE_MARKER, st))
        return
    prefix = name[:len(name) - len(e.name)]
    if stat.S_ISCHR(mode) and st.st_rdev == 0:
        tf.addfile(empty(prefix + WHITEOUT_PREFIX + e.name, st))
    elif stat.S_ISREG(mode):
        try:
            fd = os.open(e.name, fstree.FILE_FLAGS, dir_fd=e.dir_fd)
        except (FileNotFoundError, OSError) as err:
            if isinstance(err, FileNotFoundError) or err.errno in (errno.ELOOP, errno.ENXIO):
                return   # gone, or swapped for a symlink/fifo since it was listed: never followed
            raise OSError(err.errno, f"{err.strerror}: {name}") from None
        with os.fdopen(fd, "rb", buffering=1 << 20) as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in inodes:
                ti = info(name, st, tarfile.LNKTYPE)
                ti.linkname = inodes[key]
                tf.addfile(ti)
                return
            if st.st_nlink > 1:
                inodes[key] = name
            ti = info(name, st, tarfile.REGTYPE)
            ti.pax_headers = _xattrs(fd)
            ti.size = st.st_size
            tf.addfile(ti, _Exactly(f, st.st_size))
    elif stat.S_ISLNK(mode):
        try:
            target = os.readlink(e.name, dir_fd=e.dir_fd)
        except OSError:
            return
        ti = info(name, st, tarfile.SYMTYPE)
        ti.linkname = target
        tf.addfile(ti)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti = info(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tf.addfile(ti)
    elif stat.S_ISFIFO(mode):
        tf.addfile(info(name, st, tarfile.FIFOTYPE))
    # sockets and anything else cannot be stored in a tar: skipped


class _Exactly:
    """A file read as exactly `size` bytes (zeros if it shrank meanwhile), so a file the running
    container changes during the commit never makes the tar inconsistent."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        if len(data) < n:
            data += bytes(n - len(data))
        self.left -= len(data)
        return data
