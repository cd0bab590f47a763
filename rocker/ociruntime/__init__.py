"""rocker.ociruntime: `rocker-runtime`, rocker as an OCI runtime with runc's command line.

What containerd (its runc shim, `BinaryName`), CRI-O (`runtime_path`), podman (`--runtime`)
and the OCI validation suite drive. The containers run through rocker's one launcher
(rocker.launcher: the create/start split of `rocker run`); this package owns only what an OCI
runtime adds around it:

    cli.py        the command line (runc's verbs and flags), errors on stderr and in --log
    state.py      the state directory of each container (ROOT/<id>/state.json, the two start
                  FIFOs, a lock) and the truthful status: pid + start time, no monitor
    container.py  the verbs: create, start, run, state, kill, delete, exec, ps, pause,
                  resume, update, list, events
    resources.py  linux.resources -> the cgroup files (v1 and v2), the caller's cgroupsPath
    defaults.py   `spec` (a default config.json) and `features`
"""
