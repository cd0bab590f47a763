"""Parsers of user input do work bounded by the length of the input, never by the numbers in it,
and refuse out-of-range values with one line naming the option and the range (issue 8, items 1
and 7). Sizes are measured (allocations, result sizes), never timed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import tracemalloc
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocker.cgroups.limits import (
    MAX_BYTES,
    MAX_PIDS,
    Limits,
    cpuset_size,
    first_missing,
    format_cpuset,
    parse_bytes,
    parse_cpuset,
    parse_limits,
)
from rocker.containers.config import (
    MAX_TIMEOUT,
    build_config,
    parse_env_list,
    parse_restart,
    parse_signal,
    parse_timeout,
    parse_user,
    read_env_file,
)
from rocker.errors import (
    INTERNAL_ERROR_EXIT,
    ContainerStartError,
    InvalidInput,
    SpecError,
    exit_code_for,
)
from rocker.images.changes import parse_change
from rocker.launcher.users import resolve_user
from rocker.stackfile.loader import load_desired, load_spec
from rocker.util.durations import parse_duration, parse_since

GiB = 1024 ** 3


@contextlib.contextmanager
def memory_cap(extra: int = 512 * 1024 * 1024):
    """Cap this process's address space at what it uses now plus `extra`, so that a parser that
    expands its input fails with MemoryError instead of exhausting the host."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + extra if hard == resource.RLIM_INFINITY else min(vm + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def peak_allocation(fn, *args, **kw) -> tuple[object, int]:
    """(what fn returned or raised, the peak bytes it allocated), under memory_cap."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        with memory_cap():
            try:
                result = fn(*args, **kw)
            except Exception as e:  # noqa: BLE001 - returned for the caller to check
                result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def host(tmp_path):
    """A pretend host with CPUs 0-3 and NUMA node 0."""
    (tmp_path / "cpu").write_text("0-3\n")
    (tmp_path / "node").write_text("0\n")
    return {"cpu_online": str(tmp_path / "cpu"), "node_online": str(tmp_path / "node")}


# ---------------------------------------------------------------------------------------------
# Item 1: cpusets are ranges, never expanded


@settings(deadline=None)
@given(k=st.integers(min_value=0, max_value=17), lo=st.integers(min_value=0, max_value=9))
def test_cpuset_range_costs_the_length_of_its_text(k, lo):
    text = f"{lo}-{lo + 10 ** k}"
    result, peak = peak_allocation(parse_cpuset, text)
    assert result == ((lo, lo + 10 ** k),)
    assert cpuset_size(result) == 10 ** k + 1
    assert peak < 16 * 1024, (text, peak)


@settings(deadline=None)
@given(k=st.integers(min_value=1, max_value=17))
def test_cpuset_beyond_the_host_is_refused_without_expanding(k):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cpu = os.path.join(d, "cpu")
        with open(cpu, "w") as f:
            f.write("0-3\n")
        for field, opt in (("cpuset_cpus", "--cpuset-cpus"), ("cpuset_mems", "--cpuset-mems")):
            value = f"0-{10 ** k + 3}"
            result, peak = peak_allocation(parse_limits, **{field: value}, cpu_online=cpu,
                                           node_online=cpu)
            assert isinstance(result, InvalidInput), result
            assert f"invalid {opt} '{value}'" in str(result)
            assert " 4 is not available on this host (online: 0-3)" in str(result)
            assert peak < 256 * 1024, (value, peak)  # the old code: a set of 10**k ints


def test_the_reported_defect_is_refused_at_once(host):
    """`rocker run --cpuset-cpus 0-99999999999` grew the CLI to 24 GB."""
    result, peak = peak_allocation(parse_limits, cpuset_cpus="0-99999999999", **host)
    assert isinstance(result, InvalidInput)
    assert str(result) == ("invalid --cpuset-cpus '0-99999999999': CPU 4 is not available on "
                           "this host (online: 0-3)")
    assert peak < 256 * 1024


def test_numbers_too_long_for_a_cpu_are_refused_as_malformed():
    for text in ("0-" + "9" * 19, "9" * 5000, "1," + "1" * 100000):
        result, peak = peak_allocation(parse_cpuset, text)
        assert isinstance(result, ValueError) and "too large" in str(result)
        assert peak < 4 * len(text) + 16 * 1024


def small_cpusets():
    part = st.tuples(st.integers(0, 60), st.integers(0, 8)).map(
        lambda t: str(t[0]) if t[1] == 0 else f"{t[0]}-{t[0] + t[1]}")
    return st.lists(part, min_size=1, max_size=8).map(",".join)


@settings(deadline=None)
@given(wanted=small_cpusets(), have=small_cpusets())
def test_ranges_agree_with_the_expanded_sets(wanted, have):
    def expand(text):
        out = set()
        for p in text.split(","):
            a, _, b = p.partition("-")
            out.update(range(int(a), int(b or a) + 1))
        return out
    w, h = parse_cpuset(wanted), parse_cpuset(have)
    assert cpuset_size(w) == len(expand(wanted))
    assert parse_cpuset(format_cpuset(w)) == w
    assert expand(format_cpuset(w)) == expand(wanted)
    missing = sorted(expand(wanted) - expand(have))
    assert first_missing(w, h) == (missing[0] if missing else None)
    assert all(b + 1 < a2 for (_, b), (a2, _) in zip(w, w[1:]))  # sorted, merged


def test_cpuset_refuses_other_digits():
    for bad in ("\u00b2", "1-\u0663", "\uff11", "+1", "1_0", "0x1"):
        with pytest.raises(ValueError):
            parse_cpuset(bad)


def test_cpus_counts_online_cpus_from_ranges(tmp_path):
    (tmp_path / "cpu").write_text("0-" + str(10 ** 12 - 1) + "\n")
    lim, peak = peak_allocation(parse_limits, cpus="64", cpu_online=str(tmp_path / "cpu"))
    assert lim == Limits(cpus=64.0) and peak < 256 * 1024


# ---------------------------------------------------------------------------------------------
# Sizes: exact, bounded, never a float overflow


def test_huge_memory_names_memory_not_swap(host):
    """`-m 99999999999999999999999999g` blamed --memory-swap."""
    with pytest.raises(InvalidInput) as e:
        parse_limits(memory="99999999999999999999999999g", **host)
    assert str(e.value) == ("invalid --memory '99999999999999999999999999g': too large (the "
                            "maximum is 8 EiB, 9223372036854775807 bytes)")


@pytest.mark.parametrize("text", ["9" * 400 + ".5", "9" * 5000, "1" + "0" * 19, "8589934592g",
                                  "8388608t", str(MAX_BYTES + 1), "8388608." + "0" * 9999 + "1t"])
def test_sizes_past_the_maximum_are_refused(text):
    result, peak = peak_allocation(parse_bytes, text, "--memory")
    assert isinstance(result, InvalidInput) and "too large" in str(result), result
    assert peak < 4 * len(text) + 16 * 1024


def test_size_numbers_past_the_maximum_are_refused():
    for value in (MAX_BYTES + 1, 10 ** 400, 1e300):
        with pytest.raises(InvalidInput, match="too large"):
            parse_bytes(value, "--memory")
    assert parse_bytes(MAX_BYTES) == MAX_BYTES
    assert parse_bytes(str(MAX_BYTES)) == MAX_BYTES


@settings(deadline=None)
@given(whole=st.integers(0, 10 ** 6), frac=st.text("0123456789", max_size=45),
       unit=st.sampled_from(["", "b", "k", "kb", "m", "mib", "g", "gb", "t", "tib"]))
def test_sizes_are_exact(whole, frac, unit):
    mult = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": GiB, "t": 1024 ** 4}[unit[:1]]
    text = f"{whole}.{frac}{unit}" if frac else f"{whole}{unit}"
    exact = (Fraction(whole) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)) * mult
    assert parse_bytes(text) == int(exact)  # floor, as the old float code for short inputs


def test_long_fractions_cost_their_length():
    text = "1." + "9" * 100000 + "t"
    result, peak = peak_allocation(parse_bytes, text)
    assert result == 2 * 1024 ** 4 - 1
    assert peak < 4 * len(text) + 16 * 1024   # a few copies of the text, no more
    assert parse_bytes("8388607." + "9" * 1000 + "t") == MAX_BYTES


def test_derived_swap_stays_within_the_maximum():
    assert Limits(memory=MAX_BYTES - 1).effective().memory_swap == MAX_BYTES
    assert Limits(memory=GiB).effective().memory_swap == 2 * GiB


@pytest.mark.parametrize("kw,message", [
    ({"pids_limit": MAX_PIDS + 1}, r"--pids-limit 4194305: must be between 1 and 4194304"),
    ({"pids_limit": "9" * 5000}, r"--pids-limit '9+': the number is too large"),
    ({"cpu_shares": "1_024"}, r"--cpu-shares '1_024': expected a whole number"),
    ({"cpu_shares": "\uff11\uff10\uff12\uff14"}, r"--cpu-shares .*expected a whole number"),
    ({"cpu_shares": 10 ** 400}, r"--cpu-shares 1000.*: must be between 2 and 262144"),
    ({"cpus": 10 ** 400}, r"--cpus 1000.*: expected a number of CPUs"),
    ({"cpus": "1e400"}, r"--cpus '1e400'"),
])
def test_limit_numbers_are_strict_and_bounded(host, kw, message):
    with pytest.raises(InvalidInput, match=message):
        parse_limits(**kw, **host)


def test_limit_numbers_still_accepted(host):
    assert parse_limits(pids_limit=str(MAX_PIDS), cpu_shares=" 512 ", **host) == Limits(
        pids_limit=MAX_PIDS, cpu_shares=512)


# ---------------------------------------------------------------------------------------------
# Item 7: values refused with the option and the range


@pytest.mark.parametrize("value", ["-5", "-2", "604801", "9" * 5000, "abc", "1_0", "\u00b2", ""])
def test_stop_timeouts_out_of_range(value):
    with pytest.raises(InvalidInput) as e:
        parse_timeout(value, "-t/--time", unlimited=True)
    assert str(e.value).startswith(f"invalid -t/--time {value!r}: ")
    assert "use -1 (wait without a limit) or 0 to 604800 seconds" in str(e.value)


def test_stop_timeouts_in_range():
    assert parse_timeout("-1", "-t", unlimited=True) == -1
    assert parse_timeout("0", "-t", unlimited=True) == 0
    assert parse_timeout(str(MAX_TIMEOUT), "-t", unlimited=True) == MAX_TIMEOUT
    with pytest.raises(InvalidInput, match=r"--stop-timeout -1: must be between 0 and 604800"):
        build_config("busybox", stop_timeout=-1)
    with pytest.raises(InvalidInput, match=r"--stop-timeout 1000.*: must be between 0 and"):
        build_config("busybox", stop_timeout=10 ** 40)
    assert build_config("busybox", stop_timeout="7").stop_timeout == 7


@pytest.mark.parametrize("item,problem", [
    ("A B=1", "the variable name 'A B' contains whitespace"),
    ("A\tB=1", "contains whitespace"),
    (" A=1", "contains whitespace"),
    ("=x", "the variable name is empty"),
    ("=", "the variable name is empty"),
    ("A=x\0y", "the value contains a NUL byte"),
])
def test_env_names_are_refused_as_docker_does(item, problem):
    with pytest.raises(InvalidInput) as e:
        parse_env_list([item], {})
    assert str(e.value).startswith(f"invalid --env {item!r}: ") and problem in str(e.value)
    with pytest.raises(InvalidInput, match=problem.replace("'", ".")):
        build_config("busybox", env=[item])


def test_env_mapping_and_files_refuse_the_same_names(tmp_path):
    for key in ("A B", "", "A\nB"):
        with pytest.raises(InvalidInput, match="invalid environment variable"):
            build_config("busybox", env={key: "1"})
    f = tmp_path / "e.env"
    f.write_text("OK=1\nA B=1\n")
    with pytest.raises(InvalidInput, match="contains whitespace"):
        read_env_file(str(f), {})
    assert parse_env_list(["A=b c", "B=", "C==d"], {}) == {"A": "b c", "B": "", "C": "=d"}


@pytest.mark.parametrize("user,message", [
    ("99999999999", "invalid --user '99999999999': a uid must be between 0 and 2147483647"),
    ("2147483648", "a uid must be between 0 and 2147483647"),
    ("0:4294967296", "a gid must be between 0 and 2147483647"),
    ("1" * 5000, "a uid must be between 0 and 2147483647"),
    ("bob\n", "use uid[:gid] or name[:group]"),
    ("a b", "use uid[:gid] or name[:group]"),
])
def test_users_out_of_range(user, message):
    with pytest.raises(InvalidInput) as e:
        parse_user(user)
    assert message in str(e.value)
    with pytest.raises(InvalidInput):
        build_config("busybox", user=user)


def test_users_in_range():
    for user in ("0", "2147483647", "1000:1000", "nobody", "www-data:www-data", "00001"):
        assert parse_user(user) == user


def test_resolve_user_checks_ids_and_skips_malformed_lines(tmp_path):
    (tmp_path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "huge:x:99999999999:0::/:/bin/sh\n"
        "sup:x:\u00b2:0::/:/bin/sh\n"
        "short:x:5\n"
        "app:x:1000:1000::/home/app:/bin/sh\n")
    (tmp_path / "group").write_text("root:x:0:\nbad:x:x:app\nstaff:x:50:app\n")
    etc = str(tmp_path)
    with pytest.raises(ContainerStartError, match=r"uids and gids must be in range "
                                                  r"0-2147483647"):
        resolve_user("99999999999", etc)
    with pytest.raises(ContainerStartError, match="uids and gids"):
        resolve_user("0:99999999999", etc)
    with pytest.raises(ContainerStartError, match="unable to find user huge"):
        resolve_user("huge", etc)
    with pytest.raises(ContainerStartError, match="unable to find user sup"):
        resolve_user("sup", etc)
    assert resolve_user("app", etc) == (1000, 1000, [50], "/home/app")
    assert resolve_user("2147483647", etc) == (2147483647, 0, [], "/")


@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000, "SIG_IGN", "_DFL", "_BLOCK", "0",
                                   "65", "NALS"])
def test_bad_signals_are_refused_not_crashed(value):
    with pytest.raises(InvalidInput, match="invalid signal"):
        parse_signal(value)


@pytest.mark.parametrize("value", ["on-failure:\u00b2", "on-failure:" + "9" * 5000,
                                   "on-failure:2147483648", "on-failure:1_0"])
def test_bad_restart_counts(value):
    with pytest.raises(InvalidInput, match="the count must be a number from 0 to 2147483647"):
        parse_restart(value)


@pytest.mark.parametrize("hc,pattern", [
    ({"interval": float("nan")}, r"--health-interval nan"),
    ({"interval": float("inf")}, r"--health-interval inf"),
    ({"interval": "9" * 400}, r"--health-interval '9+': too long"),
    ({"interval": 10 ** 400}, r"--health-interval 10+: not a duration"),
    ({"interval": "8d"}, r"--health-interval '8d': must be more than 0 and at most 604800s"),
    ({"timeout": "0s"}, r"--health-timeout '0s': must be more than 0"),
    ({"start_period": -1}, r"--health-start-period -1: must be 0"),
    ({"retries": 0}, r"--health-retries 0: must be between 1 and 2147483647"),
    ({"retries": "lots"}, r"--health-retries 'lots': expected a whole number"),
])
def test_healthcheck_values_are_bounded(hc, pattern):
    with pytest.raises(InvalidInput, match=pattern):
        build_config("busybox", healthcheck={"test": "true", **hc})


@pytest.mark.parametrize("value", ["9" * 400, "9" * 400 + "h", "\u0663\u0660s", "1e3s",
                                   float("nan"), 10 ** 400, float("inf")])
def test_durations_are_bounded(value):
    with pytest.raises(InvalidInput):
        parse_duration(value, "--x")


def test_durations_still_parse():
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration(2) == 2.0


def test_since_a_plain_number_is_a_unix_time():
    assert parse_since("1700000000", now=1800000000.0) == 1700000000.0
    assert parse_since("10m", now=1000.0) == 400.0


@pytest.mark.parametrize("line", ["EXPOSE 8_0", "EXPOSE +80", "EXPOSE \u0668\u0660",
                                  "EXPOSE 1-" + "9" * 5000])
def test_expose_ports_are_plain_digits(line):
    with pytest.raises(InvalidInput, match="bad port"):
        parse_change(line)


# ---------------------------------------------------------------------------------------------
# Exit codes: one mapping


@pytest.mark.parametrize("command,code,expected", [
    ("run", 1, 125), ("run", 2, 125), ("run", INTERNAL_ERROR_EXIT, 125), ("run", 125, 125),
    ("run", 126, 126), ("run", 127, 127), ("run", 130, 130), ("create", 1, 125),
    ("create", 2, 125), ("exec", 1, 125), ("exec", 2, 125), ("exec", 127, 127),
    ("start", 1, 1), ("start", 2, 2), ("start", 125, 125), ("start", 127, 127),
    ("stop", 1, 1), ("stop", 2, 2), ("diff", 2, 1), ("diff", 1, 1), ("apply", 2, 2),
    (None, 2, 2), ("ps", INTERNAL_ERROR_EXIT, INTERNAL_ERROR_EXIT),
])
def test_exit_code_for(command, code, expected):
    assert exit_code_for(command, code) == expected


# ---------------------------------------------------------------------------------------------
# Stack files: bounded by their length


@pytest.fixture
def stack_dir(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    return d


def laughs(levels: int) -> str:
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\ncontainers:\n  web:\n    image: busybox\n" \
        f"    command: *l{levels - 1}\n"


def test_billion_laughs_is_refused_by_counting(stack_dir):
    f = stack_dir / "s.yaml"
    f.write_text(laughs(9))   # 10**9 strings once expanded, from 700 bytes
    result, peak = peak_allocation(load_spec, str(f))
    assert isinstance(result, SpecError), result
    assert "too large once its aliases are expanded" in str(result)
    assert peak < 8 * 1024 * 1024


def test_aliases_within_bounds_still_work(stack_dir):
    f = stack_dir / "s.yaml"
    f.write_text("containers:\n"
                 "  web: &base\n    image: busybox\n    command: [sleep, '1']\n"
                 "  web2:\n    <<: *base\n    env: {A: '1'}\n")
    d = load_desired(str(f))
    assert [c.name for c in d.containers] == ["s-web-1", "s-web2-1"]
    f.write_text(laughs(3))   # 1000 values: fine (pydantic refuses nested lists, not rocker)
    with pytest.raises(SpecError) as e:
        load_spec(str(f))
    assert "expanded" not in str(e.value)


@pytest.mark.parametrize("text,message", [
    ("a: &a [*a]\ncontainers: {}\n", "alias inside its own anchor"),
    ("containers:\n  web:\n    image: busybox\n    command: " + "[" * 200 + "]" * 200 + "\n",
     "nested deeper than 64 levels"),
    ("containers:\n  web:\n    image: busybox\n    cpus: " + "9" * 5000 + "\n",
     "invalid YAML: not an integer, or too large"),
    ("containers:\n  web:\n    image: busybox\n    cpus: !!int " + "9" * 5000 + "\n",
     "invalid YAML: not an integer, or too large"),
    ("containers:\n  web:\n    image: busybox\n    replicas: 99999999999\n",
     "containers.web.replicas: input should be less than or equal to 1000"),
])
def test_yaml_stack_files_are_bounded(stack_dir, text, message):
    f = stack_dir / "s.yaml"
    f.write_text(text)
    result, peak = peak_allocation(load_desired, str(f))
    assert isinstance(result, SpecError), result
    assert message in str(result)
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("text,message", [
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML: nested too deeply"),
    ('[containers.web]\nimage = "busybox"\ncpus = ' + "9" * 5000 + "\n",
     "invalid TOML: an integer is too large"),
    ('[containers.web]\nimage = "busybox"\nreplicas = 99999999999\n',
     "containers.web.replicas: input should be less than or equal to 1000"),
])
def test_toml_stack_files_are_bounded(stack_dir, text, message):
    f = stack_dir / "s.toml"
    f.write_text(text)
    result, peak = peak_allocation(load_desired, str(f))
    assert isinstance(result, SpecError), result
    assert message in str(result)


@pytest.mark.parametrize("field,value,path,message", [
    ("stop_timeout", "10" + "0" * 40, "containers.web.stop_timeout", "--stop-timeout"),
    ("cpuset", "'0-99999999999'", "containers.web.cpuset", "--cpuset-cpus"),
    ("memory", "9" * 30, "containers.web.memory", "too large"),
    ("user", "'99999999999'", "containers.web.user", "a uid must be between"),
])
def test_stack_values_are_bounded_as_run_options(stack_dir, field, value, path, message):
    f = stack_dir / "s.yaml"
    f.write_text(f"containers:\n  web:\n    image: sha256:{'a' * 64}\n    {field}: {value}\n")
    result, peak = peak_allocation(load_desired, str(f))
    assert isinstance(result, SpecError), result
    assert f"{path}: " in str(result) and message in str(result), str(result)
    assert peak < 8 * 1024 * 1024


def test_names_and_hostnames_refuse_a_trailing_newline():
    from rocker.containers.config import NAME_RE
    assert NAME_RE.match("web") and not NAME_RE.match("web\n")
    with pytest.raises(InvalidInput, match="invalid hostname"):
        build_config("busybox", hostname="box\n")
    assert build_config("busybox", hostname="box.example").hostname == "box.example"
