"""The cgroup v1 backend (pure v1 hosts and hybrid hosts): one directory per controller
hierarchy, `<mount>/rocker/<container id>`.

This module owns the v1 interface files: memory.limit_in_bytes, memory.memsw.limit_in_bytes,
memory.soft_limit_in_bytes, cpu.shares, cpu.cfs_quota_us / cpu.cfs_period_us, cpuset.cpus /
cpuset.mems (copied from the parent into new directories: an empty cpuset refuses tasks),
pids.max, freezer.state, devices.deny / devices.allow, memory.oom_control, and the usage files
read by stats(). Hierarchies that are co-mounted (`cpu,cpuacct`) share one directory.
"""

from __future__ import annotations

import os
import time

from rocker.cgroups import fs
from rocker.cgroups.limits import CFS_PERIOD, DEFAULT_SHARES, Limits, cpus_to_quota, \
    quota_to_cpus
from rocker.cgroups.manager import CgroupManager, Stats
from rocker.errors import HostError

DEVICE_RULES = (
    "c 1:3 rwm",    # null
    "c 1:5 rwm",    # zero
    "c 1:7 rwm",    # full
    "c 1:8 rwm",    # random
    "c 1:9 rwm",    # urandom
    "c 5:0 rwm",    # tty
    "c 5:2 rwm",    # ptmx
    "c 136:* rwm",  # pts/*
)
"""What a container may use after `devices.deny a` (runtime-defaults.md)."""

SWAP_WARNING = ("Your kernel does not support swap limit capabilities or the cgroup is not "
                "mounted. Memory limited without swap.")


class V1Manager(CgroupManager):
    version = 1

    def _bases(self) -> list[str]:
        return list(self.layout.hierarchies())

    def dir(self, controller: str) -> str | None:
        """The container's directory in the hierarchy of `controller` (None: host has none)."""
        mnt = self.layout.controllers.get(controller)
        return os.path.join(mnt, self.parent, self.id) if mnt else None

    def _file(self, controller: str, name: str, option: str) -> str:
        d = self.dir(controller)
        if d is None:
            raise HostError(f"cannot set {option}: the {controller} cgroup controller is not "
                            "mounted on this host")
        return os.path.join(d, name)

    # -- create -------------------------------------------------------------------------------

    def _is_cpuset(self, base: str) -> bool:
        return self.layout.controllers.get("cpuset") == base

    def _copy_cpuset(self, path: str) -> None:
        parent = os.path.dirname(path)
        for name in ("cpuset.cpus", "cpuset.mems"):
            f = os.path.join(path, name)
            if fs.read(f) == "":
                value = fs.read(os.path.join(parent, name))
                if value == "" and parent != self.layout.controllers.get("cpuset"):
                    # the parent was just re-made by another rocker that has not filled it yet
                    self._copy_cpuset(parent)
                    value = fs.read(os.path.join(parent, name))
                if value == "":
                    raise HostError(f"cannot set up cgroup {path}: {parent}/{name} is empty")
                fs.write(f, value)

    def _prepare_parent(self, base: str, parent: str) -> list[str]:
        if self._is_cpuset(base):
            self._copy_cpuset(parent)
        return []

    def _prepare_child(self, base: str, path: str) -> list[str]:
        if self._is_cpuset(base):
            self._copy_cpuset(path)
        return []

    # -- limits -------------------------------------------------------------------------------

    def _apply(self, limits: Limits, undo: list) -> list[str]:
        warnings: list[str] = []
        memory, swap = limits.memory, limits.memory_swap
        if swap is not None:
            memsw = self._file("memory", "memory.memsw.limit_in_bytes", "--memory-swap")
            if not fs.exists(memsw):
                warnings.append(SWAP_WARNING)
                swap = None
        self._set_memory(memory, swap, undo)
        if limits.memory_reservation is not None:
            fs.write(self._file("memory", "memory.soft_limit_in_bytes", "--memory-reservation"),
                     limits.memory_reservation, undo=undo, option="--memory-reservation")
        if limits.cpu_shares is not None:
            fs.write(self._file("cpu", "cpu.shares", "--cpu-shares"), limits.cpu_shares,
                     undo=undo, option="--cpu-shares")
        if limits.cpus is not None:
            self._set_quota(cpus_to_quota(limits.cpus), undo=undo, option="--cpus")
        if limits.cpuset_cpus is not None:
            fs.write(self._file("cpuset", "cpuset.cpus", "--cpuset-cpus"), limits.cpuset_cpus,
                     undo=undo, option="--cpuset-cpus",
                     hint="CPUs not available to this cgroup")
        if limits.cpuset_mems is not None:
            fs.write(self._file("cpuset", "cpuset.mems", "--cpuset-mems"), limits.cpuset_mems,
                     undo=undo, option="--cpuset-mems",
                     hint="memory nodes not available to this cgroup")
        if limits.pids_limit is not None:
            fs.write(self._file("pids", "pids.max", "--pids-limit"),
                     "max" if limits.pids_limit < 0 else limits.pids_limit,
                     undo=undo, option="--pids-limit")
        return warnings

    def _set_quota(self, quota: int, option: str | None, undo: list | None = None) -> None:
        fs.write(self._file("cpu", "cpu.cfs_period_us", "--cpus"), CFS_PERIOD, option=option,
                 undo=undo)
        fs.write(self._file("cpu", "cpu.cfs_quota_us", "--cpus"), quota, option=option,
                 undo=undo)

    def _set_memory(self, memory: int | None, swap: int | None,
                    undo: list | None = None) -> None:
        """memory.limit_in_bytes must stay <= memory.memsw.limit_in_bytes at every moment, so
        the order of the two writes depends on the values (like runc)."""
        if memory is None and swap is None:
            return
        limit = self._file("memory", "memory.limit_in_bytes", "--memory")
        memsw = os.path.join(os.path.dirname(limit), "memory.memsw.limit_in_bytes")

        def set_memory():
            if memory is not None:
                fs.write(limit, memory, undo=undo, option="--memory",
                         hint="the container uses more memory than that now, or it is above "
                              "--memory-swap")

        def set_swap():
            if swap is not None:
                fs.write(memsw, swap, undo=undo, option="--memory-swap",
                         hint="it must be at least --memory")

        current = fs.read_int(limit)
        if swap is not None and (swap == -1 or (current is not None and 0 <= current < swap)):
            set_swap()
            set_memory()
        else:
            set_memory()
            set_swap()

    def reset_unset(self, limits: Limits) -> list[str]:
        mem = self.dir("memory")
        if mem is not None and os.path.isdir(mem):
            memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
            if limits.memory_swap is None and fs.exists(memsw):
                fs.write(memsw, -1)
            if limits.memory is None:
                fs.write(os.path.join(mem, "memory.limit_in_bytes"), -1)
            if limits.memory_reservation is None:
                fs.write(os.path.join(mem, "memory.soft_limit_in_bytes"), -1)
        cpu = self.dir("cpu")
        if cpu is not None and os.path.isdir(cpu):
            if limits.cpu_shares is None:
                fs.write(os.path.join(cpu, "cpu.shares"), DEFAULT_SHARES)
            if limits.cpus is None:
                fs.write(os.path.join(cpu, "cpu.cfs_quota_us"), -1)
        cs = self.dir("cpuset")
        if cs is not None and os.path.isdir(cs):
            parent = os.path.dirname(cs)
            # widen mems before cpus is not needed: the two are independent in v1
            if limits.cpuset_cpus is None:
                fs.write(os.path.join(cs, "cpuset.cpus"), fs.read(f"{parent}/cpuset.cpus"))
            if limits.cpuset_mems is None:
                fs.write(os.path.join(cs, "cpuset.mems"), fs.read(f"{parent}/cpuset.mems"))
        pids = self.dir("pids")
        if pids is not None and os.path.isdir(pids) and limits.pids_limit is None:
            fs.write(os.path.join(pids, "pids.max"), "max")
        return []

    def read_limits(self) -> Limits:
        kw: dict = {}
        mem = self.dir("memory")
        if mem is not None:
            kw["memory"] = _bytes_or_none(fs.read_int(f"{mem}/memory.limit_in_bytes"))
            kw["memory_swap"] = _bytes_or_none(fs.read_int(f"{mem}/memory.memsw.limit_in_bytes"))
            kw["memory_reservation"] = _bytes_or_none(
                fs.read_int(f"{mem}/memory.soft_limit_in_bytes"))
        cpu = self.dir("cpu")
        if cpu is not None:
            kw["cpu_shares"] = fs.read_int(f"{cpu}/cpu.shares")
            quota = fs.read_int(f"{cpu}/cpu.cfs_quota_us", -1)
            period = fs.read_int(f"{cpu}/cpu.cfs_period_us", CFS_PERIOD)
            kw["cpus"] = quota_to_cpus(quota, period)
        cs = self.dir("cpuset")
        if cs is not None:
            kw["cpuset_cpus"] = fs.read_opt(f"{cs}/cpuset.cpus") or None
            kw["cpuset_mems"] = fs.read_opt(f"{cs}/cpuset.mems") or None
        pids = self.dir("pids")
        if pids is not None:
            kw["pids_limit"] = fs.read_int(f"{pids}/pids.max")
        return Limits(**kw)

    # -- freezer ------------------------------------------------------------------------------

    def _has_freezer(self) -> bool:
        d = self.dir("freezer")
        return d is not None and os.path.isdir(d)

    def _freezer_state(self) -> str:
        d = self.dir("freezer")
        if d is None:
            raise HostError("cannot freeze: the freezer cgroup controller is not mounted")
        return os.path.join(self._need(d), "freezer.state")

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every task and wait until the kernel says FROZEN (not FREEZING)."""
        state = self._freezer_state()
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            fs.write(state, "FROZEN")
            if fs.read(state) == "FROZEN":
                return
            if time.monotonic() > deadline:
                fs.write(state, "THAWED")
                raise HostError(f"cannot freeze container {self.id}: still FREEZING after "
                                f"{timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        fs.write(self._freezer_state(), "THAWED")

    def is_frozen(self) -> bool:
        d = self.dir("freezer")
        if d is None or not os.path.isdir(d):
            return False
        return fs.read_opt(os.path.join(d, "freezer.state")) == "FROZEN"

    # -- events and stats ---------------------------------------------------------------------

    def oom_kill_count(self) -> int:
        mem = self.dir("memory")
        if mem is None:
            return 0
        return fs.read_keyed(os.path.join(mem, "memory.oom_control")).get("oom_kill", 0)

    def stats(self) -> Stats:
        mem, cpuacct, pids = self.dir("memory"), self.dir("cpuacct"), self.dir("pids")
        if not self.exists():
            self._need(None)
        mstat = fs.read_keyed(f"{mem}/memory.stat") if mem else {}
        rd, wr = _blkio(self.dir("blkio"))
        return Stats(
            cpu_usage_ns=(fs.read_int(f"{cpuacct}/cpuacct.usage", 0) if cpuacct else 0),
            memory_usage=(fs.read_int(f"{mem}/memory.usage_in_bytes", 0) if mem else 0),
            memory_limit=(_bytes_or_none(fs.read_int(f"{mem}/memory.limit_in_bytes"))
                          if mem else None),
            pids_current=(fs.read_int(f"{pids}/pids.current", 0) if pids else
                          len(self.procs())),
            memory_inactive_file=mstat.get("total_inactive_file", mstat.get("inactive_file", 0)),
            pids_limit=(fs.read_int(f"{pids}/pids.max") if pids else None),
            io_read_bytes=rd,
            io_write_bytes=wr,
            oom_kills=self.oom_kill_count(),
            read_at=time.monotonic(),
        )

    # -- devices ------------------------------------------------------------------------------

    def setup_devices(self) -> None:
        d = self.dir("devices")
        if d is None:
            return
        self._need(d)
        fs.write(os.path.join(d, "devices.deny"), "a")
        for rule in DEVICE_RULES:
            fs.write(os.path.join(d, "devices.allow"), rule)


def _bytes_or_none(n: int | None) -> int | None:
    if n is None or n < 0 or n >= fs.UNLIMITED_V1:
        return None
    return n


def _blkio(d: str | None) -> tuple[int, int]:
    if d is None:
        return 0, 0
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes",
                 "blkio.io_service_bytes_recursive"):
        text = fs.read_opt(os.path.join(d, name))
        if text is None:
            continue
        rd = wr = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                if parts[1] == "Read":
                    rd += int(parts[2])
                elif parts[1] == "Write":
                    wr += int(parts[2])
        return rd, wr
    return 0, 0
