"""rocker.cgroups: resource limits and process tracking of containers through Linux cgroups.

Owns everything rocker does with cgroups, behind one interface with two backends:

    detect()                  which cgroups the host has (pure v2, hybrid, v1) -> Layout
    manager_for(id, layout)   the CgroupManager of one container: <hierarchy>/rocker/<id>
    Limits, parse_limits()    the limits model and the validation of user values
    parse_bytes()             "100m" -> 104857600
    Stats                     one usage sample (rocker stats)

Modules: limits (model, parsing, conversions), detect (mountinfo), fs (the one write path and
its errors), manager (the shared interface), v1 / v2 (the backends). Imports are light (only
os, errno, signal, time; no dataclasses, see record.py): `rocker run` and the
per-container monitor import this package.
See docs/resources.md for the options and the files each one writes.
"""

from rocker.cgroups.detect import HYBRID, V1, V2, DirOps, Layout, detect
from rocker.cgroups.limits import (
    CFS_PERIOD,
    MIN_MEMORY,
    Limits,
    cpus_to_quota,
    parse_bytes,
    parse_cpuset,
    parse_limits,
    shares_to_weight,
    weight_to_shares,
)
from rocker.cgroups.manager import PARENT, CgroupManager, Stats, manager_for

__all__ = [
    "CFS_PERIOD", "CgroupManager", "DirOps", "HYBRID", "Layout", "Limits", "MIN_MEMORY", "PARENT",
    "Stats", "V1", "V2", "cpus_to_quota", "detect", "manager_for", "parse_bytes",
    "parse_cpuset", "parse_limits", "shares_to_weight", "weight_to_shares",
]
