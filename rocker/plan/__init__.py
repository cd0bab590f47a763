"""rocker.plan: deciding what to do, with no side effects (the kopf habit).

    model     DesiredState, ObservedState, the Action values (ImportImage, Create, Replace,
              Update, Adopt, Start, Restart, Remove) and Plan
    planner   plan(desired, observed, adopt=False) -> Plan; the reconciliation rules
    render    the plan as Terraform-like text or JSON, secrets masked

This package imports no os-level code and no pydantic: its tests need neither root nor a host.
"""

from rocker.plan.model import (
    Action,
    Adopt,
    Change,
    Create,
    DesiredContainer,
    DesiredImage,
    DesiredState,
    ImportImage,
    ObservedContainer,
    ObservedImage,
    ObservedState,
    Plan,
    Remove,
    Replace,
    Restart,
    Start,
    Update,
)
from rocker.plan.planner import plan

__all__ = [
    "Action", "Adopt", "Change", "Create", "DesiredContainer", "DesiredImage", "DesiredState",
    "ImportImage", "ObservedContainer", "ObservedImage", "ObservedState", "Plan", "Remove",
    "Replace", "Restart", "Start", "Update", "plan",
]
