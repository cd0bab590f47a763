"""Spec hashing: a stable sha256 of a normalised desired ContainerConfig.

The config is the dict build_config() returns (already normalised: sizes in bytes, signals by
name, durations in seconds, commands as argv). Canonical JSON (sorted keys, no spaces, UTF-8)
makes the hash independent of the file's format (YAML or TOML), key order and spelling
(`64m` and `67108864` hash alike). It is stored on each container at create time
(record["stack"]["spec_hash"]) and compared by the planner.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping


def canonical_json(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(config: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()
