"""Human sizes and dates of images."""

import time

import pytest

from rocker.images.sizes import format_created, format_size, now_rfc3339, parse_rfc3339


@pytest.mark.parametrize("n,text", [
    (0, "0B"), (500, "500B"), (1023, "1023B"), (1024, "1.0KB"), (2048, "2.0KB"),
    (2560, "2.5KB"), (int(2.5 * 1024 ** 2), "2.5MB"), (1024 ** 3, "1.0GB"),
    (1024 ** 2 - 1, "1.0MB"), (5 * 1024 ** 4, "5.0TB"), (1982614, "1.9MB"),
])
def test_format_size(n, text):
    assert format_size(n) == text


def test_rfc3339_roundtrip():
    s = now_rfc3339()
    assert s.endswith("Z") and len(s.split(".")[1]) == 10
    assert abs(parse_rfc3339(s) - time.time()) < 5
    assert parse_rfc3339("2024-01-01T00:00:00Z") == 1704067200
    assert parse_rfc3339("2024-01-01T00:00:00.123456789+00:00") == pytest.approx(1704067200.123456)
    assert parse_rfc3339("garbage") == 0.0


def test_format_created_local_time():
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1704067200))
    assert format_created("2024-01-01T00:00:00Z") == expected
    assert format_created("") == ""
