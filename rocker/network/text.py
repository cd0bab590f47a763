"""How the network modules show a value the user gave in a one-line error message."""

from __future__ import annotations

LIMIT = 100


def quoted(text: str) -> str:
    """`text` in double quotes, on one line (control characters escaped) and shortened when
    very long: an error message must never span lines nor fill the screen."""
    if len(text) > LIMIT:
        text = f"{text[:60]}...({len(text) - 60} more characters)"
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f'"{text}"'
