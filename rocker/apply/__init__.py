"""rocker.apply: carries out a Plan through the drivers, in the plan's order, with progress.

Owns the effects of stacks and nothing else: the decisions were made by rocker.plan.

    PullImage     rocker.images.registry.pull of the digest the plan pinned, then the tag
    ImportImage   ImageStore.import_tar (which records the source identity on the image: the
                  sha256 of the bytes it read + canonical changes); the digest and image id
                  also go to the stack record (ROOT/stacks/<name>/stack.json, informative)
    Create        lifecycle.create(..., stack={name, service, spec_hash, depends_on}) + start
    Replace       (dependencies waited for first) lifecycle.stop (its stop signal and
                  timeout) + remove + create + start
    Update        lifecycle.update(limits=<all desired>, restart, labels, replace_limits=True),
                  then the new stamp goes on the record; record-only: just the stamp
    Adopt         the record gets the stack's ownership stamp
    Start         lifecycle.start
    Restart       lifecycle.stop + start (a container running without its monitor)
    Remove        lifecycle.stop + remove
    CreateNetwork runtime.networks.create(..., stack=<name>) (the bridge is made on first use)
    ReplaceNetwork  the stack's members on it stopped and removed (their Replace actions make
                  them again), the network removed and created again
    UpdateNetwork the record: owner and labels
    RemoveNetwork runtime.networks.remove (refused while a container outside the stack uses it)
    CreateVolume  a volume owned by the stack (rocker.volumes.store)
    UpdateVolume  the record: owner and labels
    RemoveVolume  rocker.containers.volumes.remove (refused while any container uses it)

A failing action raises with exit code 1 (apply's codes are 0 / 1), naming the action and the
cause. Before a container is created, replaced, started or restarted, the members of the services
it depends on with `healthy` or `completed` are waited for (`timeout` seconds each).
`wait=True` waits at the end for every member to be up (healthy if it has a healthcheck;
exited 0 for one-shot jobs).
The first failing action stops the run: what succeeded stays, the error names the action, and
the next apply starts again from the real state. `stack_lock()` serialises applies of a stack.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Iterator

from rocker.errors import Conflict, RockerError
from rocker.paths import Paths
from rocker.states import EXITED, RUNNING, UP
from rocker.plan.model import (
    Action,
    Adopt,
    Create,
    CreateNetwork,
    CreateVolume,
    DesiredContainer,
    DesiredState,
    ImportImage,
    PullImage,
    Plan,
    Remove,
    RemoveNetwork,
    RemoveVolume,
    Replace,
    ReplaceNetwork,
    Restart,
    Start,
    Update,
    UpdateNetwork,
    UpdateVolume,
)

DEFAULT_TIMEOUT = 120.0
Progress = Callable[[str], None]


@contextlib.contextmanager
def stack_lock(paths: Paths, stack: str, timeout: float = 300.0) -> Iterator[None]:
    """Hold the stack's lock (ROOT/stacks/<name>/lock) for the with-block."""
    from rocker.observe import stack_dir
    from rocker.state.store import flocked, makedirs
    d = makedirs(stack_dir(paths, stack))
    with flocked(os.path.join(d, "lock"), timeout=timeout):
        yield


def record_image(paths: Paths, stack: str, ref: str, digest: str, image_id: str,
                 source: str) -> None:
    from rocker.observe import STACK_RECORD, stack_dir
    from rocker.state.store import makedirs, update_json

    def fn(old):
        rec = old if isinstance(old, dict) else {}
        rec["name"] = stack
        rec.setdefault("images", {})[ref] = {"digest": digest, "id": image_id,
                                             "source": source, "imported_at": time.time()}
        return rec
    makedirs(stack_dir(paths, stack))
    update_json(os.path.join(stack_dir(paths, stack), STACK_RECORD), fn, default={})


def _stamp(c: DesiredContainer, stack: str) -> dict:
    """The ownership record on a member: its stack, service and replica name (both resolve on
    its networks), the spec hash it was made from, its dependencies."""
    return {"name": stack, "service": c.service, "replica": c.replica,
            "spec_hash": c.spec_hash, "depends_on": {s: cond for s, cond in c.depends_on}}


def _pull_image(paths: Paths, stack: str, a: "PullImage", progress: Progress) -> str:
    """A PullImage: the pinned digest, then the stack's reference onto it."""
    from rocker.images.refs import parse_reference
    from rocker.images.registry import pull
    from rocker.images.store import ImageStore
    store = ImageStore(paths)
    r = parse_reference(a.image.pull)
    pinned = f"{r.name}@{a.image.digest}"
    p = pull(store, pinned, say=None)
    store.tag(p.image.id, a.image.ref)
    record_image(paths, stack, a.image.ref, a.image.digest, p.image.id, a.image.pull)
    return p.image.short_id


class Executor:
    def __init__(self, paths: Paths, desired: DesiredState, progress: Progress = print,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.paths = paths
        self.desired = desired
        self.progress = progress
        self.timeout = timeout
        self.satisfied: set[tuple[str, str]] = set()

    # ----------------------------------------------------------------------- the walk

    def run(self, plan: Plan, wait: bool = False) -> int:
        """Execute every action; returns how many ran. Raises on the first failure."""
        done = 0
        total = len(plan.actions)
        for a in plan.actions:
            t0 = time.monotonic()
            what = a.target if a.target.startswith(("network ", "volume ")) else a.name
            self.progress(f"{a.kind} {what} ...")
            try:
                detail = self.execute(a)
            except RockerError as e:
                self.progress(f"{a.kind} {what} failed: {e}")
                err = type(e)(f"apply stopped at {a.kind} {what}: {e} ({done} of {total} "
                              "actions done and kept; apply again to continue)")
                err.exit_code = 1   # apply's exit codes are 0 / 1, whatever the cause
                raise err from e
            done += 1
            self.progress(f"{a.kind} {what} done{(': ' + detail) if detail else ''} "
                          f"({time.monotonic() - t0:.1f}s)")
        if wait:
            self.progress("waiting for every member to be up ...")
            for c in self.desired.containers:
                self.wait_ready(c)
        return done

    def _pull(self, a: "PullImage") -> str:
        return _pull_image(self.paths, self.desired.stack, a, self.progress)

    def execute(self, a: Action) -> str:
        from rocker.runtime import lifecycle
        if isinstance(a, PullImage):
            return self._pull(a)
        if isinstance(a, ImportImage):
            from rocker.images.store import ImageStore
            img = ImageStore(self.paths).import_tar(a.image.source, a.image.ref,
                                                    changes=list(a.image.changes) or None)
            # the digest of the bytes actually imported (the tar may have changed since the
            # file was loaded): import_tar recorded it on the image
            digest = (img.source or {}).get("digest") or a.image.digest
            record_image(self.paths, self.desired.stack, a.image.ref, digest, img.id,
                         a.image.source)
            changed = "" if digest == a.image.digest else \
                f" (the tar changed while applying: imported {digest[:19]})"
            return img.short_id + changed
        if isinstance(a, Remove):
            self._stop_remove(a.id, volumes=self.remove_volumes)
            return ""
        if isinstance(a, (CreateNetwork, ReplaceNetwork, UpdateNetwork, RemoveNetwork)):
            return self._network(a)
        if isinstance(a, (CreateVolume, UpdateVolume, RemoveVolume)):
            return self._volume(a)
        if isinstance(a, Create):
            return self._create(a.container)
        if isinstance(a, Replace):
            # dependencies first: if one fails, the old container is still there
            self.wait_dependencies(a.container)
            self._stop_remove(a.id)
            return self._create(a.container)
        if isinstance(a, Update):
            return self._update(a)
        if isinstance(a, Adopt):
            from rocker.containers import records
            stamp = _stamp(a.container, self.desired.stack)

            def fn(rec):
                rec["stack"] = stamp
            records.update(self.paths, a.id, fn)
            return ""
        if isinstance(a, Restart):
            self.wait_dependencies(a.container)
            lifecycle.stop(self.paths, a.id)
            rec = lifecycle.start(self.paths, a.id)
            return f"pid {rec['state'].get('pid')}"
        if isinstance(a, Start):
            self.wait_dependencies(a.container)
            rec = lifecycle.start(self.paths, a.id)
            return f"pid {rec['state'].get('pid')}"
        raise Conflict(f"unknown action {a.kind}")  # pragma: no cover

    # ----------------------------------------------------------------------- actions

    def _create(self, c: DesiredContainer) -> str:
        from rocker.containers.config import ContainerConfig
        from rocker.runtime import lifecycle
        self.wait_dependencies(c)
        cfg = ContainerConfig.from_dict(dict(c.config))
        rec = lifecycle.create(self.paths, cfg, name=c.name,
                               stack=_stamp(c, self.desired.stack))
        rec = lifecycle.start(self.paths, rec["id"])
        return f"{rec['id'][:12]}, pid {rec['state'].get('pid')}"

    remove_volumes = False

    def _stop_remove(self, cid: str, volumes: bool = False) -> None:
        from rocker.errors import NotFound
        from rocker.runtime import lifecycle
        try:
            lifecycle.stop(self.paths, cid)
        except (FileNotFoundError, NotFound):
            return  # already gone (a replaced network took it first)
        lifecycle.remove(self.paths, cid, force=True, volumes=volumes)

    def _network(self, a: Action) -> str:
        from rocker.runtime import networks
        if isinstance(a, RemoveNetwork):
            if a.members:
                networks.check_replaceable(self.paths, a.name, a.members)
                for cid in a.members:
                    self._stop_remove(cid)
            networks.remove(self.paths, a.id)
            return ""
        n = a.network
        if isinstance(a, UpdateNetwork):
            networks.set_owner(self.paths, n.name, self.desired.stack, dict(n.labels))
            return ""
        if isinstance(a, ReplaceNetwork):
            # the plan saw leases; a container created on it and never started has none
            networks.check_replaceable(self.paths, n.name, a.members)
            for cid in a.members:
                self._stop_remove(cid)
            networks.remove(self.paths, a.id)
        net = networks.create(self.paths, n.name, n.subnet, n.gateway, n.internal,
                              dict(n.labels), stack=self.desired.stack)
        return f"{net['id'][:12]}, {net['subnet']}"

    def _volume(self, a: Action) -> str:
        from rocker.containers import volumes
        from rocker.volumes import store
        if isinstance(a, RemoveVolume):
            volumes.remove(self.paths, a.name)
            return "removed with its data"
        v = a.volume
        with store.locked(self.paths):
            if isinstance(a, CreateVolume):
                store.create_locked(self.paths, v.name, dict(v.labels), stack=self.desired.stack)
            store.set_owner_locked(self.paths, v.name, self.desired.stack, dict(v.labels))
        return ""

    def _update(self, a: Update) -> str:
        from rocker.containers import records
        from rocker.runtime import lifecycle
        cfg = a.container.config
        stamp = _stamp(a.container, self.desired.stack)

        def fn(rec):
            rec["stack"] = stamp
        if a.record_only:   # only the ownership record changes (depends_on)
            records.update(self.paths, a.id, fn)
            return "recorded, the container was not touched"
        _rec, warnings = lifecycle.update(
            self.paths, a.id, limits=dict(cfg.get("limits") or {}), restart=cfg.get("restart"),
            labels=dict(cfg.get("labels") or {}), replace_limits=True)
        records.update(self.paths, a.id, fn)
        what = "applied live, the process kept running" if a.live else "recorded"
        return "; ".join([what] + list(warnings))

    # ----------------------------------------------------------------------- waiting

    def _members(self, service: str) -> list[DesiredContainer]:
        return [c for c in self.desired.containers if c.service == service]

    def wait_dependencies(self, c: DesiredContainer) -> None:
        for svc, cond in c.depends_on:
            if cond == "started" or (svc, cond) in self.satisfied:
                continue
            for m in self._members(svc):
                self._wait_for(m, cond)
            self.satisfied.add((svc, cond))

    def wait_ready(self, c: DesiredContainer) -> None:
        from rocker.plan.planner import is_completed
        if c.config.get("healthcheck"):
            self._wait_for(c, "healthy")
        elif str(c.config.get("restart") or "no").partition(":")[0] in ("no", "on-failure"):
            st = self._state(c)
            if st.get("status") == EXITED and is_completed(c.config, st.get("exit_code")):
                return
        self._wait_for(c, "started")

    def _state(self, c: DesiredContainer) -> dict:
        from rocker.containers import records
        from rocker.containers import state as cstate
        cid = records.resolve(self.paths, c.name)
        return cstate.observed(records.load(self.paths, cid)["state"])

    def _wait_for(self, c: DesiredContainer, cond: str) -> None:
        """Until `c` is healthy / completed (exited 0) / running; Conflict on failure."""
        deadline = time.monotonic() + self.timeout
        t0 = time.monotonic()
        told = False
        if cond == "healthy" and not c.config.get("healthcheck"):
            cond = "started"  # nothing to wait for: it has no healthcheck
        while True:
            st = self._state(c)
            status = st.get("status")
            health = (st.get("health") or {}).get("status")
            code = st.get("exit_code")
            if cond == "started" and status in UP:
                return
            if cond == "healthy" and status == RUNNING and health == "healthy":
                break
            if cond == "completed" and status == EXITED and not st.get("monitor_alive"):
                if code == 0:
                    break
                raise Conflict(f"{c.name} did not complete: it exited with code {code}")
            if cond in ("healthy", "started") and status == EXITED and \
                    not st.get("monitor_alive"):
                if cond == "started" and code == 0:
                    return
                raise Conflict(f"{c.name} exited with code {code} while waiting for it to be "
                               f"{cond if cond != 'started' else 'running'}")
            if time.monotonic() > deadline:
                now = health or status
                raise Conflict(f"timed out after {self.timeout:g}s waiting for {c.name} to be "
                               f"{cond} (it is {now})")
            if not told:
                self.progress(f"waiting for {c.name} to be {cond} ...")
                told = True
            time.sleep(0.1)
        self.progress(f"{c.name} is {cond} ({time.monotonic() - t0:.1f}s)")


def execute(paths: Paths, plan: Plan, desired: DesiredState, *, wait: bool = False,
            timeout: float = DEFAULT_TIMEOUT, progress: Progress = print,
            volumes: bool = False) -> int:
    """Carry out `plan`; `volumes` (`delete --volumes`): containers removed by a Remove take
    their anonymous volumes with them."""
    ex = Executor(paths, desired, progress, timeout)
    ex.remove_volumes = volumes
    return ex.run(plan, wait=wait)
