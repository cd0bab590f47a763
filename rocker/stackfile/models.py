"""The pydantic models of a stack file (YAML or TOML: the same model). Unknown keys are errors.

These models only check the *shape* of the file (types, strictly: no bool for an int, no string
for a bool; unknown keys; replicas >= 0; the dependency conditions). What a value means (a
size, a signal, a restart policy, a user) is checked by rocker.containers.config.build_config(),
the one code path shared with `rocker run`; rocker.stackfile.loader calls it for every
container. Field names follow `rocker run`'s options.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model, field_validator

from rocker import fields

Scalar = Union[str, int, float, bool]
MAX_REPLICAS = 1000
"""The most replicas of one service (each is a container of its own on this host)."""
Condition = Literal["started", "healthy", "completed"]


class _Strict(BaseModel):
    # strict: no lax coercion (`replicas: true`, `tty: "yes"`, `cpu_shares: "512"` are errors);
    # sizes, durations and signals take strings or numbers by their declared unions
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class ImageSpec(_Strict):
    """An image imported from a tar (re-imported when the tar's bytes change), or pulled from a
    registry (`pull: REF`, its digest pinned in the plan: pulled again when the tag moves)."""

    import_: Optional[str] = Field(None, alias="import", description="Path of the tar, "
                                                                     "relative to the stack "
                                                                     "file.")
    pull: Optional[str] = Field(None, description="A registry reference to pull instead "
                                                  "([registry/]name[:tag][@digest]).")
    pull_policy: Literal["missing", "always"] = Field(
        "missing", description="missing: the digest the store has for the tag is kept; "
                               "always: the registry is asked for the tag's digest each time.")
    tag: Optional[str] = Field(None, description="Tag of the reference (default: latest); the "
                                                 "reference is <key>:<tag>.")
    changes: list[str] = Field(default_factory=list,
                               description="Dockerfile-like changes (CMD, ENV, WORKDIR...).")

    @field_validator("pull")
    @classmethod
    def _one_source(cls, v, info):
        if v is not None and info.data.get("import_") is not None:
            raise ValueError("give either import or pull, not both")
        return v


class HealthcheckSpec(_Strict):
    test: Union[list[Scalar], str] = Field(
        description="Command: a list (exec form; CMD / CMD-SHELL prefixes accepted) or a "
                    "shell string.")
    interval: Union[str, float] = Field("30s", description="Time between checks (e.g. 2s).")
    timeout: Union[str, float] = Field("30s", description="Time a check may take.")
    retries: int = Field(3, ge=1, description="Failures in a row that make it unhealthy.")
    start_period: Union[str, float] = Field("0s", description="Grace period after start.")


class NetworkAttachSpec(_Strict):
    """A container on one network."""

    aliases: list[str] = Field(default_factory=list, description="More names on this network.")
    ipv4_address: Optional[str] = Field(None, description="A fixed address in its subnet.")


class PortSpec(_Strict):
    """A published port, long form."""

    target: int = Field(description="The container's port.")
    published: Optional[Union[str, int]] = Field(None, description="The host's port or range "
                                                                   "(default: a free one).")
    host_ip: Optional[str] = Field(None, description="The host address (default: all).")
    protocol: Optional[Literal["tcp", "udp"]] = Field(None, description="tcp (default) or udp.")


class NetworkSpec(_Strict):
    """A network the stack owns (created by apply, removed when the stack no longer has it)."""

    subnet: Optional[str] = Field(None, description="IPv4 CIDR (default: a free 10.87.N.0/24).")
    gateway: Optional[str] = Field(None, description="The bridge's address (default: the "
                                                     "first host).")
    internal: bool = Field(False, description="No route out of the network.")
    labels: Union[dict[str, Scalar], list[str]] = Field(default_factory=dict)
    external: bool = Field(False, description="Made outside the stack (`rocker network "
                                              "create`, or `bridge`): used, never created or "
                                              "removed.")
    name: Optional[str] = Field(None, description="The network's name on the host (default: "
                                                  "<stack>_<key>; the key itself when "
                                                  "external).")


class VolumeSpec(_Strict):
    """A named volume the stack owns (created by apply; removed only when asked: `apply
    --prune-volumes`, `delete --volumes`)."""

    labels: Union[dict[str, Scalar], list[str]] = Field(default_factory=dict)
    external: bool = Field(False, description="Made outside the stack (`rocker volume "
                                              "create`): used, never created or removed.")
    name: Optional[str] = Field(None, description="The volume's name on the host (default: "
                                                  "<stack>_<key>; the key itself when "
                                                  "external).")


class _BindOpts(_Strict):
    propagation: Optional[str] = None
    create_host_path: Optional[bool] = None


class _VolumeOpts(_Strict):
    nocopy: Optional[bool] = None


class _TmpfsOpts(_Strict):
    size: Optional[Union[str, int]] = None
    mode: Optional[Union[str, int]] = None


class MountSpec(_Strict):
    """A mount in the long syntax."""

    type: Literal["volume", "bind", "tmpfs"] = "volume"
    source: Optional[str] = Field(None, description="A key under `volumes:`, a host path "
                                                    "(relative: to the stack file), or none.")
    target: str
    read_only: bool = False
    bind: Optional[_BindOpts] = None
    volume: Optional[_VolumeOpts] = None
    tmpfs: Optional[_TmpfsOpts] = None


_KIND_TYPES: dict[str, tuple] = {  # a field's kind (rocker.fields) -> its type in the file
    "image": (str, {}),
    "command": (Optional[Union[list[Scalar], str]], {}),
    "entrypoint": (Optional[Union[list[Scalar], str]], {}),
    "env": (Optional[Union[dict[str, Optional[Scalar]], list[str]]], {}),
    "env_file": (Optional[Union[str, list[str]]], {}),
    "abspath": (Optional[str], {}),
    "user": (Optional[str], {}),
    "hostname": (Optional[str], {}),
    "restart": (Optional[str], {}),
    "bool": (bool, {}),
    "labels": (Optional[Union[dict[str, Scalar], list[str]]], {}),
    "signal": (Optional[Union[str, int]], {}),
    "timeout": (Optional[int], {"ge": 0}),
    "size": (Optional[Union[str, int]], {}),
    "swap": (Optional[Union[str, int]], {}),
    "shares": (Optional[int], {}),
    "pids": (Optional[int], {}),
    "cpus": (Optional[Union[float, str]], {}),
    "cpuset": (Optional[Union[str, int]], {}),
    "healthcheck": (Optional[HealthcheckSpec], {}),
    "netmode": (Optional[str], {}),
    "networks": (Optional[Union[list[str], dict[str, Optional[NetworkAttachSpec]]]], {}),
    "ports": (Optional[list[Union[str, int, PortSpec]]], {}),
    "iplist": (Optional[Union[list[str], str]], {}),
    "domains": (Optional[Union[list[str], str]], {}),
    "dnsopts": (Optional[Union[list[str], str]], {}),
    "hosts": (Optional[Union[list[str], dict[str, str]]], {}),
    "mounts": (Optional[list[Union[str, MountSpec]]], {}),
    "tmpfs": (Optional[Union[list[str], str]], {}),
    "volumes_from": (Optional[list[str]], {}),
}


def _field(row: fields.Field):
    annotation, extra = _KIND_TYPES[row.kind]
    default = ... if row.kind == "image" else (row.default if row.kind == "bool" else None)
    if row.aliases:
        extra = dict(extra, validation_alias=AliasChoices(row.stack, *row.aliases))
    about = row.help or (row.options[0].help if row.options else "")
    return annotation, Field(default, description=about or None, **extra)


_ContainerFields = create_model(
    "_ContainerFields", __base__=_Strict,
    **{row.stack: _field(row) for row in fields.ROWS if row.stack})


class ContainerSpec(_ContainerFields):
    """One service: a container (or `replicas` of them) and every `rocker run` option (the
    fields of rocker.fields that have a stack key, by that key)."""

    replicas: int = Field(1, ge=0, le=MAX_REPLICAS,
                          description="How many; their names are <stack>-<key>-1 .. "
                                      "<stack>-<key>-N.")
    container_name: Optional[str] = Field(
        None, description="The container's name on the host instead of <stack>-<key>-1 "
                          "(Compose's container_name; one replica at most).")
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
    networks: dict[str, Optional[NetworkSpec]] = Field(
        default_factory=dict, description="Networks of the stack (besides its default one, "
                                          "<stack>_default).")
    volumes: dict[str, Optional[VolumeSpec]] = Field(
        default_factory=dict, description="Named volumes of the stack (<stack>_<key>).")


def json_schema() -> dict:
    schema = StackSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://rocker.invalid/specs/stack.schema.json"
    schema["title"] = "rocker stack file"
    # the accepted aliases (validation_alias): editors must not flag them as unknown keys
    props = schema["$defs"]["ContainerSpec"]["properties"]
    for alias, name in ((a, row.stack) for row in fields.ROWS for a in row.aliases):
        props[alias] = dict(props[name], description=f"Alias of `{name}`.")
        props[alias]["title"] = alias.replace("_", " ").title()
    return schema
