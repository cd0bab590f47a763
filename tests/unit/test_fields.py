"""The container field table (rocker.fields) drives the CLI, stacks, dump, render, plan, inspect.

The last test is the table's promise: a copy of the package with one new row (and nothing
else changed) has the field on `run`, in stack files, in `spec dump`, in the plan (forcing a
replacement) and in `inspect`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import click

from rocker import fields
from rocker.containers.config import ContainerConfig, build_config
from rocker.plan.render import CONFIG_DEFAULTS
from rocker.stackfile.models import ContainerSpec
from tests.conftest import REPO


def test_every_stored_field_is_in_the_config_and_has_a_default():
    assert ContainerConfig.FIELDS == tuple(f.name for f in fields.CONFIG)
    assert CONFIG_DEFAULTS == {f.name: f.default for f in fields.CONFIG}
    cfg = build_config("busybox")
    assert cfg.to_dict() == {**CONFIG_DEFAULTS, "image": "busybox:latest"}


def test_every_stack_key_is_in_the_model_and_every_option_on_run():
    from rocker.cli.containers import run_cmd as run
    flags = {f for p in run.params if isinstance(p, click.Option) for f in p.opts}
    for row in fields.ROWS:
        if row.stack:
            assert row.stack in ContainerSpec.model_fields, row
        for opt in row.options:
            assert set(opt.flags) & flags, opt.flags


def test_live_fields_are_the_ones_update_changes():
    assert fields.LIVE == {"limits", "restart", "labels"}
    assert fields.LIMIT_NAMES == ("memory", "memory_swap", "memory_reservation", "cpu_shares",
                                  "cpus", "cpuset_cpus", "cpuset_mems", "pids_limit")


def test_errors_carry_their_field():
    for kw, field in ((dict(workdir="rel"), "workdir"), (dict(user="a:b:c"), "user"),
                      (dict(limits={"memory_swap": "1"}), "memory_swap"),
                      (dict(limits={"memory": "1"}), "memory"),
                      (dict(auto_remove=True, restart="always"), "restart"),
                      (dict(healthcheck={"test": []}), "healthcheck")):
        try:
            build_config("busybox", **kw)
        except Exception as e:  # noqa: BLE001 - the assertion names it
            assert getattr(e, "field", None) == field, (kw, e)
        else:
            raise AssertionError(f"{kw} was accepted")


NEW_ROW = '''
    Field("init", "bool", False, (Opt("--init", flag=True, help="Run an init process."),),
          inspect="HostConfig.Init"),
'''

PROBE = r'''
import json, sys
from rocker.cli.containers import run_cmd as run
from rocker.cli.options import config_from_options
from rocker.containers.config import build_config
from rocker.plan.planner import config_changes
from rocker.plan.render import CONFIG_DEFAULTS
from rocker.runtime.inspect import _fields_shown
from rocker.stackfile.dump import container_spec
from rocker.stackfile.models import ContainerSpec
from rocker.stackfile.loader import container_config

opts = dict(run.make_context("run", ["--init", "busybox", "true"]).params)
cfg, _ = config_from_options(opts, opts.pop("args"))
spec = ContainerSpec.model_validate({"image": "busybox", "init": True})
from_stack = container_config(spec, "/", "busybox")
old = dict(cfg.to_dict(), init=False)
changes = config_changes(old, cfg.to_dict())
print(json.dumps({
    "cli": cfg.init, "stack": from_stack.init, "default": CONFIG_DEFAULTS["init"],
    "dump": container_spec(cfg.to_dict()).get("init"),
    "plan": [(c.path, c.forces_replacement) for c in changes],
    "inspect": _fields_shown({}, cfg.to_dict(), {})["HostConfig"]["Init"],
}))
'''


def test_a_new_row_reaches_cli_stack_dump_plan_and_inspect(tmp_path):
    shutil.copytree(os.path.join(REPO, "rocker"), tmp_path / "rocker",
                    ignore=shutil.ignore_patterns("__pycache__"))
    table = tmp_path / "rocker" / "fields.py"
    text = table.read_text()
    anchor = "    Field(\"restart_on_unhealthy\""
    assert anchor in text
    table.write_text(text.replace(anchor, textwrap.indent(textwrap.dedent(NEW_ROW), "    ")
                                  .lstrip("\n") + anchor, 1))
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {"cli": True, "stack": True, "default": False, "dump": True,
                   "plan": [["init", True]], "inspect": True}
