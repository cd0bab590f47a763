"""The one size formatter, with Docker's conventions (go-units).

Sizes of images and layers are decimal with three significant digits: `500B`, `2.05kB`,
`1.9MB`, `77.8MB` (Docker's HumanSizeWithPrecision(size, 3)). Memory, as `stats` shows it, is
binary with four: `100MiB`, `1.953GiB` (Docker's BytesSize).
"""

from __future__ import annotations

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_size(n: int | float, binary: bool = False) -> str:
    """`n` bytes as Docker shows it: decimal image sizes, or binary memory (`binary=True`)."""
    base, units, digits = (1024.0, _BINARY, 4) if binary else (1000.0, _DECIMAL, 3)
    value = float(max(0, n))
    i = 0
    # on the rounded value, so that 999999 is 1MB, never go's "1e+03kB"
    while float(f"{value:.{digits}g}") >= base and i < len(units) - 1:
        value /= base
        i += 1
    return f"{value:.{digits}g}{units[i]}"
