"""The client side of attaching: relays a terminal, pipes or files to a monitor's socket.

Used by a foreground `rocker run`, `rocker start -a` and `rocker attach`. With a TTY the local
terminal is put in raw mode (restored on exit) and window size changes are forwarded; without
one, SIGINT, SIGTERM, SIGHUP and SIGQUIT received by the CLI are forwarded to the container
(like Docker's --sig-proxy). Returns the container's exit code from the monitor's EXIT frame.

Nothing here blocks on one direction while the other is pending: the socket is non-blocking,
frames for the monitor wait in a queue, and stdin is read only while that queue is short.
poll(2) is used rather than epoll, since stdin may be a regular file or /dev/null.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct

from rocker.attach import frames

HIGH = 1 << 20


def _winsize(fd: int) -> tuple[int, int] | None:
    import fcntl
    import termios
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def write_all(fd: int, data: bytes) -> None:
    """Write everything to `fd`, waiting when it is non-blocking and full; a reader that went
    away (EPIPE) ends it quietly."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select
            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return
        view = view[n:]


def relay(sock: socket.socket, tty: bool, stdin: bool, hello: bool = False) -> int | None:
    """Pump data until the monitor reports the exit; None if it vanished without saying.

    `hello`: announce what this client wants (clients that connect to the attach socket;
    the one handed to the monitor at start needs no introduction).
    """
    sel = selectors.PollSelector()
    sock.setblocking(False)
    outq = bytearray()
    if hello:
        outq += frames.pack(frames.HELLO, json.dumps({"stdin": stdin, "output": True}).encode())
    in_fd = 0
    old_attrs = None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    pending: list[int] = []
    handlers = {}
    stdin_open = stdin

    def on_signal(signum, _frame):
        pending.append(signum)

    def interest() -> None:
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if outq else 0)
        sel.modify(sock, ev, "sock")
        want_in = stdin_open and len(outq) < HIGH
        registered = in_fd in sel.get_map()
        if want_in and not registered:
            sel.register(in_fd, selectors.EVENT_READ, "stdin")
        elif not want_in and registered:
            sel.unregister(in_fd)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH):
        handlers[s] = signal.signal(s, on_signal)
    try:
        sel.register(sock, selectors.EVENT_READ, "sock")
        if stdin and tty and os.isatty(in_fd):
            import termios
            import tty as ttymod
            old_attrs = termios.tcgetattr(in_fd)
            ttymod.setraw(in_fd)
        if tty and os.isatty(1):
            ws = _winsize(1)
            if ws:
                outq += frames.pack(frames.RESIZE, struct.pack(">HH", *ws))
        reader = frames.Reader()
        while True:
            interest()
            for key, mask in sel.select():
                if key.data == "wake":
                    try:
                        os.read(wake_r, 256)
                    except OSError:
                        pass
                    while pending:
                        s = pending.pop(0)
                        if s == signal.SIGWINCH:
                            ws = _winsize(1)
                            if ws:
                                outq += frames.pack(frames.RESIZE, struct.pack(">HH", *ws))
                        elif not tty or s != signal.SIGINT:
                            outq += frames.pack(frames.SIGNAL, bytes([s]))
                elif key.data == "stdin":
                    try:
                        data = os.read(in_fd, 65536)
                    except OSError:
                        data = b""
                    if data:
                        outq += frames.pack(frames.STDIN, data)
                    else:
                        stdin_open = False
                        outq += frames.pack(frames.STDIN_EOF)
                else:
                    if mask & selectors.EVENT_WRITE and outq:
                        try:
                            n = sock.send(outq)
                            del outq[:n]
                        except BlockingIOError:
                            pass
                        except OSError:
                            outq.clear()  # the monitor is gone; its EOF follows
                    if mask & selectors.EVENT_READ:
                        try:
                            data = sock.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            return None
                        for kind, payload in reader.feed(data):
                            if kind in (frames.STDOUT, frames.STDERR):
                                write_all(1 if kind == frames.STDOUT else 2, payload)
                            elif kind == frames.EXIT:
                                return int(json.loads(payload).get("exit_code", 0))
    finally:
        if old_attrs is not None:
            import termios
            termios.tcsetattr(in_fd, termios.TCSADRAIN, old_attrs)
        for s, h in handlers.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        sel.close()
