"""The one size formatter (Docker's units) and the one RFC 3339 formatter and parser."""

import time

import pytest

from rocker.util.timefmt import local_time, now_rfc3339, parse_rfc3339, rfc3339
from rocker.util.units import format_size


@pytest.mark.parametrize("n,text", [
    (0, "0B"), (500, "500B"), (999, "999B"), (1000, "1kB"), (2048, "2.05kB"),
    (1982614, "1.98MB"), (77_800_000, "77.8MB"), (999_999, "1MB"), (10 ** 9, "1GB"),
    (5 * 10 ** 12, "5TB"),
])
def test_image_sizes_are_decimal_as_docker_shows_them(n, text):
    assert format_size(n) == text


@pytest.mark.parametrize("n,text", [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (100 * 1024 ** 2, "100MiB"),
    (int(1.953 * 1024 ** 3), "1.953GiB"), (1024 ** 4 - 1, "1TiB"),
])
def test_memory_is_binary_as_docker_stats_shows_it(n, text):
    assert format_size(n, binary=True) == text


def test_rfc3339_roundtrip():
    s = now_rfc3339()
    assert s.endswith("Z") and len(s.split(".")[1]) == 10
    assert abs(parse_rfc3339(s) - time.time()) < 5
    assert parse_rfc3339(rfc3339(1704067200.5)) == 1704067200.5
    assert parse_rfc3339("2024-01-01T00:00:00Z") == 1704067200
    assert parse_rfc3339("2024-01-01T00:00:00.123456789+00:00") == pytest.approx(1704067200.123456)
    assert parse_rfc3339("2024-01-01T02:00:00+02:00") == 1704067200
    assert parse_rfc3339("garbage") == 0.0
    assert parse_rfc3339("") == 0.0


def test_local_time():
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1704067200))
    assert local_time("2024-01-01T00:00:00Z") == expected
    assert local_time(1704067200) == expected
    assert local_time("") == "" and local_time(None) == ""
