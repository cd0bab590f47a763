"""The cgroup v2 backend (pure v2 hosts): one directory, `<root>/rocker/<container id>`.

This module owns the v2 interface files: enabling controllers in cgroup.subtree_control on the
way down (root, then `rocker`), memory.max, memory.swap.max (memory_swap - memory), memory.low,
cpu.weight (converted from shares), cpu.max, cpuset.cpus / cpuset.mems, pids.max,
cgroup.freeze / cgroup.events, cgroup.kill, memory.events, and the usage files read by stats().
Device access on v2 is controlled by an eBPF program, not by files: setup_devices() does
nothing here (the runtime's device nodes and seccomp filter are what protect devices).
"""

from __future__ import annotations

import os
import time

from rocker.cgroups import fs
from rocker.cgroups.limits import CFS_PERIOD, DEFAULT_WEIGHT, Limits, cpus_to_quota, \
    quota_to_cpus, shares_to_weight, weight_to_shares
from rocker.cgroups.manager import CgroupManager, Stats
from rocker.errors import HostError, InvalidInput

CONTROLLERS = ("cpu", "cpuset", "memory", "pids", "io")
"""Controllers enabled for containers, when the host offers them."""

SWAP_WARNING = ("Your kernel does not support swap limit capabilities (memory.swap.max is "
                "missing). Memory limited without swap.")


class V2Manager(CgroupManager):
    version = 2

    def _bases(self) -> list[str]:
        return [self.layout.root]

    @property
    def path(self) -> str:
        return os.path.join(self.layout.root, self.parent, self.id)

    def _file(self, name: str, option: str, controller: str) -> str:
        f = os.path.join(self.path, name)
        if not fs.exists(f):
            raise HostError(f"cannot set {option}: the {controller} controller is not enabled "
                            f"in {self.path}")
        return f

    # -- create -------------------------------------------------------------------------------

    def _enable(self, cgroup: str) -> list[str]:
        """Enable CONTROLLERS in `cgroup`'s subtree_control, those it has and lacks."""
        available = (fs.read_opt(os.path.join(cgroup, "cgroup.controllers")) or "").split()
        ctl = os.path.join(cgroup, "cgroup.subtree_control")
        enabled = (fs.read_opt(ctl) or "").replace("+", "").split()
        wanted = [c for c in CONTROLLERS if c in available and c not in enabled]
        if not wanted:
            return []
        try:
            fs.write(ctl, " ".join("+" + c for c in wanted))
            return []
        except HostError:
            pass
        warnings = []
        for c in wanted:  # one at a time: enable what can be, report the rest
            try:
                fs.write(ctl, "+" + c)
            except HostError as e:
                warnings.append(f"cgroup controller {c} not enabled: {e}")
        return warnings

    def _prepare_base(self, base: str) -> list[str]:
        return self._enable(base)

    def _prepare_parent(self, base: str, parent: str) -> list[str]:
        return self._enable(parent)

    # -- limits -------------------------------------------------------------------------------

    def _apply(self, limits: Limits, undo: list) -> list[str]:
        warnings: list[str] = []
        if limits.memory is not None:
            fs.write(self._file("memory.max", "--memory", "memory"), limits.memory,
                     undo=undo, option="--memory",
                     hint="the kernel refused the memory limit")
        if limits.memory_swap is not None:
            swap_file = os.path.join(self.path, "memory.swap.max")
            if not fs.exists(swap_file):
                self._file("memory.max", "--memory-swap", "memory")
                warnings.append(SWAP_WARNING)
            elif limits.memory_swap == -1:
                fs.write(swap_file, "max", undo=undo, option="--memory-swap")
            else:
                # an update of --memory-swap alone: swap.max is counted from the memory.max
                # in force
                memory = limits.memory
                if memory is None:
                    memory = fs.read_int(os.path.join(self.path, "memory.max"))
                if memory is None:
                    raise InvalidInput(f"invalid --memory-swap {limits.memory_swap}: it needs "
                                       "--memory too (--memory-swap is memory plus swap)")
                if limits.memory_swap < memory:
                    raise InvalidInput(f"invalid --memory-swap {limits.memory_swap}: it must be "
                                       f"at least --memory ({memory}); it counts memory plus "
                                       "swap (use -1 for unlimited swap)")
                fs.write(swap_file, limits.memory_swap - memory, undo=undo,
                         option="--memory-swap")
        if limits.memory_reservation is not None:
            fs.write(self._file("memory.low", "--memory-reservation", "memory"),
                     limits.memory_reservation, undo=undo, option="--memory-reservation")
        if limits.cpu_shares is not None:
            fs.write(self._file("cpu.weight", "--cpu-shares", "cpu"),
                     shares_to_weight(limits.cpu_shares), undo=undo, option="--cpu-shares")
        if limits.cpus is not None:
            fs.write(self._file("cpu.max", "--cpus", "cpu"),
                     f"{cpus_to_quota(limits.cpus)} {CFS_PERIOD}", undo=undo, option="--cpus")
        if limits.cpuset_cpus is not None:
            fs.write(self._file("cpuset.cpus", "--cpuset-cpus", "cpuset"), limits.cpuset_cpus,
                     undo=undo, option="--cpuset-cpus",
                     hint="CPUs not available to this cgroup")
        if limits.cpuset_mems is not None:
            fs.write(self._file("cpuset.mems", "--cpuset-mems", "cpuset"), limits.cpuset_mems,
                     undo=undo, option="--cpuset-mems",
                     hint="memory nodes not available to this cgroup")
        if limits.pids_limit is not None:
            fs.write(self._file("pids.max", "--pids-limit", "pids"),
                     "max" if limits.pids_limit < 0 else limits.pids_limit,
                     undo=undo, option="--pids-limit")
        return warnings

    def reset_unset(self, limits: Limits) -> list[str]:
        defaults = {
            "memory": ("memory.max", "max"),
            "memory_swap": ("memory.swap.max", "max"),
            "memory_reservation": ("memory.low", "0"),
            "cpu_shares": ("cpu.weight", str(DEFAULT_WEIGHT)),
            "cpus": ("cpu.max", f"max {CFS_PERIOD}"),
            "cpuset_cpus": ("cpuset.cpus", "\n"),
            "cpuset_mems": ("cpuset.mems", "\n"),
            "pids_limit": ("pids.max", "max"),
        }
        for name, (fname, value) in defaults.items():
            f = os.path.join(self.path, fname)
            if getattr(limits, name) is None and fs.exists(f):
                fs.write(f, value)
        return []

    def read_limits(self) -> Limits:
        d = self.path
        memory = fs.read_int(f"{d}/memory.max")
        swap = fs.read_int(f"{d}/memory.swap.max")
        low = fs.read_int(f"{d}/memory.low")
        weight = fs.read_int(f"{d}/cpu.weight")
        cpus = None
        cpu_max = (fs.read_opt(f"{d}/cpu.max") or "").split()
        if len(cpu_max) == 2 and cpu_max[0] != "max":
            cpus = quota_to_cpus(int(cpu_max[0]), int(cpu_max[1]))
        return Limits(
            memory=memory,
            memory_swap=(memory + swap if memory is not None and swap is not None else None),
            memory_reservation=low or None,
            cpu_shares=weight_to_shares(weight) if weight is not None else None,
            cpus=cpus,
            cpuset_cpus=fs.read_opt(f"{d}/cpuset.cpus") or None,
            cpuset_mems=fs.read_opt(f"{d}/cpuset.mems") or None,
            pids_limit=fs.read_int(f"{d}/pids.max"),
        )

    def _norm(self, name: str, value):
        if name == "cpu_shares" and value is not None:
            return shares_to_weight(value)
        return super()._norm(name, value)

    # -- freezer and kill ---------------------------------------------------------------------

    def _has_freezer(self) -> bool:
        return fs.exists(os.path.join(self.path, "cgroup.freeze"))

    def _cgroup_kill(self) -> bool:
        f = os.path.join(self.path, "cgroup.kill")
        if not fs.exists(f):
            return False
        fs.write(f, "1")
        return True

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every task and wait until cgroup.events says "frozen 1"."""
        f = os.path.join(self._need(self.path), "cgroup.freeze")
        if not fs.exists(f):
            raise HostError("cannot freeze: cgroup.freeze is missing (needs Linux 5.2 or later)")
        fs.write(f, "1")
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not self.is_frozen():
            if time.monotonic() > deadline:
                fs.write(f, "0")
                raise HostError(f"cannot freeze container {self.id}: not frozen after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def thaw(self) -> None:
        f = os.path.join(self._need(self.path), "cgroup.freeze")
        fs.write(f, "0")

    def is_frozen(self) -> bool:
        return fs.read_keyed(os.path.join(self.path, "cgroup.events")).get("frozen", 0) == 1

    # -- events and stats ---------------------------------------------------------------------

    def oom_kill_count(self) -> int:
        return fs.read_keyed(os.path.join(self.path, "memory.events")).get("oom_kill", 0)

    def stats(self) -> Stats:
        d = self._need(self.path)
        cpu = fs.read_keyed(f"{d}/cpu.stat")
        mstat = fs.read_keyed(f"{d}/memory.stat")
        rd = wr = 0
        for line in (fs.read_opt(f"{d}/io.stat") or "").splitlines():
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                if k == "rbytes" and v.isdigit():
                    rd += int(v)
                elif k == "wbytes" and v.isdigit():
                    wr += int(v)
        pids_current = fs.read_int(f"{d}/pids.current")
        return Stats(
            cpu_usage_ns=cpu.get("usage_usec", 0) * 1000,
            memory_usage=fs.read_int(f"{d}/memory.current", 0),
            memory_limit=fs.read_int(f"{d}/memory.max"),
            pids_current=pids_current if pids_current is not None else len(self.procs()),
            memory_inactive_file=mstat.get("inactive_file", 0),
            pids_limit=fs.read_int(f"{d}/pids.max"),
            io_read_bytes=rd,
            io_write_bytes=wr,
            oom_kills=self.oom_kill_count(),
            read_at=time.monotonic(),
        )

    def setup_devices(self) -> None:
        """Nothing: the v2 device controller is an eBPF program (not implemented)."""
