"""Dockerfile-like changes (`-c`) parsed and applied to image configs."""

import pytest

from rocker.errors import InvalidInput
from rocker.images.changes import apply_changes, parse_change, parse_changes


def test_cmd_exec_and_shell_forms():
    assert parse_change('CMD ["sh"]') == ("CMD", ["sh"])
    assert parse_change("cmd echo hi there") == ("CMD", ["/bin/sh", "-c", "echo hi there"])
    assert parse_change('ENTRYPOINT ["/bin/app", "-x"]') == ("ENTRYPOINT", ["/bin/app", "-x"])
    assert parse_change("ENTRYPOINT /app --flag") == ("ENTRYPOINT", ["/bin/sh", "-c",
                                                                     "/app --flag"])
    assert parse_change("CMD []") == ("CMD", [])


def test_env_label_forms():
    assert parse_change("ENV A=1") == ("ENV", {"A": "1"})
    assert parse_change('ENV A=1 B="two words" C=') == ("ENV", {"A": "1", "B": "two words",
                                                                "C": ""})
    assert parse_change("ENV GREETING hello world") == ("ENV", {"GREETING": "hello world"})
    assert parse_change('LABEL a=b "c d"=e') == ("LABEL", {"a": "b", "c d": "e"})


def test_other_instructions():
    assert parse_change("WORKDIR /srv") == ("WORKDIR", "/srv")
    assert parse_change("USER 1000:1000") == ("USER", "1000:1000")
    assert parse_change("EXPOSE 80 53/udp 8000-8001") == (
        "EXPOSE", ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"])
    assert parse_change('VOLUME ["/a", "/b/"]') == ("VOLUME", ["/a", "/b"])
    assert parse_change("VOLUME /data") == ("VOLUME", ["/data"])
    assert parse_change("STOPSIGNAL SIGINT") == ("STOPSIGNAL", "SIGINT")


@pytest.mark.parametrize("line", [
    "", "   ", "RUN echo", "CMD", 'CMD ["sh"', 'CMD ["sh", 1]', "ENV", "ENV =x", "ENV A=1 B",
    "WORKDIR", "USER a b", "USER :x", "EXPOSE 0", "EXPOSE 80/icmp", "EXPOSE x",
    "VOLUME relative", 'VOLUME {"a": 1}', "STOPSIGNAL A B", "LABEL 'unterminated=x",
])
def test_bad_changes(line):
    with pytest.raises(InvalidInput):
        parse_change(line)


def test_apply_changes_is_pure_and_ordered():
    base = {"Env": ["PATH=/bin", "A=0"], "WorkingDir": "/srv", "Labels": {"x": "1"}}
    cfg = apply_changes(base, ["ENV A=1 B=2", "WORKDIR app", "WORKDIR ../data",
                               'CMD ["sh"]', "ENTRYPOINT echo", "USER nobody",
                               "LABEL y=2", "EXPOSE 80", "VOLUME /v", "STOPSIGNAL 9"])
    assert base == {"Env": ["PATH=/bin", "A=0"], "WorkingDir": "/srv", "Labels": {"x": "1"}}
    assert cfg["Env"] == ["PATH=/bin", "A=1", "B=2"]
    assert cfg["WorkingDir"] == "/srv/data"
    assert cfg["Cmd"] == ["sh"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "echo"]
    assert cfg["User"] == "nobody"
    assert cfg["Labels"] == {"x": "1", "y": "2"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["Volumes"] == {"/v": {}}
    assert cfg["StopSignal"] == "9"


def test_apply_parsed_changes_and_workdir_from_root():
    cfg = apply_changes(None, parse_changes(["WORKDIR x/y"]))
    assert cfg == {"WorkingDir": "/x/y"}
