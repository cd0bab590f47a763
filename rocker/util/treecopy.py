"""Copying trees between descriptors without ever following a symlink: a volume's copy-up from
the image and both directions of `rocker cp`.

Both sides are reached relative to folder descriptors (rocker.util.fstree's walk on the source,
openat/mkdirat/symlinkat with O_NOFOLLOW on the destination), so a symlink met on either side
is copied as a symlink or refused, never followed, even when it appears during the copy. A file
replaced by something else between the listing and the open is taken for what it is when
opened. Owners, modes and times are kept (as `docker cp -a` does); `host=True` (copying out of
a container onto the host) drops set-uid/set-gid bits and skips device nodes.
"""

from __future__ import annotations

import errno
import os
import stat

from rocker.util import fstree

DST_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20


def _meta(fd: int | None, st: os.stat_result, host: bool, dir_fd: int | None = None,
          name: str | None = None) -> None:
    """Owner, mode and times of `st` onto the descriptor `fd` (or, for a symlink, onto
    `name` in `dir_fd` without following it)."""
    mode = stat.S_IMODE(st.st_mode)
    if host:
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    if fd is None:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd,
                 follow_symlinks=False)
        return
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, mode)   # after chown: chown clears set-id bits
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _clear(dst_fd: int, name: str, want_dir: bool) -> bool:
    """Make room for `name` in `dst_fd`: a folder stays (merged into) when a folder comes;
    anything else is unlinked (a symlink too: never followed). True if a folder is there."""
    try:
        st = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if want_dir:
            return True
        raise IsADirectoryError(errno.EISDIR, f"cannot overwrite the directory {name} with a "
                                              "non-directory")
    os.unlink(name, dir_fd=dst_fd)
    return False


def _copy_file(src_dir: int, name: str, dst_fd: int, dst_name: str, host: bool) -> None:
    try:
        src = os.open(name, fstree.FILE_FLAGS, dir_fd=src_dir)
    except FileNotFoundError:
        return
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            return  # swapped for something else since the listing
        os.set_blocking(src, True)
        _clear(dst_fd, dst_name, False)
        dst = os.open(dst_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, 0o600, dir_fd=dst_fd)
        try:
            while True:
                try:
                    n = os.copy_file_range(src, dst, CHUNK)
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP,
                                       errno.EINVAL):
                        raise
                    n = -1
                if n == -1:
                    while True:
                        data = os.read(src, CHUNK)
                        if not data:
                            break
                        view = memoryview(data)
                        while view:
                            view = view[os.write(dst, view):]
                    break
                if n == 0:
                    break
            _meta(dst, st, host)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_other(e: fstree.Entry, dst_fd: int, dst_name: str, host: bool) -> None:
    st = e.st
    if stat.S_ISREG(st.st_mode):
        _copy_file(e.dir_fd, e.name, dst_fd, dst_name, host)
        return
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(e.name, dir_fd=e.dir_fd)
        except FileNotFoundError:
            return
        _clear(dst_fd, dst_name, False)
        os.symlink(target, dst_name, dir_fd=dst_fd)
        _meta(None, st, host, dst_fd, dst_name)
        return
    if stat.S_ISFIFO(st.st_mode) or (not host and (stat.S_ISCHR(st.st_mode)
                                                   or stat.S_ISBLK(st.st_mode))):
        _clear(dst_fd, dst_name, False)
        os.mknod(dst_name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst_fd)
        fd = os.open(dst_name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_fd)
        try:
            os.chown(dst_name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
            os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    # sockets (and devices copied onto the host) are skipped


def _open_or_make_dir(dst_fd: int, name: str) -> int:
    if not _clear(dst_fd, name, True):
        os.mkdir(name, 0o700, dir_fd=dst_fd)
    return os.open(name, DST_DIR, dir_fd=dst_fd)


def copy_into(src_fd: int, dst_fd: int, top: bool = False, host: bool = False) -> None:
    """Copy the contents of the folder `src_fd` into the folder `dst_fd` (merging into what is
    there); `top`: the source folder's own owner, mode and times go onto `dst_fd` too."""
    stack = [os.dup(dst_fd)]
    try:
        for kind, e in fstree.walk(src_fd, post=True):
            if kind == fstree.ENTER:
                stack.append(_open_or_make_dir(stack[-1], e.name))
            elif kind == fstree.LEAVE:
                fd = stack.pop()
                try:
                    _meta(fd, e.st, host)
                finally:
                    os.close(fd)
            else:
                _copy_other(e, stack[-1], e.name, host)
        if top:
            _meta(stack[0], os.fstat(src_fd), host)
    finally:
        for fd in stack:
            os.close(fd)


def copy_entry(src_dir: int, name: str, dst_dir: int, dst_name: str, host: bool = False) -> None:
    """Copy the entry `name` of the folder `src_dir` (a file, a symlink as a symlink, a whole
    folder) to `dst_name` in the folder `dst_dir`."""
    st = os.stat(name, dir_fd=src_dir, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        _copy_other(fstree.Entry(src_dir, name, name, st), dst_dir, dst_name, host)
        return
    src = os.open(name, fstree.DIR_FLAGS, dir_fd=src_dir)
    try:
        dst = _open_or_make_dir(dst_dir, dst_name)
        try:
            copy_into(src, dst, top=True, host=host)
        finally:
            os.close(dst)
    finally:
        os.close(src)
