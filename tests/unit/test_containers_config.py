"""The one container config builder: validation and image defaults (no root)."""

import pytest

from rocker.containers.config import (ContainerConfig, build_config, normalise_command,
                                      parse_env_list, parse_restart, parse_signal,
                                      read_env_file, resolve_process)
from rocker.errors import InvalidInput


def test_lone_argument_with_whitespace_runs_under_sh():
    assert normalise_command(["ls -l"]) == ["/bin/sh", "-c", "ls -l"]
    assert normalise_command("ls -l") == ["/bin/sh", "-c", "ls -l"]


def test_several_arguments_are_an_exact_argv():
    assert normalise_command(["sh", "-c", "echo a  b"]) == ["sh", "-c", "echo a  b"]
    assert normalise_command(["echo"]) == ["echo"]
    assert normalise_command([]) is None


@pytest.mark.parametrize("value,expected", [("SIGTERM", 15), ("term", 15), ("9", 9),
                                            ("KILL", 9), ("SIGUSR1", 10)])
def test_signals(value, expected):
    assert parse_signal(value) == expected


@pytest.mark.parametrize("value", ["SIGNOPE", "0", "99", ""])
def test_bad_signals(value):
    with pytest.raises(InvalidInput):
        parse_signal(value)


@pytest.mark.parametrize("value", ["no", "always", "unless-stopped", "on-failure",
                                   "on-failure:3"])
def test_restart_policies(value):
    assert parse_restart(value) == value


@pytest.mark.parametrize("value", ["sometimes", "always:2", "on-failure:x", "on-failure:-1"])
def test_bad_restart_policies(value):
    with pytest.raises(InvalidInput):
        parse_restart(value)


def test_env_list_passes_host_values_and_skips_missing():
    assert parse_env_list(["A=1", "B", "C"], {"B": "host"}) == {"A": "1", "B": "host"}
    with pytest.raises(InvalidInput):
        parse_env_list(["=x"], {})


def test_env_file(tmp_path):
    f = tmp_path / "e.env"
    f.write_text("# comment\n\nA=1\nB=two words\nHOSTVAR\n")
    assert read_env_file(str(f), {"HOSTVAR": "h"}) == {"A": "1", "B": "two words",
                                                       "HOSTVAR": "h"}
    with pytest.raises(InvalidInput, match="cannot read env file"):
        read_env_file(str(tmp_path / "missing"))


def test_build_config_validates_before_anything():
    with pytest.raises(InvalidInput, match="absolute"):
        build_config("busybox", workdir="relative")
    with pytest.raises(InvalidInput, match="hostname"):
        build_config("busybox", hostname="bad host")
    with pytest.raises(InvalidInput, match="--rm"):
        build_config("busybox", auto_remove=True, restart="always")
    with pytest.raises(InvalidInput):
        build_config("busybox", limits={"memory": "10x"})
    with pytest.raises(InvalidInput):
        build_config("busybox", stop_timeout=-1)


def test_build_config_round_trips_through_a_dict():
    cfg = build_config("busybox", ["sh", "-c", "true"], env={"A": "1"}, labels=["k=v"],
                       limits={"memory": "64m", "cpu_shares": 512}, restart="on-failure:2",
                       healthcheck={"test": "true", "interval": "2s"})
    d = cfg.to_dict()
    assert d["limits"] == {"memory": 64 * 1024 * 1024, "cpu_shares": 512}
    assert d["healthcheck"]["test"] == ["/bin/sh", "-c", "true"]
    assert d["healthcheck"]["interval"] == 2.0
    assert ContainerConfig.from_dict(d) == cfg


IMAGE = {"Cmd": ["sh"], "Entrypoint": None, "Env": ["PATH=/bin", "X=img"],
         "WorkingDir": "/srv", "User": "nobody"}


def test_resolve_process_uses_image_defaults():
    p = resolve_process(build_config("busybox"), IMAGE, "a" * 64)
    assert p["args"] == ["sh"]
    assert "PATH=/bin" in p["env"] and "X=img" in p["env"]
    assert f"HOSTNAME={'a' * 12}" in p["env"]
    assert p["cwd"] == "/srv" and p["user"] == "nobody"


def test_resolve_process_overrides():
    cfg = build_config("busybox", ["echo", "hi"], env={"X": "mine"}, workdir="/w", user="0:0",
                       hostname="h")
    p = resolve_process(cfg, IMAGE, "a" * 64)
    assert p["args"] == ["echo", "hi"]
    assert "X=mine" in p["env"] and "HOSTNAME=h" in p["env"]
    assert p["cwd"] == "/w" and p["user"] == "0:0"


def test_entrypoint_drops_image_cmd():
    img = dict(IMAGE, Entrypoint=["/bin/ep"], Cmd=["default"])
    assert resolve_process(build_config("b"), img, "c" * 64)["args"] == ["/bin/ep", "default"]
    assert resolve_process(build_config("b", entrypoint="/bin/x"), img,
                           "c" * 64)["args"] == ["/bin/x"]
    assert resolve_process(build_config("b", ["y"], entrypoint="/bin/x"), img,
                           "c" * 64)["args"] == ["/bin/x", "y"]


def test_no_command_at_all_is_an_error():
    with pytest.raises(InvalidInput, match="no command"):
        resolve_process(build_config("b"), {}, "c" * 64)
