"""Limits in force against limits wanted, through the planner's own comparison (the one rocker
uses to see drift), for the cgroup tests: {field: (wanted, in force)} for the fields set."""

from __future__ import annotations

import os

from rocker.plan.model import ObservedState
from rocker.plan.planner import limits_drift


def drift(manager, wanted) -> dict:
    seen = ObservedState(cgroup_version=manager.layout.version,
                         page_size=os.sysconf("SC_PAGE_SIZE"))
    have = manager.read_limits().to_dict()
    return {c.path: (c.new, c.old) for c in limits_drift(wanted.to_dict(), have, seen)
            if c.path in wanted.set_fields()}
