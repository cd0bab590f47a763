"""Resource limits: the `Limits` record, and parsing/validation of what users type.

This module owns the one model of a container's resource limits (memory, swap, reservation, CPU
shares, CPU quota, cpusets, pids) and every check made on those values BEFORE any cgroup is
created. It also owns the unit conversions shared by both cgroup backends (bytes with suffixes,
CPU shares -> cgroup v2 weight, `--cpus` -> CFS quota/period).

Every parser here does work bounded by the length of what the user typed, never by the numbers
in it: cpuset lists stay ranges (never expanded into sets), sizes are exact integer arithmetic
with an upper bound, and numbers are plain ASCII digits of a bounded length.

Conventions of `Limits` (an immutable record, stored in JSON records through to_dict/from_dict):
    None   the field is not set: nothing is written for it (the kernel default stays)
    -1     for memory_swap and pids_limit: explicitly unlimited

Imports are kept to the standard library's lightest modules: `rocker run` imports this.
"""

from __future__ import annotations

import os

from rocker import fields
from rocker.cgroups.record import Record
from rocker.errors import InvalidInput

MIN_MEMORY = 6 * 1024 * 1024
"""The smallest memory limit accepted, like Docker (the kernel needs some room to start a task)."""

MAX_BYTES = 2 ** 63 - 1
"""The largest size accepted (8 EiB, a signed 64-bit count as Docker and the kernel keep it)."""

MAX_PIDS = 4194304
"""The largest --pids-limit the kernel takes (PID_MAX_LIMIT on 64-bit; pids.max refuses more)."""

MAX_CPUSET_DIGITS = 18
"""A CPU or memory node number in a cpuset list has at most this many digits (the kernel's
limits are far lower; the host check below names the real ones)."""

MIN_SHARES, MAX_SHARES = 2, 262144
DEFAULT_SHARES = 1024
DEFAULT_WEIGHT = 100
CFS_PERIOD = 100000
"""CFS period in microseconds used for `--cpus` (the kernel default, like Docker)."""

CPU_ONLINE = "/sys/devices/system/cpu/online"
NODE_ONLINE = "/sys/devices/system/node/online"

OPTIONS = {f.name: f.options[0].name for f in fields.LIMITS}
"""Field name -> the command-line option named in error messages (rocker.fields)."""

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2,
    "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3,
    "t": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4,
}


# ---------------------------------------------------------------------------------------------
# The model


class Limits(Record):
    """The resource limits of one container. See the module docstring for None / -1.

    memory              bytes (memory.limit_in_bytes / memory.max)
    memory_swap         memory + swap, bytes; -1 = unlimited swap
    memory_reservation  soft limit, bytes (soft_limit_in_bytes / memory.low)
    cpu_shares          relative weight, 2..262144 (v2: cpu.weight)
    cpus                CPU quota in CPUs, e.g. 1.5
    cpuset_cpus         e.g. "0-1,3"
    cpuset_mems         NUMA nodes, e.g. "0"
    pids_limit          max tasks; -1 = unlimited

    Every field defaults to None. Immutable; `replace(**changes)` makes a changed copy.
    """

    __slots__ = fields.LIMIT_NAMES
    FIELDS = __slots__
    _defaults = dict.fromkeys(__slots__)

    def to_dict(self) -> dict:
        """Only the fields that are set, JSON-ready."""
        return {n: getattr(self, n) for n in self.FIELDS if getattr(self, n) is not None}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Limits":
        """Inverse of to_dict; unknown keys are ignored (records written by newer versions)."""
        if not d:
            return cls()
        kw = {k: v for k, v in d.items() if k in cls._defaults and v is not None}
        if "cpus" in kw:
            kw["cpus"] = float(kw["cpus"])
        return cls(**kw)

    def is_empty(self) -> bool:
        return not self.to_dict()

    def merge(self, update: "Limits") -> "Limits":
        """These limits with every field that is set in `update` replaced; the others kept.

        The result is checked across fields again (e.g. a new --memory above the
        --memory-swap in force raises InvalidInput), so `rocker update` fails before writing.
        """
        merged = self.replace(**update.to_dict())
        if (update.memory is not None and update.memory_swap is None
                and merged.memory_swap not in (None, -1) and merged.memory_swap < update.memory):
            raise InvalidInput(
                f"invalid --memory {update.memory}: it is above the --memory-swap in force "
                f"({merged.memory_swap}); update --memory-swap at the same time")
        check_combination(merged)
        return merged

    def set_fields(self) -> list[str]:
        return [n for n in self.FIELDS if getattr(self, n) is not None]

    def effective(self) -> "Limits":
        """The limits to write to the cgroup: these, with the values Docker derives filled in.

        When --memory is set and --memory-swap is not, the container may use as much swap as
        memory: memory_swap = 2 x memory (Docker's default). Everything else is unchanged. The
        stored config keeps the limits as given (without the derived value), and drift() is
        compared against those, so a derived value is never reported as drift.
        """
        if self.memory is not None and self.memory_swap is None:
            return self.replace(memory_swap=min(2 * self.memory, MAX_BYTES))
        return self


# ---------------------------------------------------------------------------------------------
# Conversions


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) -> cgroup v2 cpu.weight (1..10000), the standard formula
    used by runc, crun and systemd."""
    if shares == 0:
        return DEFAULT_WEIGHT
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight: int) -> int:
    """The smallest cpu.shares that converts to `weight` (the conversion is not one-to-one)."""
    if weight <= 1:
        return MIN_SHARES
    # smallest s with (s - 2) * 9999 >= (weight - 1) * 262142
    return 2 + -(-((weight - 1) * 262142) // 9999)


def cpus_to_quota(cpus: float, period: int = CFS_PERIOD) -> int:
    """`--cpus 1.5` -> a CFS quota of 150000 us over a period of 100000 us."""
    return int(round(cpus * period))


def quota_to_cpus(quota: int, period: int) -> float | None:
    if quota < 0 or period <= 0:
        return None
    return round(quota / period, 6)


def _too_large(option: str, value) -> InvalidInput:
    return InvalidInput(f"invalid {option} {value!r}: too large (the maximum is 8 EiB, "
                        f"{MAX_BYTES} bytes)")


def parse_bytes(value, option: str = "size") -> int:
    """A size in bytes: an int, or a string like "512", "100m", "1.5g", "64KB" (base 1024,
    case-insensitive units b, k, m, g, t, optionally followed by b / ib), at most MAX_BYTES.

    Exact integer arithmetic (no float: `1e400` digits cannot overflow), and the work is bounded
    by the length of the text. Raises InvalidInput naming `option`."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {option} {value!r}: expected a size like 100m or 1g")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"invalid {option} {value}: a size cannot be negative")
        if value > MAX_BYTES:
            raise _too_large(option, value)
        return value
    if isinstance(value, float):
        if value < 0 or value != value or value == float("inf"):
            raise InvalidInput(f"invalid {option} {value}: expected a size like 100m or 1g")
        if value > MAX_BYTES:
            raise _too_large(option, value)
        return int(value)
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {option} {value!r}: expected a size like 100m or 1g")
    s = value.strip().lower()
    i = 0
    while i < len(s) and s[i] in "0123456789.":
        i += 1
    number, unit = s[:i], s[i:].strip()
    if not number or number.count(".") > 1 or number == "." or unit not in _UNITS:
        raise InvalidInput(
            f"invalid {option} {value!r}: expected a number with an optional unit "
            "b, k, m or g (e.g. 100m, 1g)")
    whole, _, frac = number.partition(".")
    whole = whole.lstrip("0")
    if len(whole) > 19:  # more than MAX_BYTES bytes whatever the unit; never converted
        raise _too_large(option, value)
    mult = _UNITS[unit]
    n = int(whole or "0") * mult
    # 1 / 1024**4 needs 40 decimal places: digits past 48 cannot change the whole bytes
    frac = frac[:48].rstrip("0")
    if frac:
        n += int(frac) * mult // 10 ** len(frac)
    if n > MAX_BYTES:
        raise _too_large(option, value)
    return n


Cpuset = tuple  # tuple[tuple[int, int], ...]: sorted, merged, inclusive ranges


def _cpuset_number(text: str, part: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"bad {'range' if '-' in part else 'number'} {part!r}")
    if len(text.lstrip("0")) > MAX_CPUSET_DIGITS:
        raise ValueError(f"number too large in {part!r}")
    return int(text)


def parse_cpuset(text: str) -> Cpuset:
    """ "0-2,4" -> ((0, 2), (4, 4)): the sorted, merged ranges of a CPU or memory node list.

    The list is never expanded into its members: the work and the result are bounded by the
    length of the text, whatever the numbers in it (`0-99999999999` is one range, two numbers).
    Raises ValueError on a malformed list."""
    s = text.strip()
    if not s:
        raise ValueError("empty list")
    ranges = []
    for part in s.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        a = _cpuset_number(lo, part)
        b = _cpuset_number(hi, part) if dash else a
        if a > b:
            raise ValueError(f"bad range {part!r}")
        ranges.append((a, b))
    ranges.sort()
    merged = [ranges[0]]
    for a, b in ranges[1:]:
        la, lb = merged[-1]
        if a <= lb + 1:
            merged[-1] = (la, max(lb, b))
        else:
            merged.append((a, b))
    return tuple(merged)


def cpuset_size(ranges: Cpuset) -> int:
    """How many CPUs (or nodes) the ranges of parse_cpuset() hold."""
    return sum(b - a + 1 for a, b in ranges)


def format_cpuset(ranges: Cpuset) -> str:
    """((0, 2), (4, 4)) -> "0-2,4" (the kernel's own spelling)."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def first_missing(wanted: Cpuset, have: Cpuset) -> int | None:
    """The smallest number in `wanted` that is not in `have` (None if every one is), in
    O(len(wanted) + len(have)): both are parse_cpuset() results, sorted and merged."""
    j = 0
    for a, b in wanted:
        while j < len(have) and have[j][1] < a:
            j += 1
        if j == len(have) or have[j][0] > a:
            return a
        if have[j][1] < b:  # merged ranges: the next one starts after a gap
            return have[j][1] + 1
    return None


def _read_online(path: str, default: str | None) -> Cpuset:
    try:
        with open(path) as f:
            text = f.read(65536).strip()
    except OSError:
        if default is None:
            raise
        text = default
    return parse_cpuset(text)


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def _int_value(field: str, value) -> int:
    opt = OPTIONS[field]
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {opt} {value!r}: expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit():
            if len(digits.lstrip("0")) > 18:
                raise InvalidInput(f"invalid {opt} {value!r}: the number is too large")
            return int(text)
    raise InvalidInput(f"invalid {opt} {value!r}: expected a whole number")


def _size_value(field: str, value, allow_unlimited: bool = False) -> int:
    opt = OPTIONS[field]
    if allow_unlimited and not isinstance(value, bool):
        if value == -1 or (isinstance(value, str) and value.strip() == "-1"):
            return -1
    hint = " (use -1 for unlimited)" if allow_unlimited else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise InvalidInput(f"invalid {opt} {value}: a size cannot be negative{hint}")
    if isinstance(value, str) and value.strip().startswith("-"):
        raise InvalidInput(f"invalid {opt} {value!r}: a size cannot be negative{hint}")
    return parse_bytes(value, opt)


def _cpuset_value(field: str, value, online_path: str, default: str | None) -> str:
    opt = OPTIONS[field]
    what = "CPU" if field == "cpuset_cpus" else "memory node"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {opt} {value!r}: expected a list like 0-2,4")
    try:
        wanted = parse_cpuset(value)
    except ValueError as e:
        raise InvalidInput(f"invalid {opt} {value!r}: {e} (expected a list like 0-2,4)") from None
    try:
        online = _read_online(online_path, default)
    except (OSError, ValueError):
        return value.strip()  # cannot check here; the kernel will refuse a bad one
    missing = first_missing(wanted, online)
    if missing is not None:
        raise InvalidInput(f"invalid {opt} {value!r}: {what} {missing} is not available "
                           f"on this host (online: {format_cpuset(online)})")
    return value.strip().replace(" ", "")


def parse_limits(*, memory=None, memory_swap=None, memory_reservation=None, cpu_shares=None,
                 cpus=None, cpuset_cpus=None, cpuset_mems=None, pids_limit=None,
                 partial: bool = False, cpu_online: str = CPU_ONLINE,
                 node_online: str = NODE_ONLINE) -> Limits:
    """Limits from strings or numbers (command line or a spec file), every value checked.

    Raises InvalidInput naming the option and the value for the first bad one. With
    `partial=True` (an update: only the given fields change) the checks that need two fields
    are made only when both are given; `Limits.merge` checks the combined result.
    `cpu_online` / `node_online` are the host's lists of CPUs and NUMA nodes (parameters so tests
    can pretend another host).
    """
    kw: dict = {}
    if memory is not None:
        kw["memory"] = _size_value("memory", memory)
        if kw["memory"] < MIN_MEMORY:
            raise InvalidInput(f"invalid --memory {memory!r}: the minimum memory limit is 6m "
                               f"({MIN_MEMORY} bytes)")
    if memory_swap is not None:
        kw["memory_swap"] = _size_value("memory_swap", memory_swap, allow_unlimited=True)
        if kw["memory_swap"] != -1 and kw["memory_swap"] < MIN_MEMORY:
            raise InvalidInput(f"invalid --memory-swap {memory_swap!r}: the minimum is 6m "
                               "(or -1 for unlimited swap)")
    if memory_reservation is not None:
        kw["memory_reservation"] = _size_value("memory_reservation", memory_reservation)
        if kw["memory_reservation"] < MIN_MEMORY:
            raise InvalidInput(f"invalid --memory-reservation {memory_reservation!r}: "
                               "the minimum memory reservation is 6m")
    if cpu_shares is not None:
        n = _int_value("cpu_shares", cpu_shares)
        if not MIN_SHARES <= n <= MAX_SHARES:
            raise InvalidInput(f"invalid --cpu-shares {cpu_shares!r}: must be between "
                               f"{MIN_SHARES} and {MAX_SHARES} (default {DEFAULT_SHARES})")
        kw["cpu_shares"] = n
    if cpus is not None:
        kw["cpus"] = _cpus_value(cpus, cpu_online)
    if cpuset_cpus is not None:
        kw["cpuset_cpus"] = _cpuset_value("cpuset_cpus", cpuset_cpus, cpu_online, None)
    if cpuset_mems is not None:
        kw["cpuset_mems"] = _cpuset_value("cpuset_mems", cpuset_mems, node_online, "0")
    if pids_limit is not None:
        n = _int_value("pids_limit", pids_limit)
        if n in (0, -1):
            n = -1
        elif not 1 <= n <= MAX_PIDS:
            raise InvalidInput(f"invalid --pids-limit {pids_limit!r}: must be between 1 and "
                               f"{MAX_PIDS} (or -1 / 0 for unlimited)")
        kw["pids_limit"] = n
    limits = Limits(**kw)
    check_combination(limits, partial=partial)
    return limits


def _cpus_value(value, cpu_online: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5")
    try:
        n = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float's range
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5"
                           ) from None
    if n != n or n in (float("inf"), float("-inf")):
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5")
    if n <= 0:
        raise InvalidInput(f"invalid --cpus {value!r}: must be more than 0")
    try:
        have = cpuset_size(_read_online(cpu_online, None))
    except (OSError, ValueError):
        have = os.cpu_count() or 1
    if n > have:
        raise InvalidInput(f"invalid --cpus {value!r}: this host has only {have} CPU"
                           + ("s" if have != 1 else ""))
    if cpus_to_quota(n) < 1000:
        raise InvalidInput(f"invalid --cpus {value!r}: the minimum is 0.01")
    return n


def check_combination(limits: Limits, partial: bool = False) -> None:
    """Checks that need several fields. Missing fields are skipped; with partial=False a
    --memory-swap without --memory is refused (like Docker)."""
    m, sw, res = limits.memory, limits.memory_swap, limits.memory_reservation
    if sw is not None and sw != -1:
        if m is None:
            if not partial:
                raise InvalidInput(f"invalid --memory-swap {sw}: it needs --memory too "
                                   "(--memory-swap is memory plus swap)")
        elif sw < m:
            raise InvalidInput(f"invalid --memory-swap {sw}: it must be at least --memory "
                               f"({m}); it counts memory plus swap (use -1 for unlimited swap)")
    if res is not None and m is not None and res > m:
        raise InvalidInput(f"invalid --memory-reservation {res}: it must not be more than "
                           f"--memory ({m})")
