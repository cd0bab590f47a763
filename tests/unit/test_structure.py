"""Structure contracts: the planner and spec stay pure; `run` stays free of heavy imports."""

import subprocess
import sys

import pytest

OS_LEVEL = ("rocker.runtime", "rocker.monitor", "rocker.cgroups", "rocker.images",
            "rocker.apply", "rocker.observe", "rocker.state", "ctypes", "subprocess", "socket")
HEAVY = ("pydantic", "yaml", "pyroute2", "tomli_w")


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_plan_imports_no_os_level_code():
    mods = loaded_after("import rocker.plan, rocker.plan.render")
    bad = sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in OS_LEVEL))
    assert bad == []


@pytest.mark.parametrize("entry", [
    "from rocker.cli.main import cli; import rocker.cli.containers, rocker.runtime.lifecycle",
    "import rocker.monitor.main, rocker.launcher.launch, rocker.launcher.init",
    "import rocker.cli.resources, rocker.cli.images, rocker.cli.networks",
    "import rocker.network.setup, rocker.network.resolver, rocker.runtime.networks",
])
def test_container_commands_do_not_load_heavy_libraries(entry):
    mods = loaded_after(entry)
    assert sorted(m for m in mods if m.split(".")[0] in HEAVY) == []


def test_monitor_imports_stay_small():
    mods = loaded_after("import rocker.monitor.main, rocker.launcher.launch, rocker.launcher.init, "
                        "rocker.cgroups, rocker.containers.teardown, rocker.network.setup, "
                        "rocker.network.resolver")
    assert not {"dataclasses", "inspect", "click", "typing_extensions"} & mods


def test_every_module_has_a_docstring():
    import importlib
    import pkgutil

    import rocker
    missing = []
    for info in pkgutil.walk_packages(rocker.__path__, "rocker."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        if not (mod.__doc__ or "").strip():
            missing.append(info.name)
    assert missing == []


def _tool(name: str) -> str:
    import os
    path = os.path.join(os.path.dirname(sys.executable), name)
    assert os.path.exists(path), f"{name} is missing: install the test extra (bash dev.sh setup)"
    return path


def test_import_contracts_hold():
    """The layers of docs/architecture.md, the pure planner and stack-file models, the launcher
    apart from records and verbs (pyproject.toml [tool.importlinter]); imports inside
    functions count."""
    from tests.conftest import REPO
    p = subprocess.run([_tool("lint-imports"), "--no-logo", "--no-cache"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_is_clean():
    from tests.conftest import REPO
    p = subprocess.run([_tool("ruff"), "check", "rocker", "tests", "bench"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
