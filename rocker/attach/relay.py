"""The one relay loop: moves bytes between descriptors without ever blocking on one direction.

Used by every client-side relay: `rocker run`/`start -a`/`attach` (terminal <-> the monitor's
attach socket, rocker.attach.client) and `rocker exec` (terminal <-> the command's pipes or pty,
rocker.runtime.execution). The monitor's side is rocker.attach.hub.

A Pump has readers (a callback per descriptor, called with each chunk and with b"" at EOF) and
queues (descriptors written without blocking: what cannot be written now waits). A reader may
name a queue as its gate: it is read only while that queue holds less than HIGH bytes, so a
slow consumer slows its producer instead of growing memory; when a queue's reader goes away
(a write fails), what it holds is dropped and the readers gated on it are no longer read.
poll(2), not epoll: stdin may be a regular file or /dev/null. Our own stdout and stderr are
written with write_all (blocking there is the terminal's choice, and they are shared with other
processes). Around a Pump: SignalWakeup (signals handled in the loop), RawTerminal (raw mode,
restored on every exit) and window_size (a terminal's size, to forward).
"""

from __future__ import annotations

import os
import select
import selectors
import signal
from collections.abc import Callable

HIGH = 1 << 20
"""Bytes a queue may hold before the readers gated on it pause."""


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


def window_size(fd: int) -> bytes | None:
    """The terminal `fd`'s size as a struct winsize (TIOCGWINSZ), None if it is no terminal."""
    import fcntl
    import termios
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None


class Pump:
    """One poll loop over readers and queues; `run` relays until a callback sets `done`."""

    def __init__(self) -> None:
        self._sel = selectors.PollSelector()
        # fd -> (callback, gate, whether to read it: a watched fd is only waited for)
        self._readers: dict[int, tuple[Callable[[bytes], None], int | None, bool]] = {}
        self._queues: dict[int, bytearray] = {}
        self._send: dict[int, Callable[[bytes], int]] = {}
        self._gone: set[int] = set()
        self._close_when_flushed: set[int] = set()
        self._closed: set[int] = set()
        self.done = False

    def read(self, fd: int, callback: Callable[[bytes], None], gate: int | None = None) -> None:
        """Call `callback(chunk)` for what `fd` gives, then `callback(b"")` once at its end;
        while the queue `gate` holds HIGH bytes or more, `fd` waits."""
        self._readers[fd] = (callback, gate, True)

    def watch(self, fd: int, callback: Callable[[bytes], None]) -> None:
        """Call `callback(b"")` once `fd` is readable, without reading it (a pidfd: the
        process ended)."""
        self._readers[fd] = (callback, None, False)

    def stop_reading(self, fd: int) -> None:
        self._readers.pop(fd, None)

    def queue(self, fd: int, send: Callable[[bytes], int] | None = None) -> None:
        """Make `fd` a queued, non-blocking destination (`send` for a socket object)."""
        os.set_blocking(fd, False)
        self._queues.setdefault(fd, bytearray())
        self._send[fd] = send or (lambda data, fd=fd: os.write(fd, data))

    def send(self, fd: int, data: bytes) -> None:
        """Queue `data` for `fd` (dropped if its reader went away)."""
        if fd in self._queues and fd not in self._gone:
            self._queues[fd] += data

    def pending(self, fd: int) -> int:
        return len(self._queues.get(fd, b""))

    def close_when_flushed(self, fd: int) -> None:
        """Close the queued `fd` once its queue is empty (the end of what a reader sent it)."""
        self._close_when_flushed.add(fd)
        self._flush_closes()

    def close(self, fd: int) -> None:
        """Close `fd` now, dropping what its queue holds, unless the Pump closed it already."""
        if fd in self._closed:
            return
        self._closed.add(fd)
        self._close_when_flushed.discard(fd)
        self._queues.pop(fd, None)
        self._readers.pop(fd, None)
        if self._sel.get_map() is not None and fd in self._sel.get_map():
            self._sel.unregister(fd)
        try:
            os.close(fd)
        except OSError:
            pass

    def run(self) -> None:
        """Relay until a callback sets `done`, or until there is nothing left to wait for."""
        try:
            while not self.done:
                self._interest()
                if not self._sel.get_map():
                    return
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
                self._went_away(fd)
            self._flush_closes()
        if mask & selectors.EVENT_READ and fd in self._readers:
            callback, _gate, reads = self._readers[fd]
            data = b""
            if reads:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    pass
            if not data:
                self._readers.pop(fd, None)
            callback(data)

    def _went_away(self, fd: int) -> None:
        """The reader of the queued `fd` is gone: what it would have got is dropped, and the
        readers that fed it are no longer read."""
        self._queues[fd].clear()
        self._gone.add(fd)
        for r in [r for r, (_cb, gate, _reads) in self._readers.items() if gate == fd]:
            del self._readers[r]

    def _flush_closes(self) -> None:
        for fd in [fd for fd in self._close_when_flushed if not self._queues.get(fd)]:
            self.close(fd)

    def _interest(self) -> None:
        registered = self._sel.get_map()
        for fd in set(self._readers) | set(self._queues) | set(registered):
            ev = 0
            if fd in self._readers:
                gate = self._readers[fd][1]
                if gate is None or self.pending(gate) < HIGH:
                    ev |= selectors.EVENT_READ
            if self._queues.get(fd):
                ev |= selectors.EVENT_WRITE
            if ev and fd not in registered:
                self._sel.register(fd, ev)
            elif ev and self._sel.get_key(fd).events != ev:
                self._sel.modify(fd, ev)
            elif not ev and fd in registered:
                self._sel.unregister(fd)


class SignalWakeup:
    """Signals as data for a Pump: `with SignalWakeup(pump, sigs, on_signal):` calls
    on_signal(signum) from the loop (not from the handler), and restores everything after."""

    def __init__(self, pump: Pump, signals: tuple[int, ...],
                 on_signal: Callable[[int], None]) -> None:
        self.pump, self.signals, self.on_signal = pump, signals, on_signal
        self._pending: list[int] = []
        self._old: dict[int, object] = {}

    def __enter__(self) -> "SignalWakeup":
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._old_fd = signal.set_wakeup_fd(self._w)
        try:
            for s in self.signals:
                self._old[s] = signal.signal(s, lambda signum, _f: self._pending.append(signum))
        except BaseException:
            self.__exit__()
            raise
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


def relay_pty(master: int, interactive: bool) -> None:
    """Our terminal (fds 0, 1) <-> a pty master (`rocker exec -t`, `rocker-runtime run` of a
    terminal container) until the command's side closes (our EOF is a ^D to it); the
    window size follows ours."""
    import fcntl
    import termios
    pump = Pump()

    def resize(_signum: int = 0) -> None:
        ws = window_size(1)
        if ws:
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ, ws)
            except OSError:
                pass

    def from_command(data: bytes) -> None:
        if data:
            write_all(1, data)
        else:
            pump.done = True

    pump.queue(master)
    pump.read(master, from_command)
    if interactive:
        pump.read(0, lambda data: pump.send(master, data or b"\x04"), gate=master)
    try:
        with SignalWakeup(pump, (signal.SIGWINCH,), resize), RawTerminal(0, interactive):
            resize()
            pump.run()
    finally:
        pump.close(master)
