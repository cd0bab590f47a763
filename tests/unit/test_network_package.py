"""rocker.network: its pure modules (addresses, ports, /etc files, the ruleset, DNS messages)
cheap to import and free of OS-level code; every module saying what it owns."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

MODULES = ("ipam", "ports", "hostsfile", "firewall", "dns", "text", "connection", "iptext")
"""The pure ones (connection: what a running container holds; iptext: addresses without
ipaddress); the others hold the records (store), the links (netlink), the sequence
(setup), the resolver the monitor runs (resolver) and the reader of the host's resolv.conf
(etcfiles)."""
OS_LEVEL = ("store", "netlink", "setup", "resolver", "etcfiles")
PACKAGE = os.path.join(REPO, "rocker", "network")
# OS-level code, rocker's other packages (errors aside), and what makes an import slow
FORBIDDEN = ("subprocess", "socket", "ctypes", "fcntl", "shutil", "select", "threading",
             "dataclasses", "inspect", "typing", "random", "json")


def test_every_file_is_listed():
    files = {f[:-3] for f in os.listdir(PACKAGE) if f.endswith(".py")} - {"__init__"}
    assert files == set(MODULES) | set(OS_LEVEL)


def test_imports_are_pure_and_light():
    code = ("import sys\nbefore = set(sys.modules)\n" +
            "".join(f"import rocker.network.{m}\n" for m in MODULES) +
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    new = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.split()
    rocker = sorted(m for m in new if m.startswith("rocker.") and
                    m not in ("rocker.errors", "rocker.network") and
                    not m.startswith("rocker.network."))
    assert rocker == []
    assert sorted(m for m in new if m.split(".")[0] in FORBIDDEN) == []


def test_init_imports_nothing():
    with open(os.path.join(PACKAGE, "__init__.py")) as f:
        tree = ast.parse(f.read())
    assert ast.get_docstring(tree).startswith(
        "Container networking: bridge networks, addresses, names, published ports.")
    assert [type(n).__name__ for n in tree.body] == ["Expr"]


@pytest.mark.parametrize("module", MODULES + OS_LEVEL)
def test_module_docstring_and_future_import(module):
    with open(os.path.join(PACKAGE, f"{module}.py")) as f:
        tree = ast.parse(f.read())
    assert (ast.get_docstring(tree) or "").strip()
    first = tree.body[1]
    assert isinstance(first, ast.ImportFrom) and first.module == "__future__"


def test_hostsfile_and_ports_do_not_load_ipaddress_for_ipv4():
    """A start reads the host's nameservers and --add-host entries; `ps` reads ports: the
    common IPv4 case does not pay for importing ipaddress."""
    code = ("import sys\nfrom rocker.network import hostsfile, ports\n"
            "assert hostsfile.parse_add_host('db:10.0.0.2') == ('db', '10.0.0.2')\n"
            "assert hostsfile.parse_dns('1.1.1.1') == '1.1.1.1'\n"
            "print('ipaddress' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip()
    assert out == "False"
