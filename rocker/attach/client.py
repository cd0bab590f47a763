"""The client side of attaching: relays a terminal, pipes or files to a monitor's socket.

Used by a foreground `rocker run`, `rocker start -a` and `rocker attach`. With a TTY the local
terminal is put in raw mode (restored on exit) and window size changes are forwarded; without
one, SIGINT, SIGTERM, SIGHUP and SIGQUIT received by the CLI are forwarded to the container
(like Docker's --sig-proxy). Returns the container's exit code from the monitor's EXIT frame.

The relaying is rocker.attach.relay's Pump: frames for the monitor wait in the socket's queue,
and stdin is read only while that queue is short.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct

from rocker.attach import frames
from rocker.attach.relay import Pump, RawTerminal, SignalWakeup, window_size, write_all

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH)


def relay(sock: socket.socket, tty: bool, stdin: bool, hello: bool = False) -> int | None:
    """Pump data until the monitor reports the exit; None if it vanished without saying.

    `hello`: announce what this client wants (clients that connect to the attach socket;
    the one handed to the monitor at start needs no introduction).
    """
    pump = Pump()
    fd = sock.fileno()
    sock.setblocking(False)
    pump.queue(fd, sock.send)
    reader = frames.Reader()
    exit_code: list[int] = []

    def to_monitor(kind: int, payload: bytes = b"") -> None:
        pump.send(fd, frames.pack(kind, payload))

    def resize() -> None:
        ws = window_size(1)
        if ws:
            to_monitor(frames.RESIZE, struct.pack(">HH", *struct.unpack("HHHH", ws)[:2]))

    def from_monitor(data: bytes) -> None:
        if not data:
            pump.done = True  # gone without an EXIT frame
            return
        for kind, payload in reader.feed(data):
            if kind in (frames.STDOUT, frames.STDERR):
                write_all(1 if kind == frames.STDOUT else 2, payload)
            elif kind == frames.EXIT:
                exit_code.append(int(json.loads(payload).get("exit_code", 0)))
                pump.done = True
                return

    def from_stdin(data: bytes) -> None:
        if data:
            to_monitor(frames.STDIN, data)
        else:
            to_monitor(frames.STDIN_EOF)

    def on_signal(signum: int) -> None:
        if signum == signal.SIGWINCH:
            resize()
        elif not tty or signum != signal.SIGINT:  # with a TTY, ^C is a byte of input
            to_monitor(frames.SIGNAL, bytes([signum]))

    if hello:
        to_monitor(frames.HELLO, json.dumps({"stdin": stdin, "output": True}).encode())
    pump.read(fd, from_monitor)
    if stdin:
        pump.read(0, from_stdin, gate=fd)
    with SignalWakeup(pump, FORWARDED, on_signal), RawTerminal(0, stdin and tty):
        if tty and os.isatty(1):
            resize()
        pump.run()
    return exit_code[0] if exit_code else None
