"""Named and anonymous volumes: data that outlives its container (docs/volumes.md).

store.py keeps them under ROOT/volumes (one folder each: volume.json and the data folder
_data), under one lock. Which containers use a volume is the containers' business
(rocker.containers.volumes); mounting one is the launcher's (rocker.launcher.mounts).
"""
