"""`rocker export`: a container's filesystem as one tar, merged from its layers in user space.

The layers (the container's writable upper folder first, then the image's layers, top first)
are merged as overlayfs would show them, without mounting anything: the topmost layer that has
a name wins; an overlay whiteout (char device 0:0) hides the name below it; an opaque folder
(`trusted.overlay.opaque=y`) hides what lower layers have inside it. The walk opens every
folder with `openat(O_DIRECTORY|O_NOFOLLOW)` relative to its parent and every file with
O_NOFOLLOW, iteratively (no recursion limit), so a container that swaps a folder for a symlink
meanwhile cannot make it read outside its tree. Owners are numeric; hardlinks inside one layer
stay hardlinks; sockets are left out.
"""

from __future__ import annotations

import os
import stat
from typing import Any, BinaryIO

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")


def _opaque(fd: int) -> bool:
    for name in _OPAQUE:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError:
            continue
    return False


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def write_merged_tar(layer_dirs: list[str], out: BinaryIO) -> int:
    """Write the merged view of `layer_dirs` (top first) to `out` as a tar; entries written."""
    import tarfile

    count = 0
    links: dict[tuple[int, int], str] = {}
    roots = []
    for d in layer_dirs:
        try:
            roots.append(os.open(d, _DIR))
        except FileNotFoundError:
            continue
    stack: list[tuple[str, list[int]]] = [("", roots)]
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore
                      bufsize=1 << 20) as tf:
        while stack:
            rel, fds = stack.pop()
            try:
                names: dict[str, None] = {}
                for fd in fds:
                    for n in os.listdir(fd):
                        names.setdefault(n, None)
                children = []
                for n in sorted(names):
                    top = None
                    for i, fd in enumerate(fds):
                        try:
                            st = os.stat(n, dir_fd=fd, follow_symlinks=False)
                        except FileNotFoundError:
                            continue
                        top = (i, st)
                        break
                    if top is None or _whiteout(top[1]):
                        continue
                    i, st = top
                    path = f"{rel}{n}"
                    ti = tarfile.TarInfo(path)
                    ti.mode = stat.S_IMODE(st.st_mode)
                    ti.uid, ti.gid, ti.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
                    ti.uname = ti.gname = ""
                    m = st.st_mode
                    if stat.S_ISDIR(m):
                        ti.type = tarfile.DIRTYPE
                        tf.addfile(ti)
                        sub = []
                        for fd in fds[i:]:
                            try:
                                cfd = os.open(n, _DIR, dir_fd=fd)
                            except (FileNotFoundError, NotADirectoryError):
                                # a non-folder (or whiteout) here hides everything below
                                try:
                                    os.stat(n, dir_fd=fd, follow_symlinks=False)
                                    break
                                except FileNotFoundError:
                                    continue
                            except OSError as e:
                                if e.errno == 40:  # ELOOP: a symlink: hides what is below
                                    break
                                raise
                            sub.append(cfd)
                            if _opaque(cfd):
                                break
                        children.append((path + "/", sub))
                    elif stat.S_ISREG(m):
                        key = (st.st_dev, st.st_ino)
                        if st.st_nlink > 1 and key in links:
                            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
                            tf.addfile(ti)
                        else:
                            ffd = os.open(n, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                          dir_fd=fds[i])
                            with os.fdopen(ffd, "rb") as f:
                                ti.size = os.fstat(f.fileno()).st_size
                                tf.addfile(ti, _Exactly(f, ti.size))
                            if st.st_nlink > 1:
                                links[key] = path
                    elif stat.S_ISLNK(m):
                        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(n, dir_fd=fds[i])
                        tf.addfile(ti)
                    elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(m) else tarfile.BLKTYPE
                        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                        tf.addfile(ti)
                    elif stat.S_ISFIFO(m):
                        ti.type = tarfile.FIFOTYPE
                        tf.addfile(ti)
                    else:
                        continue  # sockets
                    count += 1
                stack.extend(reversed(children))
            finally:
                for fd in fds:
                    os.close(fd)
    return count


class _Exactly:
    """Exactly `size` bytes of `f`, padded with zeros if the file shrank meanwhile (the tar
    header already gave the size)."""

    def __init__(self, f: Any, size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n) or b"\0" * n
        self.left -= len(data)
        return data
