"""Stack files: YAML and TOML give the same model and plan; every error names file, path, line."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from rocker.errors import SpecError
from rocker.plan import ObservedState, plan
from rocker.plan.render import render_text
from rocker.stackfile.hashing import spec_hash
from rocker.stackfile.loader import load_desired, load_spec, replica_names
from rocker.stackfile.models import json_schema
from tests.conftest import REPO

EXAMPLES = os.path.join(REPO, "examples")
SCHEMA = os.path.join(REPO, "specs", "stack.schema.json")


@pytest.fixture
def stack_dir(tmp_path):
    d = tmp_path / "mystack"
    d.mkdir()
    (d / "img.tar").write_bytes(b"not really a tar, only its digest matters here")
    return d


def write(d, name: str, text: str) -> str:
    p = d / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


BASIC = """
images:
  busybox:
    import: img.tar
containers:
  web:
    image: busybox
    command: [httpd, -f, -p, 8080]
    memory: 64m
"""


# ---------------------------------------------------------------------------------------------
# YAML and TOML


def test_examples_yaml_and_toml_twins_are_identical():
    y = load_desired(os.path.join(EXAMPLES, "web.yaml"))
    t = load_desired(os.path.join(EXAMPLES, "web.toml"))
    assert y.stack == t.stack == "demo"
    assert y.images == t.images
    assert y.containers == t.containers
    assert y.networks == t.networks
    assert y.volumes == t.volumes and [v.name for v in y.volumes] == ["demo_data"]
    assert [c.name for c in y.containers] == ["demo-web-1", "demo-worker-1", "demo-worker-2",
                                              "demo-init-1", "demo-db-1"]
    py, pt = plan(y, ObservedState()), plan(t, ObservedState())
    assert py.actions == pt.actions
    assert render_text(py).split("\n", 1)[1] == render_text(pt).split("\n", 1)[1]


def test_same_stack_in_both_formats(stack_dir):
    y = write(stack_dir, "s.yaml", BASIC)
    t = write(stack_dir, "s.toml", """
        [images.busybox]
        import = "img.tar"
        [containers.web]
        image = "busybox"
        command = ["httpd", "-f", "-p", 8080]
        memory = 67108864
    """)
    a, b = load_desired(y), load_desired(t)
    assert a.containers == b.containers and a.images == b.images
    assert a.stack == "mystack"          # default: the folder's name
    assert a.containers[0].config["command"] == ["httpd", "-f", "-p", "8080"]


def test_hash_ignores_spelling_and_order():
    from rocker.containers.config import build_config
    a = build_config("x", ["a"], limits={"memory": "64m"}, env={"A": "1", "B": "2"}).to_dict()
    b = build_config("x", ["a"], limits={"memory": 67108864}, env={"B": "2", "A": "1"}).to_dict()
    assert spec_hash(a) == spec_hash(b)
    c = build_config("x", ["b"], limits={"memory": "64m"}).to_dict()
    assert spec_hash(a) != spec_hash(c)
    assert spec_hash(a).startswith("sha256:") and len(spec_hash(a)) == 71


def test_every_run_option_has_a_field(stack_dir):
    write(stack_dir, "app.env", "FROM_FILE=1\n# comment\n")
    p = write(stack_dir, "s.yaml", """
        containers:
          app:
            image: busybox
            command: "echo hello world"
            entrypoint: [/bin/sh, -c]
            env: [A=1, B=2]
            env_file: app.env
            workdir: /srv
            user: "1000:1000"
            hostname: app
            tty: true
            stdin_open: true
            labels: {tier: web, n: 1}
            restart: on-failure:3
            stop_signal: SIGINT
            stop_timeout: 3
            memory: 64m
            memory_swap: 128m
            memory_reservation: 32m
            cpu_shares: 512
            cpus: 0.5
            cpuset_cpus: "0"
            cpuset_mems: "0"
            pids_limit: 100
            healthcheck: {test: "true", interval: 2s, timeout: 1s, retries: 2, start_period: 1s}
            restart_on_unhealthy: true
            replicas: 1
            depends_on: []
    """)
    d = load_desired(p)
    cfg = d.containers[0].config
    assert cfg["command"] == ["/bin/sh", "-c", "echo hello world"]
    assert cfg["entrypoint"] == ["/bin/sh", "-c"]
    assert cfg["env"] == {"FROM_FILE": "1", "A": "1", "B": "2"}
    assert (cfg["workdir"], cfg["user"], cfg["hostname"]) == ("/srv", "1000:1000", "app")
    assert cfg["tty"] and cfg["interactive"]
    assert cfg["labels"] == {"tier": "web", "n": "1"}
    assert cfg["restart"] == "on-failure:3"
    assert (cfg["stop_signal"], cfg["stop_timeout"]) == ("SIGINT", 3)
    assert cfg["limits"] == {"memory": 67108864, "memory_swap": 134217728,
                             "memory_reservation": 33554432, "cpu_shares": 512, "cpus": 0.5,
                             "cpuset_cpus": "0", "cpuset_mems": "0", "pids_limit": 100}
    assert cfg["healthcheck"] == {"test": ["/bin/sh", "-c", "true"], "interval": 2.0,
                                  "timeout": 1.0, "start_period": 1.0, "retries": 2}
    assert cfg["restart_on_unhealthy"] is True
    assert d.containers[0].image_ref == "busybox:latest"


def test_replicas_names_and_depends_on_forms(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          web: {image: busybox}
          worker: {image: busybox, replicas: 3, depends_on: [web]}
          job: {image: busybox, replicas: 0, depends_on: {web: healthy, worker: completed}}
    """)
    d = load_desired(p)
    assert [c.name for c in d.containers] == ["mystack-web-1", "mystack-worker-1", "mystack-worker-2",
                                              "mystack-worker-3"]
    assert [(c.service, c.index, c.replica) for c in d.containers][1] == ("worker", 1,
                                                                          "worker-1")
    assert d.containers[1].depends_on == (("web", "started"),)
    assert replica_names("s", "w", 1) == ["s-w-1"] and replica_names("s", "w", 0) == []
    assert replica_names("s", "w", 2) == ["s-w-1", "s-w-2"]


def test_image_tag_and_store_images(stack_dir):
    p = write(stack_dir, "s.yaml", """
        images:
          app: {import: img.tar, tag: "1.0", changes: ["ENV A=1"]}
        containers:
          a: {image: app}
          b: {image: "app:1.0"}
          c: {image: alpine}
    """)
    d = load_desired(p)
    assert d.images[0].ref == "app:1.0" and d.images[0].changes == ("ENV A=1",)
    assert d.images[0].source == str(stack_dir / "img.tar")
    assert d.images[0].digest.startswith("sha256:")
    assert [c.image_ref for c in d.containers] == ["app:1.0", "app:1.0", "alpine:latest"]


# ---------------------------------------------------------------------------------------------
# errors: one line, the file, the path, the YAML line


def error_of(path: str) -> str:
    with pytest.raises(SpecError) as e:
        load_desired(path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_unknown_key_names_path_and_line(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    memroy: 64m\n")
    assert error_of(p) == f"{p}:9: containers.web.memroy: unknown field"


def test_unknown_key_toml(stack_dir):
    p = write(stack_dir, "s.toml", """
        [containers.web]
        image = "busybox"
        memroy = "64m"
    """)
    assert error_of(p) == f"{p}: containers.web.memroy: unknown field"


def test_unknown_top_level_and_image_keys(stack_dir):
    p = write(stack_dir, "s.yaml", "version: 3\ncontainers: {}\n")
    assert error_of(p) == f"{p}:1: version: unknown field"
    p = write(stack_dir, "s2.yaml", "images:\n  b:\n    import: img.tar\n    form: x\n")
    assert error_of(p) == f"{p}:4: images.b.form: unknown field"


def test_yaml_syntax_error_has_the_line(stack_dir):
    p = write(stack_dir, "s.yaml", "containers:\n  web:\n    image: [busybox\n  x: 1\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}:4: invalid YAML:"), msg


def test_toml_syntax_error(stack_dir):
    p = write(stack_dir, "s.toml", "[containers.web\nimage = 1\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: invalid TOML:") and "line 1" in msg


def test_wrong_type(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    replicas: many\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}:9: containers.web.replicas: input should be a valid integer")
    p = write(stack_dir, "s2.yaml", BASIC.replace("[httpd, -f, -p, 8080]", "{a: 1}"))
    msg = error_of(p)
    assert msg.startswith(f"{p}:7: containers.web.command: input should be"), msg


def test_negative_replicas(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    replicas: -1\n")
    assert error_of(p) == (f"{p}:9: containers.web.replicas: input should be greater than or "
                           "equal to 0")


def test_missing_image_field(stack_dir):
    p = write(stack_dir, "s.yaml", "containers:\n  web:\n    command: [true]\n")
    assert error_of(p) == f"{p}:2: containers.web.image: required field is missing"


def test_bad_value_is_checked_by_build_config_and_named(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC.replace("64m", "lots"))
    msg = error_of(p)
    assert msg.startswith(f"{p}:8: containers.web.memory: invalid --memory 'lots'"), msg
    p = write(stack_dir, "s2.yaml", BASIC + "    restart: sometimes\n")
    assert error_of(p).startswith(f"{p}:9: containers.web.restart: invalid restart policy")
    p = write(stack_dir, "s3.yaml", BASIC + "    workdir: relative\n")
    assert error_of(p).startswith(f"{p}:9: containers.web.workdir:")


def test_bad_condition(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    depends_on: {db: ready}\n  db: {image: x}\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}:9: containers.web.depends_on.db: input should be 'started', "
                          "'healthy' or 'completed'"), msg


def test_unknown_dependency(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    depends_on: [db]\n")
    assert error_of(p) == f"{p}:9: containers.web.depends_on.db: no such container 'db' in " \
                          "this stack"


def test_dependency_cycle(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          a: {image: x, depends_on: [b]}
          b: {image: x, depends_on: {c: healthy}}
          c: {image: x, replicas: 0, depends_on: [a]}
    """)
    assert error_of(p) == f"{p}:2: containers.a.depends_on: dependency cycle: a -> b -> c -> a"


def test_duplicate_names(stack_dir):
    # containers are <stack>-<service>-<n>, so they never collide; but a service called
    # worker-2 beside the second replica of worker would make the names between members (and
    # `exec --stack`) ambiguous
    p = write(stack_dir, "s.yaml", """
        containers:
          worker-2: {image: x}
          worker: {image: x, replicas: 2}
    """)
    assert error_of(p) == (f"{p}:2: containers.worker-2: 'worker-2' is also the name of a "
                           "replica of service 'worker': the names between members would be "
                           "ambiguous")
    p = write(stack_dir, "s1.yaml", """
        containers:
          worker-3: {image: x}
          worker: {image: x, replicas: 2}
    """)
    assert [c.name for c in load_desired(p).containers] == ["mystack-worker-3-1",
                                                            "mystack-worker-1",
                                                            "mystack-worker-2"]
    p = write(stack_dir, "s2.yaml", """
        containers:
          web: {image: x}
          web: {image: y}
    """)
    assert error_of(p) == f"{p}:3: containers.web: duplicate key (first on line 2)"


def test_missing_files(stack_dir):
    p = write(stack_dir, "s.yaml", "images:\n  b:\n    import: nope.tar\n")
    assert error_of(p) == f"{p}:3: images.b.import: no such file: {stack_dir}/nope.tar"
    p = write(stack_dir, "s2.yaml", "containers:\n  w:\n    image: x\n    env_file: no.env\n")
    assert error_of(p).startswith(f"{p}:4: containers.w.env_file: cannot read env file")
    assert error_of(str(stack_dir / "absent.yaml")) == f"{stack_dir}/absent.yaml: no such file"


def test_not_a_mapping_and_bad_names(stack_dir):
    p = write(stack_dir, "s.yaml", "- a\n- b\n")
    assert "must be a mapping" in error_of(p)
    p = write(stack_dir, "s2.yaml", "name: 'bad name'\n")
    assert error_of(p).startswith(f"{p}:1: name: invalid stack name")
    p = write(stack_dir, "s3.yaml", "containers:\n  -bad: {image: x}\n")
    assert error_of(p).startswith(f"{p}:2: containers.-bad: invalid container name")


def test_empty_file_is_an_empty_stack(stack_dir):
    p = write(stack_dir, "s.yaml", "")
    d = load_desired(p)
    assert d.stack == "mystack" and d.containers == ()


def test_more_errors_are_counted(stack_dir):
    p = write(stack_dir, "s.yaml", BASIC + "    a: 1\n    b: 2\n")
    assert error_of(p) == f"{p}:9: containers.web.a: unknown field (and 1 more error)"


# ---------------------------------------------------------------------------------------------
# schema


def test_schema_is_generated_from_the_models_and_committed():
    schema = json_schema()
    web = schema["$defs"]["ContainerSpec"]
    assert web["additionalProperties"] is False
    for f in ("image", "command", "memory", "cpuset", "healthcheck", "replicas", "depends_on",
              "restart_on_unhealthy", "interactive", "env_file"):
        assert f in web["properties"], f
    assert schema["$defs"]["ImageSpec"]["properties"]["import"]
    with open(SCHEMA) as f:
        committed = json.load(f)
    assert committed == schema, "run `rocker spec schema > specs/stack.schema.json`"


def test_load_spec_reports_format(stack_dir):
    spec, lines, fmt = load_spec(write(stack_dir, "s.yaml", BASIC))
    assert fmt == "yaml" and lines["containers.web.memory"] == 8


# ---------------------------------------------------------------------------------------------
# YAML 1.2 core scalars, strict types


def test_yaml_text_fields_keep_their_source_text(stack_dir):
    y = write(stack_dir, "s.yaml", """
        containers:
          web:
            image: busybox
            command: [echo, 1.10, 0755, on, yes, 2001-01-01, 1_000]
            env: {VERSION: 1.10, MODE: on, PERM: 0755, OFF: no, N: 1e3}
            labels: {version: 1.10, enabled: yes}
            user: 33:33
            hostname: 0x10
            restart: no
            workdir: /srv
    """)
    t = write(stack_dir, "s.toml", """
        [containers.web]
        image = "busybox"
        command = ["echo", "1.10", "0755", "on", "yes", "2001-01-01", "1_000"]
        env = {VERSION = "1.10", MODE = "on", PERM = "0755", OFF = "no", N = "1e3"}
        labels = {version = "1.10", enabled = "yes"}
        user = "33:33"
        hostname = "0x10"
        restart = "no"
        workdir = "/srv"
    """)
    a, b = load_desired(y), load_desired(t)
    cfg = a.containers[0].config
    assert cfg["command"] == ["echo", "1.10", "0755", "on", "yes", "2001-01-01", "1_000"]
    assert cfg["env"] == {"VERSION": "1.10", "MODE": "on", "PERM": "0755", "OFF": "no",
                          "N": "1e3"}
    assert cfg["labels"] == {"version": "1.10", "enabled": "yes"}
    assert cfg["user"] == "33:33" and cfg["hostname"] == "0x10" and cfg["restart"] == "no"
    assert a.containers == b.containers
    from rocker.plan import ObservedImage
    obs = ObservedState(images={"busybox:latest": ObservedImage("busybox:latest", "sha256:1")})
    assert plan(a, obs).actions == plan(b, obs).actions


def test_yaml_text_fields_keep_their_source_text_under_keys_with_dots(stack_dir):
    """A dotted service name or env/label key is one key, not a path: `web.v2` and
    `app.kubernetes.io/version` keep 1.10, 0100 and 1e3 as written, as TOML does."""
    y = write(stack_dir, "s.yaml", """
        containers:
          web.v2:
            image: busybox
            command: [echo, 1.10]
            env: {app.version: 1.10, a.b.c: 0100}
            labels: {app.kubernetes.io/version: 1.10, x.y: 1e3}
            user: 0100
    """)
    t = write(stack_dir, "s.toml", """
        [containers."web.v2"]
        image = "busybox"
        command = ["echo", "1.10"]
        env = {"app.version" = "1.10", "a.b.c" = "0100"}
        labels = {"app.kubernetes.io/version" = "1.10", "x.y" = "1e3"}
        user = "0100"
    """)
    a, b = load_desired(y), load_desired(t)
    cfg = a.containers[0].config
    assert cfg["command"] == ["echo", "1.10"]
    assert cfg["env"] == {"app.version": "1.10", "a.b.c": "0100"}
    assert cfg["labels"]["app.kubernetes.io/version"] == "1.10"
    assert cfg["labels"]["x.y"] == "1e3"
    assert cfg["user"] == "0100"
    assert a.containers == b.containers


def test_yaml_core_schema_for_other_fields(stack_dir):
    """Only true/false are booleans; 0755 is decimal elsewhere; quoted values stay strings."""
    y = write(stack_dir, "s.yaml", """
        containers:
          web:
            image: busybox
            tty: true
            cpu_shares: 0512
            pids_limit: 0o100
            replicas: 1
            env: {QUOTED: "1.10", NULL: ~}
    """)
    c = load_desired(y).containers[0].config
    assert c["tty"] is True
    assert c["limits"]["cpu_shares"] == 512 and c["limits"]["pids_limit"] == 64
    assert c["env"]["QUOTED"] == "1.10" and "NULL" in c["env"]
    for bad in ("tty: yes", "tty: on", "interactive: no"):
        p = write(stack_dir, "b.yaml", "containers:\n  web:\n    image: busybox\n"
                  f"    {bad}\n")
        assert "input should be a valid boolean" in error_of(p), bad


@pytest.mark.parametrize("line, path, what", [
    ("replicas: true", "replicas", "integer"),
    ('replicas: "2"', "replicas", "integer"),
    ('tty: "yes"', "tty", "boolean"),
    ("tty: 1", "tty", "boolean"),
    ("restart_on_unhealthy: 1", "restart_on_unhealthy", "boolean"),
    ('cpu_shares: "512"', "cpu_shares", "integer"),
    ("stop_timeout: true", "stop_timeout", "integer"),
    ("memory: true", "memory", "string or a valid integer"),
])
def test_no_lax_coercion(stack_dir, line, path, what):
    p = write(stack_dir, "s.yaml", f"containers:\n  web:\n    image: busybox\n    {line}\n")
    msg = error_of(p)
    assert f"s.yaml:4: containers.web.{path}: input should be a valid {what}" in msg, msg
    t = write(stack_dir, "s.toml", "[containers.web]\nimage = \"busybox\"\n"
              + line.replace(":", " =", 1) + "\n")
    assert f"containers.web.{path}: input should be a valid {what}" in error_of(t)


def test_numbers_still_accepted_where_they_make_sense(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          web:
            image: busybox
            cpus: 1
            memory: 67108864
            stop_signal: 9
            healthcheck: {test: [CMD, true], interval: 2, retries: 2}
    """)
    c = load_desired(p).containers[0].config
    assert c["limits"]["cpus"] == 1.0 and c["limits"]["memory"] == 67108864
    assert c["stop_signal"] == "SIGKILL" and c["healthcheck"]["test"] == ["true"]  # CMD: exec


# ---------------------------------------------------------------------------------------------
# error messages


def test_bad_image_reference_names_the_image_field(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          web:
            command: [sh]
            image: "Busy Box"
    """)
    assert error_of(p).startswith(f"{p}:4: containers.web.image: invalid reference 'Busy Box'")


def test_union_branches_are_not_counted_as_more_errors(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          web:
            image: busybox
            env: {A: [1]}
    """)
    assert error_of(p) == (f"{p}:4: containers.web.env.A: input should be a valid string or "
                           "a valid integer or a valid number or a valid boolean")
    p = write(stack_dir, "s.yaml", """
        containers:
          web:
            image: busybox
            env: {A: [1]}
            replicas: -1
    """)
    assert error_of(p).endswith("(and 1 more error)")


def test_image_changes_are_canonical_in_the_desired_state(stack_dir):
    a = write(stack_dir, "a.yaml", """
        images:
          busybox: {import: img.tar, changes: ["env A=1", "CMD sh"]}
    """)
    b = write(stack_dir, "b.yaml", """
        images:
          busybox: {import: img.tar, changes: ["ENV  A=1", "cmd sh"]}
    """)
    c = write(stack_dir, "c.yaml", """
        images:
          busybox: {import: img.tar, changes: ["ENV A=2", "CMD sh"]}
    """)
    ka, kb, kc = (load_desired(p).images[0].identity for p in (a, b, c))
    assert ka == kb and ka != kc and ka[0] == kc[0]


def test_schema_lists_the_accepted_aliases():
    props = json_schema()["$defs"]["ContainerSpec"]["properties"]
    assert props["stdin_open"]["type"] == "boolean"
    assert props["cpuset_cpus"]["anyOf"] == props["cpuset"]["anyOf"]


def test_container_name_and_fixed_addresses(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          a: {image: x, container_name: fixed}
          b: {image: x, network_mode: "service:a"}
    """)
    d = load_desired(p)
    assert [c.name for c in d.containers] == ["fixed", "mystack-b-1"]
    assert d.container("mystack-b-1").config["network_mode"] == "container:fixed"
    p = write(stack_dir, "s2.yaml", """
        containers:
          a: {image: x, container_name: same}
          b: {image: x, container_name: same}
    """)
    assert error_of(p) == (f"{p}:3: containers.b: duplicate container name 'same' (also made "
                           "by 'containers.a')")
    p = write(stack_dir, "s3.yaml", """
        containers:
          a: {image: x, container_name: one, replicas: 2}
    """)
    assert "containers.a.container_name: a fixed name allows one replica at most" in error_of(p)
    p = write(stack_dir, "s4.yaml", """
        networks:
          n: {subnet: 10.66.0.0/24}
        containers:
          a:
            image: x
            replicas: 2
            networks: {n: {ipv4_address: 10.66.0.9}}
    """)
    assert "containers.a.networks: a fixed address (10.66.0.9) allows one replica" in error_of(p)
    p = write(stack_dir, "s5.yaml", """
        containers:
          a: {image: x, networks: [bridge]}
    """)
    d = load_desired(p)
    assert [(n.name, n.external) for n in d.networks] == [("bridge", True)]


@pytest.mark.parametrize("body,error", [
    ("networks:\n  n: {subnet: 10.66.0.0/24}\ncontainers:\n  a:\n    image: x\n"
     "    networks: {n: {ipv4_address: 10.66.1.5}}\n",
     "containers.a.networks.n.ipv4_address: 10.66.1.5 is not a free host address of "
     "10.66.0.0/24"),
    ("networks:\n  n: {subnet: 10.66.0.0/24}\ncontainers:\n  a:\n    image: x\n"
     "    networks: {n: {ipv4_address: 10.66.0.1}}\n", "(not its network, broadcast or gateway"),
    ("networks:\n  n: {}\ncontainers:\n  a:\n    image: x\n"
     "    networks: {n: {ipv4_address: 10.66.0.5}}\n",
     "a fixed address needs the network's subnet (networks.n.subnet)"),
    ("networks:\n  n: {subnet: 10.66.0.0/24}\ncontainers:\n  a:\n    image: x\n"
     "    networks: {n: {ipv4_address: 10.66.0.5}}\n  b:\n    image: x\n"
     "    networks: {n: {ipv4_address: 10.66.0.5}}\n",
     "10.66.0.5 is also the fixed address of 'containers.a' on mystack_n"),
    ("containers:\n  a: {image: x, ports: ['8080:80'], replicas: 2}\n",
     "containers.a.ports: host port 8080 is fixed: it allows one replica at most"),
    ("containers:\n  a: {image: x, ports: ['127.0.0.1:8080:80']}\n"
     "  b: {image: x, ports: ['8080:81']}\n",
     "containers.b.ports: host port 8080/tcp is also published by 'containers.a'"),
    ("containers:\n  a: {image: x, replicas: 0}\n  b: {image: x, network_mode: 'service:a'}\n",
     "containers.b.network_mode: service 'a' has replicas: 0"),
    ("networks:\n  host: {}\ncontainers:\n  a: {image: x}\n",
     "networks.host: the key 'host' names rocker's own network (mode)"),
    ("networks:\n  b: {name: bridge, internal: true}\ncontainers:\n  a: {image: x}\n",
     "networks.b.name: 'bridge' is rocker's default network: a stack cannot own it"),
])
def test_members_no_apply_could_carry_out(stack_dir, body, error):
    p = write(stack_dir, "s.yaml", body)
    assert error in error_of(p)


def test_fixed_ports_on_other_addresses_and_replicas_zero(stack_dir):
    p = write(stack_dir, "s.yaml", """
        containers:
          a: {image: x, ports: ['127.0.0.1:8080:80']}
          b: {image: x, ports: ['127.0.0.2:8080:80']}
          c: {image: x, replicas: 0}
    """)
    d = load_desired(p)
    assert [n.name for n in d.networks] == ["mystack_default"]
    p = write(stack_dir, "s2.yaml", """
        containers:
          c: {image: x, replicas: 0}
    """)
    assert load_desired(p).networks == ()
