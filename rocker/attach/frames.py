"""The attach protocol between the monitor and clients (`run`, `start -a`, `attach`).

A stream socket carrying frames: one type byte, a 4-byte big-endian length, the payload.
monitor -> client: STDOUT, STDERR (output), EXIT (JSON {"exit_code", "oom_killed"}).
client -> monitor: HELLO (JSON {"stdin", "output"}: what this client wants; sent first by
clients that connect to the socket), STDIN (data), STDIN_EOF, RESIZE (rows, cols as two u16),
SIGNAL (u8).
"""

from __future__ import annotations

import socket
import struct

STDIN, STDOUT, STDERR, EXIT, ERROR, STDIN_EOF, RESIZE, SIGNAL, HELLO = range(9)
_HDR = struct.Struct(">BI")


def pack(kind: int, payload: bytes = b"") -> bytes:
    return _HDR.pack(kind, len(payload)) + payload


class Reader:
    """Incremental frame decoder: feed bytes, iterate complete frames."""

    def __init__(self) -> None:
        self.buf = b""

    MAX = 4 << 20

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Complete frames so far; ValueError if a frame announces more than MAX bytes."""
        self.buf += data
        out = []
        while len(self.buf) >= _HDR.size:
            kind, n = _HDR.unpack_from(self.buf)
            if n > self.MAX:
                raise ValueError(f"frame of {n} bytes")
            if len(self.buf) < _HDR.size + n:
                break
            out.append((kind, self.buf[_HDR.size:_HDR.size + n]))
            self.buf = self.buf[_HDR.size + n:]
        return out


def connect(sock_path: str) -> socket.socket:
    """Connect to a monitor's attach socket (long paths go through /proc/self/fd)."""
    import os
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(sock_path) < 100:
        s.connect(sock_path)
        return s
    dfd = os.open(os.path.dirname(sock_path), os.O_PATH | os.O_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(sock_path)}")
    finally:
        os.close(dfd)
    return s
