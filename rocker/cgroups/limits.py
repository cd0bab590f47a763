"""Resource limits: the `Limits` record, and parsing/validation of what users type.

This module owns the one model of a container's resource limits (memory, swap, reservation, CPU
shares, CPU quota, cpusets, pids) and every check made on those values BEFORE any cgroup is
created. It also owns the unit conversions shared by both cgroup backends (bytes with suffixes,
CPU shares -> cgroup v2 weight, `--cpus` -> CFS quota/period).

Conventions of `Limits` (an immutable record, stored in JSON records through to_dict/from_dict):
    None   the field is not set: nothing is written for it (the kernel default stays)
    -1     for memory_swap and pids_limit: explicitly unlimited

Imports are kept to the standard library's lightest modules: `rocker run` imports this.
"""

from __future__ import annotations

import os

from rocker.cgroups.record import Record
from rocker.errors import InvalidInput

MIN_MEMORY = 6 * 1024 * 1024
"""The smallest memory limit accepted, like Docker (the kernel needs some room to start a task)."""

MIN_SHARES, MAX_SHARES = 2, 262144
DEFAULT_SHARES = 1024
DEFAULT_WEIGHT = 100
CFS_PERIOD = 100000
"""CFS period in microseconds used for `--cpus` (the kernel default, like Docker)."""

CPU_ONLINE = "/sys/devices/system/cpu/online"
NODE_ONLINE = "/sys/devices/system/node/online"

OPTIONS = {
    "memory": "--memory",
    "memory_swap": "--memory-swap",
    "memory_reservation": "--memory-reservation",
    "cpu_shares": "--cpu-shares",
    "cpus": "--cpus",
    "cpuset_cpus": "--cpuset-cpus",
    "cpuset_mems": "--cpuset-mems",
    "pids_limit": "--pids-limit",
}
"""Field name -> the command-line option named in error messages."""

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

    __slots__ = ("memory", "memory_swap", "memory_reservation", "cpu_shares", "cpus",
                 "cpuset_cpus", "cpuset_mems", "pids_limit")
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
            return self.replace(memory_swap=2 * self.memory)
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


def parse_bytes(value, option: str = "size") -> int:
    """A size in bytes: an int, or a string like "512", "100m", "1.5g", "64KB" (base 1024,
    case-insensitive units b, k, m, g, t, optionally followed by b / ib). Raises InvalidInput."""
    if isinstance(value, bool):
        raise InvalidInput(f"invalid {option} {value!r}: expected a size like 100m or 1g")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"invalid {option} {value}: a size cannot be negative")
        return value
    if isinstance(value, float):
        if value < 0 or value != value or value == float("inf"):
            raise InvalidInput(f"invalid {option} {value}: expected a size like 100m or 1g")
        return int(value)
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {option} {value!r}: expected a size like 100m or 1g")
    s = value.strip().lower()
    i = 0
    while i < len(s) and (s[i].isdigit() or s[i] == "."):
        i += 1
    number, unit = s[:i], s[i:].strip()
    if not number or number.count(".") > 1 or number == "." or unit not in _UNITS:
        raise InvalidInput(
            f"invalid {option} {value!r}: expected a number with an optional unit "
            "b, k, m or g (e.g. 100m, 1g)")
    try:
        n = float(number) if "." in number else int(number)
    except ValueError:  # pragma: no cover - guarded above
        raise InvalidInput(f"invalid {option} {value!r}: not a number") from None
    return int(n * _UNITS[unit])


def parse_cpuset(text: str) -> list[int]:
    """ "0-2,4" -> [0, 1, 2, 4]. Raises ValueError on a malformed list."""
    out: set[int] = set()
    s = text.strip()
    if not s:
        raise ValueError("empty list")
    for part in s.split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            if not (lo.isdigit() and hi.isdigit()):
                raise ValueError(f"bad range {part!r}")
            a, b = int(lo), int(hi)
            if a > b:
                raise ValueError(f"bad range {part!r}")
            out.update(range(a, b + 1))
        else:
            if not part.isdigit():
                raise ValueError(f"bad number {part!r}")
            out.add(int(part))
    return sorted(out)


def _read_online(path: str, default: str | None) -> list[int]:
    try:
        with open(path) as f:
            text = f.read().strip()
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
        try:
            return int(value.strip())
        except ValueError:
            pass
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
        online = set(_read_online(online_path, default))
    except (OSError, ValueError):
        return value.strip()  # cannot check here; the kernel will refuse a bad one
    missing = [n for n in wanted if n not in online]
    if missing:
        have = ",".join(str(n) for n in sorted(online))
        raise InvalidInput(f"invalid {opt} {value!r}: {what} {missing[0]} is not available "
                           f"on this host (online: {have})")
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
        elif n < 1:
            raise InvalidInput(f"invalid --pids-limit {pids_limit!r}: must be at least 1 "
                               "(or -1 / 0 for unlimited)")
        kw["pids_limit"] = n
    limits = Limits(**kw)
    check_combination(limits, partial=partial)
    return limits


def _cpus_value(value, cpu_online: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5")
    try:
        n = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5"
                           ) from None
    if n != n or n in (float("inf"), float("-inf")):
        raise InvalidInput(f"invalid --cpus {value!r}: expected a number of CPUs like 1.5")
    if n <= 0:
        raise InvalidInput(f"invalid --cpus {value!r}: must be more than 0")
    try:
        have = len(_read_online(cpu_online, None))
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
