"""Per-layer progress of pulls, pushes, loads and saves: on a terminal a block of bars
(bytes, speed, state) redrawn at most 10 times a second on stderr; otherwise one plain line
per layer when it reaches a final state; nothing with -q (no `say`)."""

from __future__ import annotations

import threading
import time
from typing import Callable

Say = Callable[[str], None]

FINAL = ("done", "exists", "already exists", "mounted", "uploaded", "uploaded in chunks",
         "loaded", "saved")


class LayerBars:
    """Per-layer progress: a redrawn block of bars on a terminal, plain lines otherwise."""

    def __init__(self, say: Say | None, tty: bool, verb: str = "downloading") -> None:
        self.say, self.tty = say, tty and say is not None
        self.verb = verb
        self.lock = threading.Lock()
        self.rows: dict[str, list] = {}
        self.order: list[str] = []
        self.drawn = 0
        self.last = 0.0
        self.t0 = time.monotonic()

    def add(self, key: str, total: int) -> None:
        with self.lock:
            self.rows[key] = [0, total, "waiting"]
            self.order.append(key)

    def advance(self, key: str, n: int) -> None:
        with self.lock:
            self.rows[key][0] += n
            self.rows[key][2] = self.verb
            self._draw()

    def state(self, key: str, what: str) -> None:
        with self.lock:
            self.rows[key][2] = what
            if not self.tty and self.say and what in FINAL:
                self.say(f"{key}: {what}")
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        import sys
        from rocker.util.units import format_size
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        out = []
        if self.drawn:
            out.append(f"\033[{self.drawn}A")
        for key in self.order:
            done, total, what = self.rows[key]
            frac = min(1.0, done / total) if total else 1.0
            speed = done / max(0.001, now - self.t0)
            bar = "#" * int(frac * 24)
            out.append(f"\r{key}: [{bar:<24}] {format_size(done)}/{format_size(total)} "
                       f"{format_size(int(speed))}/s {what}\033[K\n")
        sys.stderr.write("".join(out))
        sys.stderr.flush()
        self.drawn = len(self.order)

    def counter(self, key: str) -> Callable[[int], None]:
        """A callback adding n bytes to `key`."""
        return lambda n: self.advance(key, n)

    def absolute(self, key: str) -> Callable[[int, int | None], None]:
        """A callback for extract_layer's progress(bytes_so_far, total)."""
        def fn(done: int, _total: int | None) -> None:
            with self.lock:
                self.rows[key][0] = done
                self.rows[key][2] = "extracting"
                self._draw()
        return fn
