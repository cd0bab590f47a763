"""The client side of attaching: relays a terminal or pipes to a monitor's attach socket.

Used by a foreground `rocker run`, `rocker start -a` and `rocker attach`. With a TTY the local
terminal is put in raw mode (restored on exit) and window size changes are forwarded; without
one, SIGINT and SIGTERM received by the CLI are forwarded to the container (like Docker's
--sig-proxy). Returns the container's exit code from the monitor's EXIT frame.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct

from rocker.monitor import frames


def _winsize(fd: int) -> tuple[int, int] | None:
    import fcntl
    import termios
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def relay(sock: socket.socket, tty: bool, stdin: bool) -> int | None:
    """Pump data until the monitor reports the exit; None if it vanished without saying."""
    sel = selectors.DefaultSelector()
    sock.setblocking(True)
    sel.register(sock, selectors.EVENT_READ, "sock")
    in_fd = 0
    old_attrs = None
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    pending: list[int] = []
    handlers = {}

    def on_signal(signum, _frame):
        pending.append(signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH):
        handlers[s] = signal.signal(s, on_signal)
    try:
        if stdin:
            sel.register(in_fd, selectors.EVENT_READ, "stdin")
            if tty and os.isatty(in_fd):
                import termios
                import tty as ttymod
                old_attrs = termios.tcgetattr(in_fd)
                ttymod.setraw(in_fd)
        if tty and os.isatty(1):
            ws = _winsize(1)
            if ws:
                sock.sendall(frames.pack(frames.RESIZE, struct.pack(">HH", *ws)))
        reader = frames.Reader()
        while True:
            for key, _ in sel.select():
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
                                sock.sendall(frames.pack(frames.RESIZE, struct.pack(">HH", *ws)))
                        elif not tty or s != signal.SIGINT:
                            try:
                                sock.sendall(frames.pack(frames.SIGNAL, bytes([s])))
                            except OSError:
                                pass
                elif key.data == "stdin":
                    try:
                        data = os.read(in_fd, 65536)
                    except OSError:
                        data = b""
                    if data:
                        sock.sendall(frames.pack(frames.STDIN, data))
                    else:
                        sel.unregister(in_fd)
                        try:
                            sock.sendall(frames.pack(frames.STDIN_EOF))
                        except OSError:
                            pass
                else:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return None
                    for kind, payload in reader.feed(data):
                        if kind in (frames.STDOUT, frames.STDERR):
                            fd = 1 if kind == frames.STDOUT else 2
                            view = memoryview(payload)
                            while view:
                                try:
                                    n = os.write(fd, view)
                                except BlockingIOError:
                                    continue
                                except BrokenPipeError:
                                    n = len(view)
                                view = view[n:]
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
