"""Safe, streaming extraction of an untrusted layer tar into an empty folder.

This module is the security boundary of the image store: the archive may be hostile. It never
uses tarfile's extract functions. Members are read one by one from `tarfile.open(mode="r|")`
(streaming, so stdin works) and every object is created by this code, relative to directory
file descriptors:

- each member name is split into components; absolute names and `..` components are refused;
- parent folders are walked one component at a time with
  `openat(O_DIRECTORY|O_NOFOLLOW)`; a parent that is a symlink is refused (so a symlink the
  archive made, to `/` or anywhere, is never followed); missing parents are created (0755);
- files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` after unlinking an existing
  non-directory entry of the same name (a later entry replaces an earlier one, as tar does;
  a directory replaced by a non-directory is removed, without following symlinks);
- hardlink targets must be inside, already extracted, and neither a symlink nor a folder;
- device nodes are refused unless running as root; unknown member types are refused;
- symlinks are created as they are (they may point anywhere: they are never followed here);
- owners are numeric (`fchown`/`lchown` with the member's uid/gid, no name lookups), modes keep
  setuid/setgid/sticky (chmod after chown), mtimes are kept (folders last, deepest first),
  xattrs come from PAX headers (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`; `trusted.overlay.*`
  from an archive is ignored);
- whiteouts: `.wh.<name>` becomes an overlayfs whiteout (char device 0:0 `<name>`) and
  `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its folder; other `.wh..wh.*` entries
  (aufs metadata) are skipped.

Compression is detected from the first bytes (gzip, bzip2, xz, zstd or none). The diff ID is
the sha256 of the decompressed stream, all of it (the rest is drained after the last member).
With `keep=FILE` the layer's blob is written there while extracting (what save and push send
later): the bytes as read when they are a layer media type (none, gzip, zstd), else the
decompressed tar; `LayerInfo.blob_digest` is its sha256.
The caller owns the destination folder and removes it on failure (see `remove_tree`).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from rocker.errors import InvalidInput, UnsafeArchive

CHUNK = 1 << 20
TAR_BUFSIZE = 32 * 1024
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_FD_CACHE = 256

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Progress = Callable[[int, "int | None"], None]


@dataclass
class LayerInfo:
    diff_id: str          # "sha256:<hex>" of the uncompressed tar stream
    size: int             # bytes of regular files, hardlinked inodes counted once
    tar_size: int         # bytes of the uncompressed tar stream
    compression: str      # "none", "gzip", "bzip2", "xz" or "zstd"
    blob_digest: str = ""     # "sha256:<hex>" of what `keep` received ("" without keep)
    blob_size: int = 0
    blob_compression: str = ""  # "none", "gzip" or "zstd": the media type of the kept blob


# --------------------------------------------------------------------------- input streams

class _Source:
    """The raw (maybe compressed) input: returns the sniffed bytes first, counts, reports."""

    def __init__(self, f: BinaryIO, total: int | None, progress: Progress | None) -> None:
        self.f = f
        self.total = total
        self.progress = progress
        self.count = 0
        self._next_report = 0
        self.head = b""
        self.keep: Any = None      # (file, sha256) when the raw bytes are kept
        while len(self.head) < 6:
            more = f.read(6 - len(self.head))
            if not more:
                break
            self.head += more
        self._pending = self.head

    def read(self, n: int = -1) -> bytes:
        if self._pending:
            data = self._pending if n is None or n < 0 else self._pending[:n]
            self._pending = self._pending[len(data):]
        else:
            data = self.f.read() if n is None or n < 0 else self.f.read(n)
        if data:
            self.count += len(data)
            if self.keep is not None:
                self.keep[0].write(data)
                self.keep[1].update(data)
            if self.progress is not None and self.count >= self._next_report:
                self._next_report = self.count + 4 * CHUNK
                self.progress(self.count, self.total)
        return data

    def readable(self) -> bool:
        return True


class _Hashing:
    """The decompressed tar stream as tarfile sees it: every byte read is hashed and counted.

    (Hashing in a helper thread was measured: slower on a busy 2-CPU machine, so it is not.)"""

    def __init__(self, f: Any) -> None:
        import hashlib

        self.f = f
        self.h = hashlib.sha256()
        self.n = 0
        self.keep: Any = None      # a file receiving the decompressed tar

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if data:
            self.h.update(data)
            self.n += len(data)
            if self.keep is not None:
                self.keep.write(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _show(name: str | None) -> str:
    """An entry name for an error message: quoted, and shortened when very long (a path 1100
    folders deep must not fill the screen)."""
    if name is not None and len(name) > 160:
        name = f"{name[:60]}...({len(name) - 120} more characters)...{name[-60:]}"
    return repr(name)


def detect_compression(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return "none"


def _decompressed(src: _Source) -> tuple[Any, str]:
    kind = detect_compression(src.head)
    if kind == "gzip":
        import gzip
        return gzip.GzipFile(fileobj=src, mode="rb"), kind
    if kind == "bzip2":
        import bz2
        return bz2.BZ2File(src, "rb"), kind
    if kind == "xz":
        import lzma
        return lzma.LZMAFile(src, "rb"), kind
    if kind == "zstd":
        import io
        import zstandard
        reader = zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)
        return io.BufferedReader(reader, CHUNK), kind  # type: ignore[arg-type]
    return src, kind


# --------------------------------------------------------------------------- names

def split_name(name: str, what: str = "entry") -> tuple[str, ...]:
    """A member name as path components; refuses absolute names and `..` components."""
    if not name:
        raise UnsafeArchive(f"unsafe {what} {_show(name)}: empty name")
    if "\0" in name:
        raise UnsafeArchive(f"unsafe {what} {_show(name)}: NUL byte in name")
    if name.startswith("/"):
        raise UnsafeArchive(f"unsafe {what} {_show(name)}: absolute path")
    parts = tuple(p for p in name.split("/") if p and p != ".")
    if ".." in parts:
        raise UnsafeArchive(f"unsafe {what} {_show(name)}: '..' in path")
    return parts


def _is_whiteout_dev(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


# --------------------------------------------------------------------------- extraction

class _Extractor:
    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.is_root = os.geteuid() == 0
        self.fds: dict[tuple[str, ...], int] = {}
        self.dir_meta: dict[tuple[str, ...], Any] = {}
        self.pinned: tuple[str, ...] | None = None
        self.warnings: list[str] = []
        self.uid, self.gid = os.geteuid(), os.getegid()
        # layer size without a second walk: path -> file number, file number -> size/links
        self.files: dict[tuple[str, ...], int] = {}
        self.fsize: dict[int, int] = {}
        self.nlinks: dict[int, int] = {}
        self.next_fid = 0

    # ---- folders

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()

    def dir_fd(self, parts: tuple[str, ...], entry: str, create: bool = True) -> int:
        """An fd on the folder `parts` (relative to the root), never through a symlink."""
        if not parts:
            return self.root_fd
        fd = self.fds.get(parts)
        if fd is not None:
            # keep recently used folders at the end (LRU)
            del self.fds[parts]
            self.fds[parts] = fd
            return fd
        # deepest cached ancestor
        start = len(parts) - 1
        while start > 0 and parts[:start] not in self.fds:
            start -= 1
        parent = self.fds[parts[:start]] if start else self.root_fd
        for i in range(start, len(parts)):
            comp = parts[i]
            try:
                fd = os.open(comp, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise InvalidInput(f"bad entry {_show(entry)}: {'/'.join(parts[:i + 1])!r} "
                                       f"does not exist") from None
                os.mkdir(comp, 0o755, dir_fd=parent)
                fd = os.open(comp, _DIR_FLAGS, dir_fd=parent)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                where = "/".join(parts[:i + 1])
                try:
                    st = os.stat(comp, dir_fd=parent, follow_symlinks=False)
                    is_link = stat.S_ISLNK(st.st_mode)
                except OSError:
                    is_link = False
                if is_link:
                    raise UnsafeArchive(f"unsafe entry {_show(entry)}: its path goes through the "
                                        f"symlink {_show(where)}") from None
                raise InvalidInput(
                    f"bad entry {_show(entry)}: {_show(where)} is not a folder") from None
            self._cache(parts[:i + 1], fd)
            parent = fd
        return parent

    def _cache(self, key: tuple[str, ...], fd: int) -> None:
        self.fds[key] = fd
        if len(self.fds) > _FD_CACHE:
            # close the least recently used folders (ancestors too: a deep path must not hold
            # one descriptor per level), never the one just opened or the pinned one
            pinned = self.pinned
            for old in list(self.fds)[: len(self.fds) // 4]:
                if old == key or old == pinned:
                    continue
                os.close(self.fds.pop(old))

    def _forget(self, parts: tuple[str, ...]) -> None:
        n = len(parts)
        for key in [k for k in self.fds if k[:n] == parts]:
            os.close(self.fds.pop(key))
        for key in [k for k in self.dir_meta if k[:n] == parts]:
            del self.dir_meta[key]
        for key in [k for k in self.files if k[:n] == parts]:
            self._untrack(key)

    def remove_existing(self, parent: int, name: str, parts: tuple[str, ...],
                        keep_dir: bool = False) -> bool:
        """Remove what is at `name` (a later entry replaces an earlier one).

        Returns True if a folder is there and was kept (keep_dir)."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            from rocker.util.fstree import remove_at
            self._forget(parts)
            remove_at(parent, name)
            return False
        os.unlink(name, dir_fd=parent)
        self._untrack(parts)
        return False

    def _untrack(self, parts: tuple[str, ...]) -> None:
        fid = self.files.pop(parts, None)
        if fid is not None:
            self.nlinks[fid] -= 1
            if not self.nlinks[fid]:
                del self.nlinks[fid]
                del self.fsize[fid]

    def size(self) -> int:
        """Bytes of regular files now in the tree, each file (inode) once."""
        return sum(self.fsize.values())

    # ---- metadata

    def _owner(self, m: Any, fd: int | None = None, name: str | None = None,
               parent: int | None = None) -> None:
        if not self.is_root or (m.uid == self.uid and m.gid == self.gid and fd is not None):
            return  # a file we just created already has our owner
        if fd is not None:
            os.fchown(fd, m.uid, m.gid)
        else:
            os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)

    def _xattrs(self, m: Any, fd: int | None = None, name: str | None = None,
                parent: int | None = None) -> None:
        pax = m.pax_headers
        if not pax:
            return
        for key, value in pax.items():
            if key.startswith("SCHILY.xattr."):
                attr = key[len("SCHILY.xattr."):]
                data = value.encode("utf-8", "surrogateescape")
            elif key.startswith("LIBARCHIVE.xattr."):
                import base64
                import urllib.parse
                attr = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
                try:
                    data = base64.b64decode(value + "=" * (-len(value) % 4))
                except ValueError:
                    continue
            else:
                continue
            if not attr or attr.startswith("trusted.overlay."):
                continue  # overlay metadata is ours to set, never the archive's
            try:
                if fd is not None:
                    os.setxattr(fd, attr, data)
                else:
                    os.setxattr(f"/proc/self/fd/{parent}/{name}", attr, data,
                                follow_symlinks=False)
            except OSError as e:
                if e.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES,
                               errno.EINVAL):
                    self.warnings.append(f"{m.name}: xattr {attr} not set: {e.strerror}")
                    continue
                raise

    # ---- members

    def member(self, m: Any, tf: Any) -> None:
        parts = split_name(m.name)
        if not parts:
            if not m.isdir():
                raise UnsafeArchive(f"unsafe entry {_show(m.name)}: the root must be a folder")
            self.dir_meta[()] = m
            return
        name = parts[-1]
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(m, parts)
            return
        if m.islnk():
            self._hardlink(m, parts, name)
            return
        parent = self.dir_fd(parts[:-1], m.name)
        if m.isdir():
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                if not self.remove_existing(parent, name, parts, keep_dir=True):
                    os.mkdir(name, 0o700, dir_fd=parent)
            self.dir_meta[parts] = m
            return
        if m.isreg():
            self._file(m, tf, parent, name, parts)
        elif m.issym():
            try:
                os.symlink(m.linkname, name, dir_fd=parent)
            except FileExistsError:
                self.remove_existing(parent, name, parts)
                os.symlink(m.linkname, name, dir_fd=parent)
            self._owner(m, name=name, parent=parent)
            self._xattrs(m, name=name, parent=parent)
            ns = _mtime_ns(m)
            os.utime(name, ns=(ns, ns), dir_fd=parent, follow_symlinks=False)
        elif m.ischr() or m.isblk() or m.isfifo():
            if not m.isfifo() and not self.is_root:
                raise UnsafeArchive(f"unsafe entry {_show(m.name)}: device nodes need root")
            self.remove_existing(parent, name, parts)
            if m.isfifo():
                os.mkfifo(name, 0o600, dir_fd=parent)
            else:
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=parent)
            self._owner(m, name=name, parent=parent)
            # a node we just created cannot be a symlink: chmod/utime by name is safe
            os.chmod(name, m.mode & 0o7777, dir_fd=parent)
            self._xattrs(m, name=name, parent=parent)
            ns = _mtime_ns(m)
            os.utime(name, ns=(ns, ns), dir_fd=parent)
        else:
            raise UnsafeArchive(f"unsupported entry {_show(m.name)}: member type {m.type!r}")

    def _file(self, m: Any, tf: Any, parent: int, name: str, parts: tuple[str, ...]) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            self.remove_existing(parent, name, parts)
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        self.next_fid += 1
        fid = self.next_fid
        self.files[parts] = fid
        self.fsize[fid] = m.size
        self.nlinks[fid] = 1
        try:
            size = m.size
            if size:
                write = os.write
                if m.issparse():
                    src = tf.extractfile(m)
                    while size > 0:
                        buf = src.read(CHUNK if size > CHUNK else size)
                        if not buf:
                            raise InvalidInput(f"truncated archive: entry {_show(m.name)} is "
                                               f"incomplete")
                        size -= len(buf)
                        view = memoryview(buf)
                        while view:
                            view = view[write(fd, view):]
                else:
                    # Read straight from the tar stream, where tarfile left it (at the data),
                    # with the block padding in the last read: tarfile then has nothing to
                    # skip before the next header.
                    stream = tf.fileobj
                    pad = -size % 512
                    while size > 0:
                        want = CHUNK if size > CHUNK else size + pad
                        buf = stream.read(want)
                        if len(buf) < want and len(buf) < size:
                            raise InvalidInput(f"truncated archive: entry {_show(m.name)} is "
                                               f"incomplete")
                        view = memoryview(buf)
                        if len(view) > size:
                            view = view[:size]
                        size -= len(view)
                        while view:
                            view = view[write(fd, view):]
            self._owner(m, fd=fd)
            os.fchmod(fd, m.mode & 0o7777)
            self._xattrs(m, fd=fd)
            ns = _mtime_ns(m)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)

    def _hardlink(self, m: Any, parts: tuple[str, ...], name: str) -> None:
        try:
            target = split_name(m.linkname)
        except UnsafeArchive as e:
            reason = str(e).rsplit(": ", 1)[-1]
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r}: "
                                f"{reason}") from None
        if not target:
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink to the root folder")
        try:
            tparent = self.dir_fd(target[:-1], m.name, create=False)
        except InvalidInput:
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r} "
                                f"does not exist") from None
        except UnsafeArchive:
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r} "
                                f"goes through a symlink") from None
        try:
            st = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
        except FileNotFoundError:
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r} "
                                f"does not exist") from None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r} "
                                f"is a symlink")
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: hardlink target {m.linkname!r} "
                                f"is a folder")
        if target == parts:
            return  # a link to itself: nothing to do
        self.pinned = target[:-1]  # keep the target's folder fd open while we find ours
        try:
            parent = self.dir_fd(parts[:-1], m.name)
        finally:
            self.pinned = None
        self.remove_existing(parent, name, parts)
        if self.fds.get(target[:-1], self.root_fd if not target[:-1] else None) != tparent:
            raise InvalidInput(
                f"bad entry {_show(m.name)}: its hardlink target folder was replaced")
        os.link(target[-1], name, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        fid = self.files.get(target)
        if fid is not None:
            self.files[parts] = fid
            self.nlinks[fid] += 1

    def _whiteout(self, m: Any, parts: tuple[str, ...]) -> None:
        name = parts[-1]
        parent = self.dir_fd(parts[:-1], m.name)
        if name == OPAQUE_MARKER:
            try:
                os.setxattr(parent, OPAQUE_XATTR, b"y")
            except OSError as e:
                raise InvalidInput(f"cannot mark {'/'.join(parts[:-1]) or '/'!r} opaque "
                                   f"(entry {_show(m.name)}): {e.strerror}") from None
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # aufs metadata (.wh..wh.plnk and friends)
        target = name[len(WHITEOUT_PREFIX):]
        if not target or target in (".", ".."):
            raise UnsafeArchive(f"unsafe entry {_show(m.name)}: bad whiteout")
        self.remove_existing(parent, target, parts[:-1] + (target,))
        try:
            os.mknod(target, stat.S_IFCHR | 0, os.makedev(0, 0), dir_fd=parent)
        except PermissionError:
            raise InvalidInput(f"cannot create whiteout for entry {_show(m.name)}: permission "
                               f"denied (whiteouts need root)") from None

    def finish(self) -> None:
        """Folder owners, modes, xattrs and mtimes, deepest first."""
        for parts in sorted(self.dir_meta, key=len, reverse=True):
            m = self.dir_meta[parts]
            fd = self.dir_fd(parts, m.name, create=False)
            self._owner(m, fd=fd)
            os.fchmod(fd, m.mode & 0o7777)
            self._xattrs(m, fd=fd)
            ns = _mtime_ns(m)
            os.utime(fd, ns=(ns, ns))


def _mtime_ns(m: Any) -> int:
    return int(m.mtime * 1_000_000_000) if isinstance(m.mtime, float) else int(m.mtime) * \
        1_000_000_000


_FAST_TARINFO: Any = None


class BadHeader(Exception):
    """A tar header that is corrupt or cut short (raised through tarfile, caught below)."""


def _fast_tarinfo_class() -> Any:
    """A TarInfo whose `frombuf` parses the common header quickly.

    tarfile still drives everything (PAX and GNU long names, sparse files, global headers);
    only the parsing of a plain 512-byte header with octal numbers and a valid unsigned
    checksum is done here, with one struct.unpack. Anything else (base-256 numbers, signed
    checksums, old GNU sparse headers, bad headers) goes to tarfile's own parser.

    tarfile silently ends the archive at a corrupt or truncated header after the first one;
    here such a header raises BadHeader instead, so a damaged archive is refused rather than
    imported in part."""
    global _FAST_TARINFO
    if _FAST_TARINFO is not None:
        return _FAST_TARINFO
    import struct
    import tarfile

    header = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
    sparse, aregtype, dirtype = tarfile.GNUTYPE_SPARSE, tarfile.AREGTYPE, tarfile.DIRTYPE
    gnu_types = tarfile.GNU_TYPES
    devices = (tarfile.CHRTYPE, tarfile.BLKTYPE)

    def num(field: bytes) -> int:
        # octal digits, NUL/space terminated; a leading 0x80/0xff (base-256) raises
        return int(field.split(b"\0", 1)[0] or b"0", 8)

    def text(field: bytes, encoding: str, errors: str) -> str:
        return field.split(b"\0", 1)[0].decode(encoding, errors)

    class FastTarInfo(tarfile.TarInfo):
        __slots__ = ()

        @classmethod
        def _slow(cls, buf, encoding, errors):  # type: ignore[no-untyped-def]
            try:
                return super().frombuf(buf, encoding, errors)
            except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
                raise BadHeader(str(e)) from None

        @classmethod
        def frombuf(cls, buf, encoding, errors):  # type: ignore[override]
            if len(buf) != 512 or not buf[0]:
                return cls._slow(buf, encoding, errors)
            (name, mode, uid, gid, size, mtime, chksum, kind, linkname, _magic, _version,
             uname, gname, devmajor, devminor, prefix) = header.unpack(buf)
            if kind == sparse:
                return cls._slow(buf, encoding, errors)
            try:
                chk = num(chksum)
                if chk != 256 + sum(buf) - sum(buf[148:156]):
                    return cls._slow(buf, encoding, errors)
                obj = cls()
                obj.mode = num(mode)
                obj.uid = num(uid)
                obj.gid = num(gid)
                obj.size = num(size)
                obj.mtime = num(mtime)
                if kind in devices:
                    obj.devmajor = num(devmajor)
                    obj.devminor = num(devminor)
                else:
                    obj.devmajor = obj.devminor = 0
            except ValueError:
                return cls._slow(buf, encoding, errors)
            obj.chksum = chk
            obj.type = kind
            obj.name = text(name, encoding, errors)
            obj.linkname = text(linkname, encoding, errors)
            obj.uname = text(uname, encoding, errors)
            obj.gname = text(gname, encoding, errors)
            pre = text(prefix, encoding, errors)
            if kind == aregtype and obj.name.endswith("/"):
                obj.type = dirtype
            if obj.type == dirtype:
                obj.name = obj.name.rstrip("/")
            if pre and kind not in gnu_types:
                obj.name = pre + "/" + obj.name
            return obj

    _FAST_TARINFO = FastTarInfo
    return FastTarInfo


def _archive_errors() -> tuple[type[BaseException], ...]:
    import sys
    import tarfile
    import zlib

    errs: list[type[BaseException]] = [tarfile.TarError, EOFError, OSError, ValueError,
                                       zlib.error, BadHeader]
    if "lzma" in sys.modules:
        errs.append(sys.modules["lzma"].LZMAError)
    if "zstandard" in sys.modules:
        errs.append(sys.modules["zstandard"].ZstdError)
    return tuple(errs)


def extract_layer(f: BinaryIO, dest: str, *, total: int | None = None,
                  progress: Progress | None = None, keep: BinaryIO | None = None) -> LayerInfo:
    """Extract the tar stream `f` (any supported compression) into the empty folder `dest`.

    Raises UnsafeArchive for an entry that could escape or is not allowed, InvalidInput for an
    archive that is not a readable tar. `dest` is left in whatever state it reached: the caller
    removes it with `remove_tree`."""
    import tarfile

    src = _Source(f, total, progress)
    if not src.head:
        raise InvalidInput("empty input: not a tar archive")
    stream, kind = _decompressed(src)
    hashing = _Hashing(stream)
    raw_hash = None
    if keep is not None:
        if kind in ("gzip", "zstd"):
            import hashlib
            raw_hash = hashlib.sha256()
            src.keep = (keep, raw_hash)   # the sniffed head is still pending: it comes through
        else:
            hashing.keep = keep
    root_fd = os.open(dest, _DIR_FLAGS)
    ex = _Extractor(root_fd)
    name = None
    try:
        try:
            tf = tarfile.open(fileobj=hashing, mode="r|", bufsize=TAR_BUFSIZE,
                              tarinfo=_fast_tarinfo_class())
        except (tarfile.ReadError, BadHeader) as e:
            raise InvalidInput(f"not a tar archive ({kind} compression): {e}") from None
        with tf:
            for m in tf:
                name = m.name
                try:
                    ex.member(m, tf)
                except OSError as e:
                    raise InvalidInput(f"cannot extract entry {_show(m.name)}: "
                                       f"{e.strerror or e}") from None
            name = None
            ex.finish()
        hashing.drain()
    except _archive_errors() as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise InvalidInput(f"cannot extract {_show(name)}: {e.strerror}" if name
                               else f"cannot read archive: {e.strerror or e}") from None
        if isinstance(e, BadHeader):
            raise InvalidInput(f"corrupt archive: bad tar header after entry {_show(name)}: {e}"
                               ) from None
        where = f" at entry {_show(name)}" if name else ""
        raise InvalidInput(f"bad archive ({kind} compression){where}: {e}") from None
    finally:
        ex.close()
        os.close(root_fd)
    if progress is not None:
        progress(src.count, total)
    diff_id = "sha256:" + hashing.hexdigest()
    info = LayerInfo(diff_id=diff_id, size=ex.size(), tar_size=hashing.n, compression=kind)
    if keep is not None:
        if raw_hash is not None:
            src.keep = None
            info.blob_digest, info.blob_size = "sha256:" + raw_hash.hexdigest(), src.count
            info.blob_compression = kind
        else:   # the tar itself (as read, or decompressed from bzip2/xz): its digest is the diff id
            info.blob_digest, info.blob_size, info.blob_compression = diff_id, hashing.n, "none"
    return info


# --------------------------------------------------------------------------- folders

def tree_size(path: str) -> int:
    """Bytes of regular files under `path` (not following symlinks), each inode once."""
    from rocker.util.fstree import tree_size as size
    return size(path)


def remove_tree(path: str) -> None:
    """Remove `path` and everything below it, never following symlinks out of it, at any depth
    (rocker.util.fstree.remove_tree)."""
    from rocker.util.fstree import remove_tree as remove
    remove(path)
