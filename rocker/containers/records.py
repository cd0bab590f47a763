"""Container records on disk: ROOT/containers/<id>/container.json, plus the names index.

A record is a JSON object with at least: id, name, image (as the user typed it), image_id,
created, config (the ContainerConfig as a dict), state (see rocker.containers.state) and labels.
This module reads and writes records through rocker.state.store; it never touches the kernel.
"""

from __future__ import annotations

import os

from rocker.errors import CorruptRecord
from rocker.paths import Paths
from rocker.state.store import read_json

RECORD = "container.json"


def record_path(paths: Paths, cid: str) -> str:
    return os.path.join(paths.container_dir(cid), RECORD)


def list_ids(paths: Paths) -> list[str]:
    try:
        names = os.listdir(paths.containers)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith("."))


def containers_using_image(paths: Paths, image_id: str) -> list[str]:
    """Names (or ids) of containers whose record says they were created from `image_id`."""
    users = []
    for cid in list_ids(paths):
        try:
            rec = read_json(record_path(paths, cid))
        except (FileNotFoundError, CorruptRecord):
            continue
        if rec.get("image_id") == image_id:
            users.append(rec.get("name") or cid[:12])
    return users
