"""The one relay loop: moves bytes between descriptors without ever blocking on one direction.

Used by every client-side relay: `rocker run`/`start -a`/`attach` (terminal <-> the monitor's
attach socket, rocker.attach.client) and `rocker exec` (terminal <-> the command's pipes or pty,
rocker.runtime.execution). The monitor's side is rocker.attach.hub.

A Pump has readers (a callback per descriptor, called with each chunk and with b"" at EOF) and
queues (descriptors written without blocking: what cannot be written now waits). A reader may
name a queue as its gate: it is read only while that queue holds less than HIGH bytes, so a
slow consumer slows its producer instead of growing memory. poll(2), not epoll: stdin may be a
regular file or /dev/null. Our own stdout and stderr are written with write_all (blocking
there is the terminal's choice, and they are shared with other processes).
"""

from __future__ import annotations

import os
import select
import selectors
import signal
from typing import Callable

HIGH = 1 << 20
"""Bytes a queue may hold before the reader gated on it pauses."""


def write_all(fd: int, data: bytes) -> None:
    """Write everything to `fd`, waiting when it is non-blocking and full; a reader that went
    away (EPIPE) ends it quietly."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return
        view = view[n:]


class Pump:
    def __init__(self) -> None:
        self._sel = selectors.PollSelector()
        self._readers: dict[int, tuple[Callable[[bytes], None], int | None]] = {}
        self._queues: dict[int, bytearray] = {}
        self._send: dict[int, Callable[[bytes], int]] = {}
        self._close_when_flushed: set[int] = set()
        self.done = False

    def read(self, fd: int, callback: Callable[[bytes], None], gate: int | None = None) -> None:
        """Call `callback(chunk)` for what `fd` gives, then `callback(b"")` once at its end."""
        self._readers[fd] = (callback, gate)

    def stop_reading(self, fd: int) -> None:
        self._readers.pop(fd, None)

    def queue(self, fd: int, send: Callable[[bytes], int] | None = None) -> None:
        """Make `fd` a queued, non-blocking destination (`send` for a socket object)."""
        os.set_blocking(fd, False)
        self._queues.setdefault(fd, bytearray())
        self._send[fd] = send or (lambda data, fd=fd: os.write(fd, data))

    def send(self, fd: int, data: bytes) -> None:
        if fd in self._queues:
            self._queues[fd] += data

    def pending(self, fd: int) -> int:
        return len(self._queues.get(fd, b""))

    def close_when_flushed(self, fd: int) -> None:
        """Close `fd` once its queue is empty (the end of what a reader sent it)."""
        self._close_when_flushed.add(fd)
        self._flush_closes()

    def run(self) -> None:
        """Relay until a callback sets `done`."""
        try:
            while not self.done:
                self._interest()
                for key, mask in self._sel.select():
                    self._handle(key.fd, mask)
                    if self.done:
                        return
        finally:
            self._sel.close()

    def _handle(self, fd: int, mask: int) -> None:
        if mask & selectors.EVENT_WRITE and self._queues.get(fd):
            q = self._queues[fd]
            try:
                del q[:self._send[fd](q)]
            except BlockingIOError:
                pass
            except OSError:
                q.clear()  # the other side is gone: what it would have got is dropped
            self._flush_closes()
        if mask & selectors.EVENT_READ and fd in self._readers:
            callback = self._readers[fd][0]
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._readers.pop(fd, None)
            callback(data)

    def _flush_closes(self) -> None:
        for fd in [fd for fd in self._close_when_flushed if not self._queues.get(fd)]:
            self._close_when_flushed.discard(fd)
            self._queues.pop(fd, None)
            if fd in self._sel.get_map():
                self._sel.unregister(fd)
            try:
                os.close(fd)
            except OSError:
                pass

    def _interest(self) -> None:
        fds = set(self._readers) | set(self._queues)
        for fd in fds | set(self._sel.get_map()):
            ev = 0
            if fd in self._readers:
                gate = self._readers[fd][1]
                if gate is None or self.pending(gate) < HIGH:
                    ev |= selectors.EVENT_READ
            if self._queues.get(fd):
                ev |= selectors.EVENT_WRITE
            registered = fd in self._sel.get_map()
            if ev and not registered:
                self._sel.register(fd, ev)
            elif ev and self._sel.get_key(fd).events != ev:
                self._sel.modify(fd, ev)
            elif not ev and registered:
                self._sel.unregister(fd)


class SignalWakeup:
    """Signals as data for a Pump: `with SignalWakeup(pump, sigs, on_signal):` calls
    on_signal(signum) from the loop (not from the handler), and restores everything after."""

    def __init__(self, pump: Pump, signals: tuple[int, ...],
                 on_signal: Callable[[int], None]) -> None:
        self.pump, self.signals, self.on_signal = pump, signals, on_signal
        self._pending: list[int] = []

    def __enter__(self) -> "SignalWakeup":
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._old_fd = signal.set_wakeup_fd(self._w)
        self._old = {s: signal.signal(s, lambda signum, _f: self._pending.append(signum))
                     for s in self.signals}
        self.pump.read(self._r, self._drain)
        return self

    def _drain(self, _data: bytes) -> None:
        while self._pending:
            self.on_signal(self._pending.pop(0))

    def __exit__(self, *exc) -> None:
        self.pump.stop_reading(self._r)
        for s, h in self._old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._r)
        os.close(self._w)


class RawTerminal:
    """`with RawTerminal(fd, wanted):` puts a terminal in raw mode (when `wanted` and it is
    one) and restores its settings after."""

    def __init__(self, fd: int, wanted: bool = True) -> None:
        self.fd, self.wanted, self._old = fd, wanted, None

    def __enter__(self) -> "RawTerminal":
        if self.wanted and os.isatty(self.fd):
            import termios
            import tty
            self._old = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._old)
