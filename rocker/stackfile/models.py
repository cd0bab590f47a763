"""The pydantic models of a stack file (YAML or TOML: the same model). Unknown keys are errors.

These models only check the *shape* of the file (types, strictly: no bool for an int, no string
for a bool; unknown keys; replicas >= 0; the dependency conditions). What a value means (a
size, a signal, a restart policy, a user) is checked by rocker.containers.config.build_config(),
the one code path shared with `rocker run`; rocker.stackfile.loader calls it for every
container. Field names follow `rocker run`'s options.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

Scalar = Union[str, int, float, bool]
MAX_REPLICAS = 1000
"""The most replicas of one service (each is a container of its own on this host)."""
Condition = Literal["started", "healthy", "completed"]


class _Strict(BaseModel):
    # strict: no lax coercion (`replicas: true`, `tty: "yes"`, `cpu_shares: "512"` are errors);
    # sizes, durations and signals take strings or numbers by their declared unions
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class ImageSpec(_Strict):
    """An image imported from a tar; re-imported when the tar's bytes change."""

    import_: str = Field(alias="import", description="Path of the tar, relative to the stack "
                                                     "file.")
    tag: Optional[str] = Field(None, description="Tag of the reference (default: latest); the "
                                                 "reference is <key>:<tag>.")
    changes: list[str] = Field(default_factory=list,
                               description="Dockerfile-like changes (CMD, ENV, WORKDIR...).")


class HealthcheckSpec(_Strict):
    test: Union[list[Scalar], str] = Field(
        description="Command: a list (exec form; CMD / CMD-SHELL prefixes accepted) or a "
                    "shell string.")
    interval: Union[str, float] = Field("30s", description="Time between checks (e.g. 2s).")
    timeout: Union[str, float] = Field("30s", description="Time a check may take.")
    retries: int = Field(3, ge=1, description="Failures in a row that make it unhealthy.")
    start_period: Union[str, float] = Field("0s", description="Grace period after start.")


class ContainerSpec(_Strict):
    """One service: a container (or `replicas` of them) and every `rocker run` option."""

    image: str = Field(description="An image key under `images:` or a reference in the store.")
    command: Optional[Union[list[Scalar], str]] = Field(
        None, description="argv list, or a string (run by /bin/sh -c when it has spaces).")
    entrypoint: Optional[Union[list[Scalar], str]] = None
    env: Optional[Union[dict[str, Optional[Scalar]], list[str]]] = Field(
        None, description="Mapping, or a list of K=V.")
    env_file: Optional[Union[str, list[str]]] = Field(
        None, description="KEY=VALUE file(s), relative to the stack file.")
    workdir: Optional[str] = None
    user: Optional[str] = None
    hostname: Optional[str] = None
    tty: bool = False
    interactive: bool = Field(False, validation_alias=AliasChoices("interactive", "stdin_open"))
    labels: Optional[Union[dict[str, Scalar], list[str]]] = None
    restart: Optional[str] = Field(None, description="no | always | unless-stopped | "
                                                     "on-failure[:N]")
    stop_signal: Optional[Union[str, int]] = None
    stop_timeout: Optional[int] = Field(None, ge=0)
    memory: Optional[Union[str, int]] = None
    memory_swap: Optional[Union[str, int]] = None
    memory_reservation: Optional[Union[str, int]] = None
    cpu_shares: Optional[int] = None
    cpus: Optional[Union[float, str]] = None
    cpuset: Optional[Union[str, int]] = Field(
        None, validation_alias=AliasChoices("cpuset", "cpuset_cpus"))
    cpuset_mems: Optional[Union[str, int]] = None
    pids_limit: Optional[int] = None
    healthcheck: Optional[HealthcheckSpec] = None
    restart_on_unhealthy: bool = False
    replicas: int = Field(1, ge=0, le=MAX_REPLICAS,
                          description="How many; names are <key> for 1, <key>-1.. <key>-N for "
                                      "more.")
    depends_on: Union[dict[str, Condition], list[str]] = Field(
        default_factory=dict, description="service -> started | healthy | completed, or a "
                                          "list (started).")

    @field_validator("depends_on")
    @classmethod
    def _deps_as_mapping(cls, v):
        if isinstance(v, list):
            return {s: "started" for s in v}
        return v


class StackSpec(_Strict):
    """A stack file."""

    name: Optional[str] = Field(None, description="The stack's name (default: the folder of "
                                                  "the file).")
    images: dict[str, ImageSpec] = Field(default_factory=dict)
    containers: dict[str, ContainerSpec] = Field(default_factory=dict)


def json_schema() -> dict:
    schema = StackSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://rocker.invalid/specs/stack.schema.json"
    schema["title"] = "rocker stack file"
    # the accepted aliases (validation_alias): editors must not flag them as unknown keys
    props = schema["$defs"]["ContainerSpec"]["properties"]
    for alias, name in (("stdin_open", "interactive"), ("cpuset_cpus", "cpuset")):
        props[alias] = dict(props[name], description=f"Alias of `{name}`.")
        props[alias]["title"] = alias.replace("_", " ").title()
    return schema
