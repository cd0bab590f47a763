"""User and group lookup in the container's own /etc/passwd and /etc/group (never host NSS).

Numeric ids are ASCII digits within 0..MAX_ID (as runc: "uids and gids must be in range"),
whether they come from `--user`, the image's User or the container's own files; a malformed
passwd or group line is skipped, as the C library does.
"""

from __future__ import annotations

from rocker.errors import ContainerStartError

MAX_ID = 2 ** 31 - 1  # rocker.containers.config.MAX_ID (not imported: init stays small)


def parse_db(text: str) -> list[list[str]]:
    """The entries of a passwd or group file."""
    return [line.split(":") for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_db(f.read())
    except OSError:
        return []


def _id(text: str) -> int | None:
    """A uid or gid from text: ASCII digits within 0..MAX_ID, else None."""
    if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 10 \
            and int(text) <= MAX_ID:
        return int(text)
    return None


def _check_numeric(text: str, spec: str) -> None:
    if _id(text) is None:
        raise ContainerStartError(f"invalid user {spec!r}: uids and gids must be in range "
                                  f"0-{MAX_ID}")


def resolve_user(spec: str, etc: str = "/etc",
                 files: dict[str, str] | None = None) -> tuple[int, int, list[int], str]:
    """'name', 'uid', 'name:group', 'uid:gid' -> (uid, gid, supplementary gids, home).
    `files` gives the text of "passwd" and "group" (read from the image's layers) instead."""
    spec = spec or "0"
    user, _, group = spec.partition(":")
    numeric_user = user.isascii() and user.isdigit()
    numeric_group = group.isascii() and group.isdigit()
    for part, numeric in ((user, numeric_user), (group, numeric_group)):
        if numeric:
            _check_numeric(part, spec)
    if files is not None:
        pw, gr = parse_db(files.get("passwd", "")), parse_db(files.get("group", ""))
    else:
        pw, gr = _read(f"{etc}/passwd"), _read(f"{etc}/group")
    passwd = [e for e in pw if len(e) >= 7 and _id(e[2]) is not None and _id(e[3]) is not None]
    groups = [e for e in gr if len(e) >= 3 and _id(e[2]) is not None]
    uid = gid = None
    home = "/"
    uname = None
    for e in passwd:
        if e[0] == user or (numeric_user and _id(e[2]) == int(user)):
            uid, gid, home, uname = int(e[2]), int(e[3]), e[5] or "/", e[0]
            break
    if uid is None:
        if not numeric_user:
            raise ContainerStartError(f"unable to find user {user}: no matching entries in "
                                      "passwd file")
        uid, gid = int(user), 0 if not group else None
        home = "/root" if uid == 0 else "/"
    if group:
        if numeric_group:
            gid = int(group)
        else:
            for e in groups:
                if e[0] == group:
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
