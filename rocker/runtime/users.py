"""User and group lookup in the container's own /etc/passwd and /etc/group (never host NSS)."""

from __future__ import annotations

from rocker.errors import ContainerStartError


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(spec: str, etc: str = "/etc") -> tuple[int, int, list[int], str]:
    """'name', 'uid', 'name:group', 'uid:gid' -> (uid, gid, supplementary gids, home)."""
    user, _, group = (spec or "0").partition(":")
    passwd = _read(f"{etc}/passwd")
    groups = _read(f"{etc}/group")
    uid = gid = None
    home = "/"
    uname = None
    for e in passwd:
        if len(e) >= 7 and (e[0] == user or (user.isdigit() and e[2] == user)):
            uid, gid, home, uname = int(e[2]), int(e[3]), e[5] or "/", e[0]
            break
    if uid is None:
        if not user.isdigit():
            raise ContainerStartError(f"unable to find user {user}: no matching entries in "
                                      "passwd file")
        uid, gid = int(user), 0 if not group else None
        home = "/root" if uid == 0 else "/"
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for e in groups:
                if len(e) >= 3 and e[0] == group:
                    gid = int(e[2])
                    break
            else:
                raise ContainerStartError(f"unable to find group {group}: no matching entries "
                                          "in group file")
    if gid is None:
        gid = 0
    extra: list[int] = []
    if uname:
        for e in groups:
            if len(e) >= 4 and uname in e[3].split(","):
                g = int(e[2])
                if g != gid and g not in extra:
                    extra.append(g)
    return uid, gid, extra, home
