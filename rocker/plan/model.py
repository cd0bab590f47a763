"""The data of planning: desired state, observed state, actions and the plan, as frozen values.

Nothing here reads the disk or the kernel. rocker.stackfile builds a DesiredState from a stack file,
rocker.observe builds an ObservedState from the host, rocker.plan.planner compares the two and
returns a Plan, rocker.apply executes it. Configs are plain dicts (ContainerConfig.to_dict()),
so this package needs neither pydantic nor the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# ---------------------------------------------------------------------------------------------
# Desired


@dataclass(frozen=True)
class DesiredImage:
    """An image the stack imports from a tar: `ref` is the normalised reference (name:tag)."""

    name: str                      # the key under `images:`
    ref: str                       # e.g. "busybox:latest"
    source: str                    # absolute path of the tar
    digest: str                    # sha256 of the tar's bytes
    changes: tuple[str, ...] = ()
    changes_key: str = "[]"        # the changes in canonical form (rocker.images.store)
    pull: str = ""                 # pulled, not imported: the reference (digest: `digest`)

    @property
    def identity(self) -> tuple[str, str]:
        """The source identity: (tar digest, canonical changes), as recorded on the image."""
        return (self.digest, self.changes_key)


@dataclass(frozen=True)
class DesiredContainer:
    name: str                      # the container name: <stack>-<service>-<index>
    service: str                   # the key under `containers:`
    config: Mapping[str, Any]      # ContainerConfig.to_dict(), built by build_config()
    spec_hash: str                 # sha256 of the canonical JSON of `config`
    image_ref: str                 # normalised reference the config's image resolves by
    depends_on: tuple[tuple[str, str], ...] = ()   # ((service, started|healthy|completed),)
    index: int = 1                 # the replica's number (its name ends in -<index>)

    @property
    def replica(self) -> str:
        """`web-2`: the name the member also has on its networks, beside the service's."""
        return f"{self.service}-{self.index}"


@dataclass(frozen=True)
class DesiredNetwork:
    """A network of the stack: `name` is the host's name (`<stack>_<key>`), unless external."""

    name: str
    key: str                       # the key under `networks:` (`default` for <stack>_default)
    subnet: str | None = None      # None: any free subnet
    gateway: str | None = None     # None: the subnet's first address
    internal: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    external: bool = False         # made outside the stack: used, never created or removed


@dataclass(frozen=True)
class DesiredVolume:
    """A named volume of the stack: `name` is the host's name (`<stack>_<key>`), unless
    external."""

    name: str
    key: str                       # the key under `volumes:`
    labels: Mapping[str, str] = field(default_factory=dict)
    external: bool = False         # made outside the stack: used, never created or removed


@dataclass(frozen=True)
class DesiredState:
    stack: str
    images: tuple[DesiredImage, ...] = ()
    containers: tuple[DesiredContainer, ...] = ()
    networks: tuple[DesiredNetwork, ...] = ()
    volumes: tuple[DesiredVolume, ...] = ()
    source: str = ""               # the stack file (for error messages)
    lines: Mapping[str, int] = field(default_factory=dict)   # field path -> YAML line

    def container(self, name: str) -> DesiredContainer | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None

    def network(self, name: str) -> DesiredNetwork | None:
        for n in self.networks:
            if n.name == name:
                return n
        return None


# ---------------------------------------------------------------------------------------------
# Observed


@dataclass(frozen=True)
class ObservedImage:
    ref: str
    id: str                        # what the reference points at now
    source_digest: str | None = None   # tar digest recorded on that image (None: unknown)
    source_changes: str | None = None  # canonical changes recorded on it (a changes_key)

    @property
    def identity(self) -> tuple[str, str] | None:
        """The image's source identity (tar digest, canonical changes), None when unknown."""
        if self.source_digest is None or self.source_changes is None:
            return None
        return (self.source_digest, self.source_changes)


@dataclass(frozen=True)
class ObservedNetwork:
    name: str
    id: str
    subnet: str
    gateway: str
    internal: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    stack: str | None = None       # owner stack, None when made by `rocker network create`
    bridge: str = ""
    bridge_present: bool = False   # the Linux bridge exists (it is made on first use)
    users: tuple[str, ...] = ()    # names (or ids) of the containers holding a lease on it


@dataclass(frozen=True)
class ObservedVolume:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    stack: str | None = None       # owner stack, None when made by `volume create` or `run -v`


@dataclass(frozen=True)
class ObservedAttachment:
    """A running container's link to one network, as the kernel shows it."""

    network: str
    ifname: str                    # eth0, eth1, ...
    ip: str                        # the leased address
    veth: str                      # the host end (rk...)
    veth_present: bool = True
    bridge: str = ""               # the bridge the host end should be on
    veth_master: str | None = None  # the bridge it is on (None: none)
    address_present: bool | None = None  # the address is on an interface inside (None: unknown)


@dataclass(frozen=True)
class ObservedContainer:
    name: str
    id: str
    stack: str | None = None       # owner stack, None when made by `rocker run`
    service: str | None = None
    spec_hash: str | None = None   # recorded at create time (and after in-place updates)
    config: Mapping[str, Any] = field(default_factory=dict)   # recorded config
    status: str = "created"        # running | paused | exited | created | restarting
    alive: bool = False
    exit_code: int | None = None
    oom_killed: bool = False
    evidence: str | None = None    # e.g. "process 1234 is gone"
    health: str | None = None      # starting | healthy | unhealthy
    limits_in_force: Mapping[str, Any] | None = None   # read from the cgroup; None if not running
    image_id: str | None = None    # the image the container was created from
    depends_on: tuple[tuple[str, str], ...] = ()
    image_identity: tuple[str, str] | None = None  # that image's source identity, if known
    unsupervised: bool = False     # running, but its monitor is gone (no logs, restarts, health)
    attachments: tuple[ObservedAttachment, ...] = ()   # running bridge-mode containers only
    netns: int | None = None       # the inode of a running container's network namespace


@dataclass(frozen=True)
class ObservedState:
    images: Mapping[str, ObservedImage] = field(default_factory=dict)      # by normalised ref
    containers: Mapping[str, ObservedContainer] = field(default_factory=dict)  # by name
    # records marked "removing" whose removal was cut short (a crash): owned by the stack or
    # holding one of its names; the plan finishes them first
    interrupted: tuple[ObservedContainer, ...] = ()
    networks: Mapping[str, ObservedNetwork] = field(default_factory=dict)   # by name
    volumes: Mapping[str, ObservedVolume] = field(default_factory=dict)     # by name
    cgroup_version: int = 1
    page_size: int = 4096


# ---------------------------------------------------------------------------------------------
# Actions


@dataclass(frozen=True)
class Change:
    """One field: `path` like "command", "memory", "env.GREETING", "healthcheck.interval"."""

    path: str
    old: Any
    new: Any
    forces_replacement: bool = False
    live: bool = False             # `old` was read from the kernel (drift), not from the record


@dataclass(frozen=True)
class Action:
    kind = "noop"
    name: str = ""
    reason: str = ""

    @property
    def target(self) -> str:
        return f"container {self.name}"


@dataclass(frozen=True)
class ImportImage(Action):
    kind = "import"
    image: DesiredImage | None = None
    old_id: str | None = None      # None: a new image; else the id the ref points at now
    old_digest: str | None = None

    @property
    def target(self) -> str:
        return f"image {self.name}"


@dataclass(frozen=True)
class PullImage(ImportImage):
    """An image pulled from a registry at the digest the plan pinned (`image.digest`)."""

    kind = "pull"


@dataclass(frozen=True)
class Create(Action):
    kind = "create"
    container: DesiredContainer | None = None


@dataclass(frozen=True)
class Replace(Action):
    kind = "replace"
    container: DesiredContainer | None = None
    id: str = ""
    forced_by: tuple[str, ...] = ()          # top-level fields, e.g. ("command", "env")
    changes: tuple[Change, ...] = ()
    running: bool = False                    # the old one is running (stop before remove)


@dataclass(frozen=True)
class Update(Action):
    kind = "update"
    container: DesiredContainer | None = None
    id: str = ""
    changes: tuple[Change, ...] = ()
    live: bool = False                       # the container runs: limits are written live
    record_only: bool = False                # only the ownership record changes (depends_on)


@dataclass(frozen=True)
class Adopt(Action):
    """Take over an identical container that the stack does not own (with --adopt)."""

    kind = "adopt"
    container: DesiredContainer | None = None
    id: str = ""
    previous_owner: str | None = None


@dataclass(frozen=True)
class Start(Action):
    kind = "start"
    container: DesiredContainer | None = None
    id: str = ""
    evidence: str = ""
    exit_code: int | None = None
    oom_killed: bool = False


@dataclass(frozen=True)
class Restart(Start):
    """Stop and start a running container: it runs unsupervised (its monitor is gone), its
    links drifted, or the namespace it joins (`container:NAME`) is made anew."""

    kind = "restart"


@dataclass(frozen=True)
class Remove(Action):
    kind = "remove"
    id: str = ""
    service: str | None = None
    running: bool = False
    interrupted: bool = False      # finishing a removal that a crash cut short

    @property
    def target(self) -> str:
        # an interrupted removal may share its name with the member that replaces it
        return f"container {self.name} ({self.id[:12]})" if self.interrupted else \
            f"container {self.name}"


@dataclass(frozen=True)
class CreateNetwork(Action):
    kind = "create"
    network: DesiredNetwork | None = None

    @property
    def target(self) -> str:
        return f"network {self.name}"


@dataclass(frozen=True)
class ReplaceNetwork(Action):
    """Remove a network and make it again (its subnet, gateway or internal flag changed); the
    stack's containers on it are replaced with it (their Replace actions name the network)."""

    kind = "replace"
    network: DesiredNetwork | None = None
    id: str = ""
    changes: tuple[Change, ...] = ()
    members: tuple[str, ...] = ()  # ids of the stack's containers on it (removed first)

    @property
    def target(self) -> str:
        return f"network {self.name}"


@dataclass(frozen=True)
class UpdateNetwork(Action):
    """Only the record changes: labels, or the owner (adopted with --adopt)."""

    kind = "update"
    network: DesiredNetwork | None = None
    id: str = ""
    changes: tuple[Change, ...] = ()

    @property
    def target(self) -> str:
        return f"network {self.name}"


@dataclass(frozen=True)
class RemoveNetwork(Action):
    """Remove a network the stack no longer has: last, or first when a new network of the
    file takes over its subnet (then its members, which the plan replaces onto other
    networks, are removed with it first)."""

    kind = "remove"
    id: str = ""
    members: tuple[str, ...] = ()  # ids of the stack's containers on it (removed first)

    @property
    def target(self) -> str:
        return f"network {self.name}"


NETWORK_ACTIONS = (CreateNetwork, ReplaceNetwork, UpdateNetwork, RemoveNetwork)


@dataclass(frozen=True)
class CreateVolume(Action):
    kind = "create"
    volume: DesiredVolume | None = None

    @property
    def target(self) -> str:
        return f"volume {self.name}"


@dataclass(frozen=True)
class UpdateVolume(Action):
    """Only the record changes: labels, or the owner (adopted with --adopt)."""

    kind = "update"
    volume: DesiredVolume | None = None
    changes: tuple[Change, ...] = ()

    @property
    def target(self) -> str:
        return f"volume {self.name}"


@dataclass(frozen=True)
class RemoveVolume(Action):
    """Only with `apply --prune-volumes` or `delete --volumes`: its data goes with it."""

    kind = "remove"

    @property
    def target(self) -> str:
        return f"volume {self.name}"


VOLUME_ACTIONS = (CreateVolume, UpdateVolume, RemoveVolume)

# How each kind counts in the summary, strongest first for an object with several actions.
CATEGORY = {"create": "add", "replace": "replace", "remove": "remove", "update": "change",
            "adopt": "change", "start": "change", "restart": "change"}
_STRENGTH = ["add", "replace", "remove", "change"]


@dataclass(frozen=True)
class Plan:
    stack: str
    actions: tuple[Action, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = ()    # what the plan leaves alone on purpose (volumes with data)

    def is_empty(self) -> bool:
        return not self.actions

    def categories(self) -> dict[str, str]:
        """target -> add | change | replace | remove (one per object)."""
        out: dict[str, str] = {}
        for a in self.actions:
            if isinstance(a, ImportImage):
                cat = "add" if a.old_id is None else "change"
            else:
                cat = CATEGORY[a.kind]
            prev = out.get(a.target)
            if prev is None or _STRENGTH.index(cat) < _STRENGTH.index(prev):
                out[a.target] = cat
        return out

    def summary(self) -> tuple[int, int, int, int]:
        """(to add, to change, to replace, to remove), counting objects, not actions."""
        cats = list(self.categories().values())
        return (cats.count("add"), cats.count("change"), cats.count("replace"),
                cats.count("remove"))
