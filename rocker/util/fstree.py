"""Symlink-safe walking of trees that a container can write to (upper layers, rootfs copies).

Every walk of a container-writable tree goes through here: `commit` (the layer tar), `rm` and
garbage collection (`remove_tree`), sizes (`tree_size`). The rules, which hold even while the
container changes the tree under the walk (renames, folder <-> symlink swaps):

- Nothing is ever resolved by path below the starting folder: every entry is reached with
  `openat`/`fstatat`/`unlinkat` relative to the descriptor of its parent folder, folders are
  opened with O_DIRECTORY|O_NOFOLLOW and files with O_NOFOLLOW, so a symlink is never followed,
  whichever component it replaces and whenever it appears. An entry that changed kind between
  listing and opening is taken for what it is when opened (or skipped if it is gone).
- No recursion and no descriptor per level: the walker holds the descriptor of the folder it is
  in (plus, briefly, one more). Going back up it opens ".." of the current folder and checks
  that it is the very folder (device, inode) it came down from; if the container moved the
  folder meanwhile, the walk stops with TreeChanged rather than wander. Depth is bounded only
  by memory for the names still to visit at each level.
- Errors name paths relative to the starting folder, never host paths around it.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Iterator

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = (os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
              | getattr(os, "O_NOATIME", 0))

ENTER, LEAVE, OTHER = "enter", "leave", "other"


class TreeChanged(OSError):
    """The tree changed under the walk in a way that makes going on unsafe."""


class Entry:
    """One entry met by `walk`: `dir_fd` is its parent folder's descriptor, valid until the
    walk moves on; `rel` its path relative to the start (components joined by "/"); `st` its
    lstat; `fd` (folders on ENTER only) the folder's own descriptor."""

    __slots__ = ("dir_fd", "name", "rel", "st", "fd")

    def __init__(self, dir_fd: int, name: str, rel: str, st: os.stat_result,
                 fd: int | None = None) -> None:
        self.dir_fd, self.name, self.rel, self.st, self.fd = dir_fd, name, rel, st, fd


class _Frame:
    __slots__ = ("fd", "names", "rel", "name", "dev_ino", "parent_dev_ino", "st")

    def __init__(self, fd: int, names: list[str], rel: str, name: str,
                 st: os.stat_result, parent_dev_ino: tuple[int, int] | None) -> None:
        self.fd, self.names, self.rel, self.name, self.st = fd, names, rel, name, st
        self.dev_ino = (st.st_dev, st.st_ino)
        self.parent_dev_ino = parent_dev_ino


def _listdir(fd: int) -> list[str]:
    # os.listdir(fd) works on a duplicate (it closes what it scans)
    return sorted(os.listdir(fd), reverse=True)   # popped from the end: ascending order


def open_dir(path: str) -> int:
    """The starting folder itself, opened without following a symlink in its last component."""
    return os.open(path, DIR_FLAGS)


def walk(top_fd: int, *, post: bool = False) -> Iterator[tuple[str, Entry]]:
    """Walk the tree below the folder `top_fd` (which the caller keeps open and closes).

    Yields (ENTER, entry) for a folder before its contents, with entry.fd open on it,
    (OTHER, entry) for everything else, and with `post` (LEAVE, entry) after a folder's
    contents, entry.dir_fd being its parent again (for rmdir). Names come in sorted order.
    """
    top_st = os.fstat(top_fd)
    stack = [_Frame(os.dup(top_fd), _listdir(top_fd), "", "", top_st, None)]
    try:
        while stack:
            fr = stack[-1]
            if not fr.names:
                stack.pop()
                if not stack:
                    os.close(fr.fd)
                    break
                parent = stack[-1]
                if parent.fd < 0:
                    parent.fd = _reopen_parent(fr)
                os.close(fr.fd)
                fr.fd = -1
                if post:
                    yield LEAVE, Entry(parent.fd, fr.name, fr.rel, fr.st)
                continue
            name = fr.names.pop()
            rel = f"{fr.rel}/{name}" if fr.rel else name
            try:
                st = os.stat(name, dir_fd=fr.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                yield OTHER, Entry(fr.fd, name, rel, st)
                continue
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=fr.fd)
            except FileNotFoundError:
                continue
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise OSError(e.errno, f"{e.strerror}: {rel}") from None
                # swapped for something else since the listing: take it as what it is now
                try:
                    st = os.stat(name, dir_fd=fr.fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield OTHER, Entry(fr.fd, name, rel, st)
                continue
            st = os.fstat(fd)
            try:
                names = _listdir(fd)
            except OSError:
                os.close(fd)
                raise
            entry = Entry(fr.fd, name, rel, st, fd)
            yield ENTER, entry
            # descend: the parent's descriptor is given up and found again through ".."
            os.close(fr.fd)
            fr.fd = -1
            stack.append(_Frame(fd, names, rel, name, st, fr.dev_ino))
    finally:
        for fr in stack:
            if fr.fd >= 0:
                os.close(fr.fd)


def _reopen_parent(fr: _Frame) -> int:
    fd = os.open("..", DIR_FLAGS, dir_fd=fr.fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != fr.parent_dev_ino:
        os.close(fd)
        raise TreeChanged(errno.ESTALE, f"the folder {fr.rel} was moved while it was being "
                                        "read: the tree changed under the walk")
    return fd


def remove_tree(path: str) -> None:
    """Remove `path` and everything below it: never follows a symlink, no recursion, a bounded
    number of descriptors whatever the depth. A missing `path` is fine; a symlink or file at
    `path` is unlinked itself."""
    remove_at(None, path)


def remove_at(dir_fd: int | None, name: str) -> None:
    """`remove_tree` of `name` relative to the folder `dir_fd` (None: the working folder)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _ignore_missing(os.unlink, name, dir_fd)
        return
    try:
        top = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    try:
        _make_writable(top)
        for kind, e in walk(top, post=True):
            if kind == ENTER:
                _make_writable(e.fd)
            elif kind == LEAVE:
                _ignore_missing(os.rmdir, e.name, e.dir_fd)
            else:
                _ignore_missing(os.unlink, e.name, e.dir_fd)
    finally:
        os.close(top)
    _ignore_missing(os.rmdir, name, dir_fd)


def _make_writable(fd: int) -> None:
    # a folder without write/exec permission for its owner (possible when not root)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o700 != 0o700:
            os.fchmod(fd, 0o700)
    except OSError:
        pass


def _ignore_missing(fn, name: str, dir_fd: int | None) -> None:
    try:
        fn(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def tree_size(path: str) -> int:
    """Bytes of regular files below `path` (not following symlinks), each inode counted once.
    A missing or unreadable tree counts what could be read."""
    try:
        top = open_dir(path)
    except OSError:
        return 0
    total = 0
    seen: set[tuple[int, int]] = set()
    try:
        for kind, e in walk(top):
            if kind != OTHER or not stat.S_ISREG(e.st.st_mode):
                continue
            if e.st.st_nlink > 1:
                key = (e.st.st_dev, e.st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += e.st.st_size
    except OSError:
        pass
    finally:
        os.close(top)
    return total
