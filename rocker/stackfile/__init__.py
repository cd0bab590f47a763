"""rocker.stackfile: stack files (YAML or TOML) -> the desired state of a stack.

    models    pydantic models of the file; `extra="forbid"` everywhere; JSON Schema
    loader    parsing with line numbers, one-line SpecErrors, build_config() per container,
              replica names, digests of image tars -> rocker.plan.DesiredState
    hashing   spec_hash(config): sha256 of the canonical JSON of a ContainerConfig dict
    dump      records of running containers -> a stack file (`rocker spec dump`)

Imports pydantic and PyYAML lazily (inside the stack commands only); touches no kernel.
"""

from rocker.stackfile.hashing import canonical_json, spec_hash


def load_desired(path: str, display: str | None = None):
    from rocker.stackfile.loader import load_desired as _load
    return _load(path, display)


__all__ = ["canonical_json", "load_desired", "spec_hash"]
