"""Helpers shared by the tests of rocker.network (tests/unit/test_network_*.py)."""

from __future__ import annotations

import pytest

from rocker.errors import InvalidInput


def one_line_error(call, *args, error: type[Exception] = InvalidInput, **kw) -> str:
    """The message of the `error` that call(*args, **kw) raises, checked to be one line."""
    with pytest.raises(error) as e:
        call(*args, **kw)
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg
