"""Stacks with networks, for real: each stack's default network, names between members (service,
replica, container name), published ports, two stacks side by side, network drift found by
`diff` and fixed by `apply`, network changes that replace members, the legacy names of an
older rocker renamed into stack-scoped ones.

The session runs in a private network namespace (tests/integration/conftest.py): bridges,
veths and the nftables table die with it.
"""

from __future__ import annotations

import json
import subprocess

from tests.integration.helpers import inspect, wait_for
from tests.integration.test_network import body, free_port, http_get, links

def stack(tmp_path, name: str, body_: str, fname: str | None = None) -> str:
    p = tmp_path / (fname or f"{name}.yaml")
    p.write_text(f"name: {name}\n" + body_)
    return str(p)


def web_and_client(port: int, extra_web: str = "", extra_top: str = "") -> str:
    return (extra_top + "containers:\n"
            "  web:\n    image: busybox\n"
            f"    command: [sh, -c, 'hostname > /tmp/h; exec httpd -f -p 80 -h /tmp']\n"
            f"    ports: ['127.0.0.1:{port}:80']\n    stop_timeout: 1\n{extra_web}"
            "  client:\n    image: busybox\n    replicas: 2\n"
            "    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n"
            "    stop_timeout: 1\n")


def fetch(rocker, ref: str, url: str, *stack_opts: str) -> subprocess.CompletedProcess:
    return rocker("exec", *stack_opts, ref, "wget", "-q", "-O", "-", url, check=False)


def test_members_reach_each_other_by_service_replica_and_container_name(busybox, tmp_path):
    rocker = busybox
    port = free_port()
    f = stack(tmp_path, "shop", web_and_client(port))
    p = rocker("apply", "-f", f)
    assert "+ create network shop_default" in p.stdout, p.stdout
    web = inspect(rocker, "shop-web-1")
    hostname = web["Config"]["Hostname"]
    assert list(web["NetworkSettings"]["Networks"]) == ["shop_default"]
    for name in ("web", "web-1", "shop-web-1"):
        out = fetch(rocker, "client", f"http://{name}/h", "--stack", "shop")
        assert out.returncode == 0 and out.stdout.strip() == hostname, (name, out.stderr)
    # the service name answers with every replica's address
    ns = rocker("exec", "shop-web-1", "nslookup", "client").stdout
    ips = {inspect(rocker, f"shop-client-{i}")["NetworkSettings"]["Networks"]["shop_default"]
           ["IPAddress"] for i in (1, 2)}
    assert all(ip in ns for ip in ips), ns
    # the published port from the host
    assert body(wait_for(lambda: http_get("127.0.0.1", port, "/h"), what="port")) == hostname
    s = rocker("status", "-f", f).stdout
    assert "shop_default" in s and "10.87." in s
    assert rocker("diff", "-f", f, check=False).returncode == 0
    p = rocker("delete", "-f", f)
    assert "- remove network shop_default" in p.stdout
    assert "shop_default" not in rocker("network", "ls").stdout


def test_two_stacks_side_by_side_keep_their_names_apart(busybox, tmp_path):
    rocker = busybox
    pa, pb = free_port(), free_port()
    fa = stack(tmp_path, "a", web_and_client(pa))
    fb = stack(tmp_path, "b", web_and_client(pb))
    rocker("apply", "-f", fa)
    rocker("apply", "-f", fb)
    ha = inspect(rocker, "a-web-1")["Config"]["Hostname"]
    hb = inspect(rocker, "b-web-1")["Config"]["Hostname"]
    assert fetch(rocker, "a-client-1", "http://web/h").stdout.strip() == ha
    assert fetch(rocker, "b-client-2", "http://web/h").stdout.strip() == hb
    # the other stack's members are not on this stack's network
    assert fetch(rocker, "a-client-1", "http://b-web-1/h").returncode != 0
    sa = inspect(rocker, "a-web-1")["NetworkSettings"]["Networks"]["a_default"]
    sb = inspect(rocker, "b-web-1")["NetworkSettings"]["Networks"]["b_default"]
    assert sa["NetworkID"] != sb["NetworkID"]
    assert body(http_get("127.0.0.1", pa, "/h")) == ha
    assert body(http_get("127.0.0.1", pb, "/h")) == hb
    # deleting one leaves the other working
    rocker("delete", "-f", fa)
    assert fetch(rocker, "b-client-1", "http://web/h").stdout.strip() == hb
    assert rocker("diff", "-f", fb, check=False).returncode == 0
    rocker("delete", "-f", fb)


def test_network_drift_shows_in_diff_and_apply_fixes_it(busybox, tmp_path):
    rocker = busybox
    port = free_port()
    f = stack(tmp_path, "drift", web_and_client(port))
    rocker("apply", "-f", f)
    web = inspect(rocker, "drift-web-1")
    veth = "rk" + web["Id"][:12] + "0"
    assert veth in links()
    subprocess.run(["ip", "link", "del", veth], check=True)
    d = rocker("diff", "-f", f, check=False)
    assert d.returncode == 2
    assert "> restart drift-web-1  (network drift: the host end " + veth in d.stdout, d.stdout
    rocker("apply", "-f", f)
    assert rocker("diff", "-f", f, check=False).returncode == 0
    hostname = inspect(rocker, "drift-web-1")["Config"]["Hostname"]
    assert fetch(rocker, "client", "http://web/h", "--stack", "drift").stdout.strip() \
        == hostname
    # an address taken away inside the container's namespace
    pid = inspect(rocker, "drift-client-1")["State"]["Pid"]
    subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "addr", "flush", "dev", "eth0"],
                   check=True)
    d = rocker("diff", "-f", f, check=False)
    assert "> restart drift-client-1  (network drift: its address" in d.stdout, d.stdout
    rocker("apply", "-f", f)
    assert rocker("diff", "-f", f, check=False).returncode == 0
    assert fetch(rocker, "drift-client-1", "http://web/h").stdout.strip() == hostname
    rocker("delete", "-f", f)


def test_network_changes_replace_members_and_networks(busybox, tmp_path):
    rocker = busybox
    port = free_port()
    top = "networks:\n  back:\n    internal: true\n    labels: {tier: back}\n"
    f = stack(tmp_path, "chg", web_and_client(port))
    rocker("apply", "-f", f)
    old = inspect(rocker, "chg-web-1")["Id"]
    # a member joins a second (internal) network: it is replaced, the plan names the field
    g = stack(tmp_path, "chg", web_and_client(port, "    networks: [default, back]\n", top),
              fname="two.yaml")
    d = rocker("diff", "-f", g, check=False)
    assert "+ create network chg_back" in d.stdout, d.stdout
    assert "-/+ replace chg-web-1  (changed: networks)" in d.stdout, d.stdout
    rocker("apply", "-f", g)
    web = inspect(rocker, "chg-web-1")
    assert web["Id"] != old
    assert sorted(web["NetworkSettings"]["Networks"]) == ["chg_back", "chg_default"]
    net = json.loads(rocker("network", "inspect", "chg_back").stdout)[0]
    assert net["Internal"] is True and net["Labels"] == {"tier": "back"}
    # labels change in place; the subnet forces the network's replacement with its members
    h = stack(tmp_path, "chg", web_and_client(
        port, "    networks: [default, back]\n",
        "networks:\n  back:\n    internal: true\n    labels: {tier: b2}\n"), fname="three.yaml")
    d = rocker("diff", "-f", h, check=False)
    assert "~ update in place network chg_back" in d.stdout and "0 to replace" in d.stdout, \
        d.stdout
    rocker("apply", "-f", h)
    assert json.loads(rocker("network", "inspect", "chg_back").stdout)[0]["Labels"] == \
        {"tier": "b2"}
    i = stack(tmp_path, "chg", web_and_client(
        port, "    networks: [default, back]\n",
        "networks:\n  back:\n    internal: true\n    subnet: 10.66.5.0/24\n"
        "    labels: {tier: b2}\n"), fname="four.yaml")
    d = rocker("diff", "-f", i, check=False)
    assert "-/+ replace network chg_back" in d.stdout, d.stdout
    assert "-/+ replace chg-web-1" in d.stdout, d.stdout
    rocker("apply", "-f", i)
    ip = inspect(rocker, "chg-web-1")["NetworkSettings"]["Networks"]["chg_back"]["IPAddress"]
    assert ip.startswith("10.66.5."), ip
    assert rocker("diff", "-f", i, check=False).returncode == 0
    # back to the first file: the member leaves, the network the stack no longer has goes
    d = rocker("diff", "-f", f, check=False)
    assert "- remove network chg_back" in d.stdout, d.stdout
    assert d.stdout.index("replace chg-web-1") < d.stdout.index("remove network chg_back")
    rocker("apply", "-f", f)
    assert "chg_back" not in rocker("network", "ls").stdout
    assert rocker("diff", "-f", f, check=False).returncode == 0
    rocker("delete", "-f", f)


def test_network_mode_service_shares_the_namespace(busybox, tmp_path):
    rocker = busybox
    f = stack(tmp_path, "side", "containers:\n"
              "  app:\n    image: busybox\n"
              "    command: [sh, -c, 'hostname > /tmp/h; exec httpd -f -p 80 -h /tmp']\n"
              "    stop_timeout: 1\n"
              "  sidecar:\n    image: busybox\n    network_mode: 'service:app'\n"
              "    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n"
              "    stop_timeout: 1\n")
    p = rocker("apply", "-f", f)
    assert p.stdout.index("create side-app-1") < p.stdout.index("create side-sidecar-1")
    hostname = inspect(rocker, "side-app-1")["Config"]["Hostname"]
    assert fetch(rocker, "side-sidecar-1", "http://127.0.0.1/h").stdout.strip() == hostname
    assert inspect(rocker, "side-sidecar-1")["HostConfig"]["NetworkMode"] == \
        "container:side-app-1"
    assert rocker("diff", "-f", f, check=False).returncode == 0
    # app replaced: the sidecar follows it into its new namespace
    g = tmp_path / "side2.yaml"
    g.write_text(open(f).read().replace("hostname > /tmp/h;", "hostname > /tmp/h; true;"))
    d = rocker("diff", "-f", str(g), check=False)
    assert "> restart side-sidecar-1  (the network namespace of side-app-1 is made anew" \
        in d.stdout, d.stdout
    rocker("apply", "-f", str(g))
    hostname = inspect(rocker, "side-app-1")["Config"]["Hostname"]
    assert fetch(rocker, "side-sidecar-1", "http://127.0.0.1/h").stdout.strip() == hostname
    assert rocker("diff", "-f", str(g), check=False).returncode == 0
    rocker("delete", "-f", str(g))


def test_members_of_an_older_rocker_are_renamed_into_stack_scoped_names(busybox, tmp_path):
    """An older rocker named members `web`, `client-1`: a file that fixes those names (as
    `container_name`) stands in for it; without them, apply renames each member into
    `<stack>-<service>-<n>` (a replacement that says so), and nothing else is touched."""
    rocker = busybox
    port = free_port()
    old = stack(tmp_path, "leg", "containers:\n"
                "  web:\n    image: busybox\n    container_name: web\n"
                f"    command: [sh, -c, 'hostname > /tmp/h; exec httpd -f -p 80 -h /tmp']\n"
                f"    ports: ['127.0.0.1:{port}:80']\n    stop_timeout: 1\n", fname="old.yaml")
    rocker("apply", "-f", old)
    assert inspect(rocker, "web")["Name"] == "web"
    new = stack(tmp_path, "leg", "containers:\n"
                "  web:\n    image: busybox\n"
                f"    command: [sh, -c, 'hostname > /tmp/h; exec httpd -f -p 80 -h /tmp']\n"
                f"    ports: ['127.0.0.1:{port}:80']\n    stop_timeout: 1\n", fname="new.yaml")
    d = rocker("diff", "-f", new, check=False)
    assert "-/+ replace leg-web-1  (renamed: web -> leg-web-1" in d.stdout, d.stdout
    rocker("apply", "-f", new)
    assert rocker("inspect", "web", check=False).returncode != 0
    hostname = inspect(rocker, "leg-web-1")["Config"]["Hostname"]
    assert body(wait_for(lambda: http_get("127.0.0.1", port, "/h"), what="port")) == hostname
    assert rocker("diff", "-f", new, check=False).returncode == 0
    rocker("delete", "-f", new)


def test_bad_network_specs_change_nothing(busybox, tmp_path):
    rocker = busybox
    f = stack(tmp_path, "bad", "containers:\n  a:\n    image: busybox\n"
              "    networks: [nosuch]\n")
    p = rocker("apply", "-f", f, check=False)
    assert p.returncode == 1 and "containers.a.networks.nosuch: no network 'nosuch'" in p.stderr
    g = stack(tmp_path, "bad", "networks:\n  n:\n    subnet: 10.1.2.3/33\n"
              "containers:\n  a:\n    image: busybox\n    networks: [n]\n", fname="g.yaml")
    p = rocker("apply", "-f", g, check=False)
    assert p.returncode == 1 and "networks.n" in p.stderr, p.stderr
    h = stack(tmp_path, "bad", "containers:\n  a:\n    image: busybox\n    replicas: 2\n"
              "    container_name: fixed\n", fname="h.yaml")
    p = rocker("apply", "-f", h, check=False)
    assert p.returncode == 1 and "one replica at most" in p.stderr, p.stderr
    assert json.loads(rocker("ps", "-a", "--format", "json").stdout) == []
    assert [n for n in rocker("network", "ls").stdout.split() if n.startswith("bad")] == []
