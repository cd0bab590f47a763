"""OCI hooks: running one hook program with the container's state on its stdin.

The one hook runner of rocker: rocker.ociruntime runs the hooks of the runtime namespace
(prestart, createRuntime, poststart, poststop) with it, and the container's init runs those
of the container namespace (createContainer before pivot_root, startContainer just before
the user's command) with it. A hook gets `args` (args[0] is its name, `path` is what runs),
exactly `env`, the state JSON on stdin; it fails when it exits non-zero, is killed, or
outlives its `timeout` (seconds; then it is killed with SIGKILL).
"""

from __future__ import annotations

import os
import signal
import time

from rocker.errors import ContainerStartError


def run_hook(hook: dict, state_json: str, stage: str) -> None:
    """Run one hook and wait for it; ContainerStartError naming the stage when it fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.dup2(r, 0)
            if r != 0:
                os.close(r)
            for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in hook["env"])
            os.execve(hook["path"], hook["args"] or [hook["path"]], env)
        except BaseException:  # noqa: BLE001
            os._exit(127)
        os._exit(127)
    os.close(r)
    try:
        os.write(w, state_json.encode())
    except OSError:
        pass  # a hook that does not read its stdin
    finally:
        os.close(w)
    timeout = hook.get("timeout")
    deadline = time.monotonic() + timeout if timeout else None
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG if deadline else 0)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ContainerStartError(f"{stage} hook {hook['path']}: timed out after "
                                      f"{timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        what = f"exit status {code}" if code > 0 else f"killed by signal {-code}"
        raise ContainerStartError(f"{stage} hook {hook['path']} failed: {what}")


def run_hooks(hooks: list[dict], state_json: str, stage: str) -> None:
    for hook in hooks:
        run_hook(hook, state_json, stage)
