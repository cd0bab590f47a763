"""The monitor's I/O hub: attached clients, output fan-out with back-pressure, buffered stdin.

Everything is non-blocking around the monitor's one selector:

- each client has an output queue; when any client that wants output has more than HIGH bytes
  queued, the hub stops reading the container's output (the container then blocks on its pipe,
  as with Docker), and resumes below LOW. Nothing is dropped and the monitor never blocks;
- input from clients goes to a buffer that is written to the container's stdin (a pipe, or the
  pty master) as it accepts it; while the buffer is above HIGH, clients are not read;
- clients say what they want in a HELLO frame ({"stdin": bool, "output": bool}); `rocker wait`
  asks for neither. The client handed over at start (foreground `run`, `start -a`) is the
  *initial* one: its end of input (EOF frame or disconnect) closes the container's stdin, as
  Docker's StdinOnce; later `attach` clients never close it.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import socket
import struct

from rocker.attach import frames

HIGH = 1 << 20
LOW = 256 << 10


class Client:
    __slots__ = ("sock", "reader", "outq", "stdin", "output", "initial")

    def __init__(self, sock: socket.socket, stdin: bool, output: bool, initial: bool) -> None:
        self.sock = sock
        self.reader = frames.Reader()
        self.outq = bytearray()
        self.stdin = stdin
        self.output = output
        self.initial = initial


class Hub:
    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.clients: dict[int, Client] = {}
        self.out_fds: dict[int, str] = {}       # container output fd -> stream
        self.stdin_fd: int | None = None         # pipe write end, or the pty master
        self.stdin_is_master = False
        self.stdin_buf = bytearray()
        self.stdin_eof = False                   # close the pipe once the buffer is written
        self.paused = False
        self.on_output = None                    # callback(stream, data) -> None (the log)
        self.on_signal = None                    # callback(signum)
        self.on_resize = None                    # callback(rows, cols)

    # ---- registration ----------------------------------------------------------------
    def _events(self, fd: int) -> int:
        ev = 0
        if fd in self.out_fds and not self.paused:
            ev |= selectors.EVENT_READ
        if fd == self.stdin_fd and self.stdin_buf:
            ev |= selectors.EVENT_WRITE
        return ev

    def _interest(self, fd: int, ev: int, data) -> None:
        """Make the selector watch `fd` for exactly `ev` (nothing: not at all)."""
        try:
            key = self.sel.get_key(fd)
        except KeyError:
            key = None
        if ev and key is None:
            self.sel.register(fd, ev, data)
        elif ev and key.events != ev:
            self.sel.modify(fd, ev, data)
        elif not ev and key is not None:
            self.sel.unregister(fd)

    def refresh(self, fd: int) -> None:
        self._interest(fd, self._events(fd), ("io", fd))

    def _refresh_client(self, c: Client) -> None:
        # while the container's stdin is backed up, stop reading only the clients that feed
        # it; others (wait, attach without stdin, hello, resize, signals) are always read
        ev = 0 if (c.stdin and len(self.stdin_buf) > HIGH) else selectors.EVENT_READ
        if c.outq:
            ev |= selectors.EVENT_WRITE
        self._interest(c.sock.fileno(), ev, ("client", c))

    def set_output(self, fds: dict[int, str]) -> None:
        for fd in fds:
            os.set_blocking(fd, False)
        self.out_fds = dict(fds)
        for fd in self.out_fds:
            self.refresh(fd)

    def set_stdin(self, fd: int | None, is_master: bool = False) -> None:
        self.stdin_fd = fd
        self.stdin_is_master = is_master
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        if fd is not None and not is_master:
            os.set_blocking(fd, False)

    def add_client(self, sock: socket.socket, stdin: bool, output: bool,
                   initial: bool = False) -> Client:
        sock.setblocking(False)
        c = Client(sock, stdin, output, initial)
        self.clients[sock.fileno()] = c
        self._refresh_client(c)
        return c

    def drop_client(self, c: Client) -> None:
        fd = c.sock.fileno()
        if self.clients.pop(fd, None) is None:
            return
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        if c.initial and c.stdin:
            self._stdin_done()
        self._update_pause()

    # ---- events ----------------------------------------------------------------------
    def handle(self, data, mask: int) -> None:
        kind, obj = data
        if kind == "io":
            if mask & selectors.EVENT_WRITE:
                self._write_stdin()
            if mask & selectors.EVENT_READ and obj in self.out_fds:
                self._read_output(obj)
        elif kind == "client":
            if mask & selectors.EVENT_WRITE:
                self._send(obj)
            if mask & selectors.EVENT_READ and obj.sock.fileno() in self.clients:
                self._recv(obj)

    def _read_output(self, fd: int) -> None:
        stream = self.out_fds[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO on a pty master once the other side is gone
        if not data:
            self.close_output(fd)
            return
        if self.on_output:
            self.on_output(stream, data)
        self.broadcast(frames.STDOUT if stream == "stdout" else frames.STDERR, data,
                       output_only=True)

    def close_output(self, fd: int) -> None:
        stream = self.out_fds.pop(fd, None)
        if stream is None:
            return
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        if fd == self.stdin_fd:
            self.stdin_fd = None
            self.stdin_buf = bytearray()
        os.close(fd)
        if self.on_output:
            self.on_output(stream, None)

    def drain_output(self) -> None:
        """After the container's exit: read what is left in the pipes, without blocking."""
        for fd in list(self.out_fds):
            while fd in self.out_fds:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    self.close_output(fd)
                    break
                if self.on_output:
                    self.on_output(self.out_fds[fd], data)
                self.broadcast(frames.STDOUT if self.out_fds[fd] == "stdout" else frames.STDERR,
                               data, output_only=True)

    def close_all_output(self) -> None:
        for fd in list(self.out_fds):
            self.close_output(fd)
        self.close_stdin()

    def broadcast(self, kind: int, payload: bytes, output_only: bool = False) -> None:
        frame = frames.pack(kind, payload)
        for c in list(self.clients.values()):
            if output_only and not c.output:
                continue
            c.outq += frame
            self._send(c)
        self._update_pause()

    def _send(self, c: Client) -> None:
        while c.outq:
            try:
                n = c.sock.send(c.outq)
            except BlockingIOError:
                break
            except OSError:
                self.drop_client(c)
                return
            del c.outq[:n]
        self._refresh_client(c)
        self._update_pause()

    def _update_pause(self) -> None:
        queued = max((len(c.outq) for c in self.clients.values() if c.output), default=0)
        if not self.paused and queued > HIGH:
            self.paused = True
        elif self.paused and queued < LOW:
            self.paused = False
        else:
            return
        for fd in list(self.out_fds):
            self.refresh(fd)

    def _recv(self, c: Client) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop_client(c)
            return
        try:
            got = c.reader.feed(data)
        except ValueError:
            self.drop_client(c)
            return
        for kind, payload in got:
            if kind == frames.HELLO:
                try:
                    hello = json.loads(payload)
                except ValueError:
                    hello = {}
                c.stdin = bool(hello.get("stdin"))
                c.output = bool(hello.get("output", True))
            elif kind == frames.STDIN and c.stdin:
                self.write_stdin(payload)
            elif kind == frames.STDIN_EOF and c.stdin and c.initial:
                self._stdin_done()
            elif kind == frames.RESIZE and len(payload) >= 4 and self.on_resize:
                self.on_resize(*struct.unpack(">HH", payload[:4]))
            elif kind == frames.SIGNAL and payload and self.on_signal:
                self.on_signal(payload[0])

    # ---- stdin -----------------------------------------------------------------------
    def write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_buf += data
        self._write_stdin()

    def _write_stdin(self) -> None:
        fd = self.stdin_fd
        while fd is not None and self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
                    self.stdin_buf = bytearray()
                    if not self.stdin_is_master:
                        self.close_stdin()
                    for c in self.clients.values():
                        self._refresh_client(c)
                    return
                raise
            del self.stdin_buf[:n]
        if fd is not None:
            self.refresh(fd)
        if self.stdin_eof and not self.stdin_buf:
            self.close_stdin()
        for c in self.clients.values():
            self._refresh_client(c)

    def _stdin_done(self) -> None:
        if self.stdin_is_master:
            return  # a terminal has no end of input: ^D is a byte like any other
        self.stdin_eof = True
        if not self.stdin_buf:
            self.close_stdin()

    def close_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is None or self.stdin_is_master:
            return
        self.stdin_fd = None
        self.stdin_buf = bytearray()
        for c in self.clients.values():
            self._refresh_client(c)
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        try:
            os.close(fd)
        except OSError:
            pass

    # ---- the end -----------------------------------------------------------------------
    def flush_and_close(self, timeout: float = 10.0) -> None:
        """Send what every client still has queued (at most `timeout`), then close them."""
        import time
        deadline = time.monotonic() + timeout
        for c in list(self.clients.values()):
            try:
                c.sock.setblocking(True)
                left = deadline - time.monotonic()
                if c.outq and left > 0:
                    c.sock.settimeout(left)
                    c.sock.sendall(c.outq)
            except OSError:
                pass
            c.outq.clear()
            self.drop_client(c)
