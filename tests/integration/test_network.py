"""Networking, for real: bridges, veths, addresses, names, published ports, nftables.

The session runs in a private network namespace (tests/integration/conftest.py), so all of it
dies with the session and no traffic leaves the machine. "The host's own address" is stood in
for by a veth pair inside that namespace (HOST_IP on one end; the kernel here has no dummy
interfaces); "the host's resolver" by a tiny DNS server on 127.0.0.x. Clients are Python
sockets on the host side and busybox (nc, wget without -T, nslookup) inside containers.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from tests.integration.helpers import VENV_PY, inspect, run_d, wait_for, wait_running

HOST_IP = "10.199.0.1"
HOST_IF = "tsthost0"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def host_address():
    """A second address of "the host" (not loopback), on a veth pair in the test namespace."""
    _ip("link", "add", HOST_IF, "type", "veth", "peer", "name", HOST_IF + "p")
    _ip("addr", "add", f"{HOST_IP}/24", "dev", HOST_IF)
    _ip("link", "set", HOST_IF, "up")
    _ip("link", "set", HOST_IF + "p", "up")
    yield HOST_IP
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def rocker_table() -> str:
    p = subprocess.run(["nft", "list", "table", "ip", "rocker"], capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else ""


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(host: str, port: int, path: str = "/hostname", timeout: float = 5.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk


def body(resp: bytes) -> str:
    return resp.split(b"\r\n\r\n", 1)[1].decode().strip()


def httpd(*opts: str) -> tuple:
    return (*opts, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")


def eth0_address(r, ref: str) -> str:
    out = r("exec", ref, "ip", "-o", "-4", "addr", "show", "eth0").stdout
    return out.split()[3].split("/")[0]


# ---- the default network -------------------------------------------------------------------
def test_default_network_gives_an_address_a_route_and_true_etc_files(busybox):
    out = busybox("run", "--rm", "--hostname", "box", "busybox", "sh", "-c",
                  "ip -o -4 addr show eth0; ip route; cat /etc/hosts").stdout
    assert " 10.87.0." in out and "default via 10.87.0.1 dev eth0" in out
    ip = out.split()[3].split("/")[0]
    assert f"{ip}\tbox" in out
    assert not any(n.startswith("rk") for n in links())  # --rm: the bridge went with it
    assert rocker_table() == ""


def test_none_and_host_modes(busybox, host_address):
    assert busybox("run", "--rm", "--network", "none", "busybox", "ls",
                   "/sys/class/net").stdout.split() == ["lo"]
    out = busybox("run", "--rm", "--network", "host", "busybox", "ip", "-o", "addr").stdout
    assert HOST_IP in out  # the test namespace's own interfaces
    assert not any(n.startswith("rk") for n in links())


def test_container_mode_shares_the_network_namespace(busybox):
    run_d(busybox, "--name", "a", "busybox", "sleep", "60")
    wait_running(busybox, "a")
    ip = eth0_address(busybox, "a")
    out = busybox("run", "--rm", "--network", "container:a", "busybox", "sh", "-c",
                  "ip -o -4 addr show eth0; cat /etc/hostname").stdout
    assert f" {ip}/" in out and inspect(busybox, "a")["Config"]["Hostname"] in out
    p = busybox("run", "--rm", "--network", "container:nosuch", "busybox", "true", check=False)
    assert p.returncode == 125 and "no such container" in p.stderr


# ---- user networks and names -----------------------------------------------------------------
def test_containers_reach_each_other_by_name_and_alias(busybox):
    busybox("network", "create", "--label", "team=x", "appnet")
    run_d(busybox, *httpd("--name", "web", "--network", "appnet", "--network-alias", "www"))
    wait_running(busybox, "web")
    web_ip = eth0_address(busybox, "web")
    out = busybox("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                  "cat /etc/resolv.conf; nslookup web; nslookup www; "
                  "wget -q -O - http://web/hostname").stdout
    assert "nameserver 127.0.0.11" in out
    assert out.count(f"Address: {web_ip}") == 2
    assert inspect(busybox, "web")["Config"]["Hostname"] in out
    # the default network has no names (as in Docker), and networks are isolated
    out = busybox("run", "--rm", "busybox", "sh", "-c",
                  f"cat /etc/resolv.conf; timeout 3 nslookup web; echo ns=$?; "
                  f"timeout 3 nc {web_ip} 80 </dev/null; echo nc=$?").stdout
    assert "127.0.0.11" not in out and "ns=0" not in out and "nc=0" not in out
    net = json.loads(busybox("network", "inspect", "appnet").stdout)[0]
    assert net["Labels"] == {"team": "x"} and net["BridgePresent"]
    assert [c["Name"] for c in net["Containers"].values()] == ["web"]
    # rm refused while in use (even by a stopped container), then allowed
    busybox("stop", "-t", "1", "web")
    p = busybox("network", "rm", "appnet", check=False)
    assert p.returncode == 1 and "in use" in p.stderr and "web" in p.stderr
    busybox("rm", "web")
    busybox("network", "rm", "appnet")
    assert "appnet" not in busybox("network", "ls").stdout
    assert not any(n.startswith("rk") for n in links())


def test_network_commands_refuse_bad_input(busybox):
    assert busybox("network", "create", "--subnet", "10.0.0.0/33", "x",
                   check=False).returncode == 1
    busybox("network", "create", "--subnet", "10.55.0.0/24", "n1")
    p = busybox("network", "create", "--subnet", "10.55.0.0/25", "n2", check=False)
    assert p.returncode == 1 and "overlaps" in p.stderr
    p = busybox("network", "create", "n1", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    p = busybox("run", "--rm", "--network", "nosuch", "busybox", "true", check=False)
    assert p.returncode == 125 and "not found" in p.stderr
    p = busybox("run", "--rm", "--network", "n1", "--ip", "10.55.0.1", "busybox", "true",
                check=False)
    assert p.returncode == 125 and "gateway" in p.stderr
    assert busybox("ps", "-aq").stdout.strip() == ""  # nothing half-made is left
    p = busybox("network", "rm", "bridge", check=False)
    assert p.returncode == 1 and "pre-defined" in p.stderr
    assert busybox("network", "prune").stdout.split() == ["Deleted", "Networks:", "n1"]


def test_static_address_and_restart_keeps_the_address(busybox):
    busybox("network", "create", "--subnet", "10.66.0.0/24", "fixed")
    run_d(busybox, "--name", "s", "--network", "fixed", "--ip", "10.66.0.50", "busybox",
          "sleep", "60")
    wait_running(busybox, "s")
    assert eth0_address(busybox, "s") == "10.66.0.50"
    run_d(busybox, "--name", "t", "--network", "fixed", "busybox", "sleep", "60")
    wait_running(busybox, "t")
    before = eth0_address(busybox, "t")
    busybox("restart", "-t", "1", "t")
    wait_running(busybox, "t")
    assert eth0_address(busybox, "t") == before
    p = busybox("run", "-d", "--network", "fixed", "--ip", "10.66.0.50", "busybox", "true",
                check=False)
    assert p.returncode == 125 and "already in use" in p.stderr


def test_internal_network_has_no_way_out(busybox, host_address):
    busybox("network", "create", "--internal", "closed")
    out = busybox("run", "--rm", "--network", "closed", "busybox", "sh", "-c",
                  f"ip route; timeout 3 nc {HOST_IP} 9 </dev/null; echo rc=$?",
                  check=False).stdout
    assert "default" not in out and "rc=0" not in out


def test_outside_names_go_to_the_upstream_resolver(busybox):
    """A tiny resolver on 127.0.0.53 of the test namespace answers every A question with
    10.1.2.3; a container on a user network asks its 127.0.0.11, which forwards."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.53", 53))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                q, addr = srv.recvfrom(512)
            except OSError:
                continue
            end = 12
            while q[end]:
                end += q[end] + 1
            question = q[12:end + 5]
            ans = (q[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question
                   + b"\xc0\x0c\x00\x01\x00\x01" + struct.pack(">IH", 60, 4)
                   + socket.inet_aton("10.1.2.3"))
            srv.sendto(ans, addr)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        busybox("network", "create", "dnsnet")
        out = busybox("run", "--rm", "--network", "dnsnet", "--dns", "127.0.0.53", "busybox",
                      "nslookup", "example.test").stdout
        assert "Address: 10.1.2.3" in out
    finally:
        stop.set()
        t.join()
        srv.close()


# ---- published ports --------------------------------------------------------------------------
def test_publish_tcp_on_localhost_the_host_address_and_hairpin(busybox, host_address):
    port = free_port()
    run_d(busybox, *httpd("--name", "pub", "-p", f"{port}:80"))
    wait_running(busybox, "pub")
    hostname = inspect(busybox, "pub")["Config"]["Hostname"]
    assert body(wait_for(lambda: http_get("127.0.0.1", port), what="port")) == hostname
    assert body(http_get(HOST_IP, port)) == hostname
    assert busybox("port", "pub").stdout.strip() == f"80/tcp -> 0.0.0.0:{port}"
    assert busybox("port", "pub", "80").stdout.strip() == f"0.0.0.0:{port}"
    # hairpin: another container through the host's address, and the container itself
    out = busybox("run", "--rm", "busybox", "wget", "-q", "-O", "-",
                  f"http://{HOST_IP}:{port}/hostname").stdout
    assert out.strip() == hostname
    out = busybox("exec", "pub", "wget", "-q", "-O", "-",
                  f"http://{HOST_IP}:{port}/hostname").stdout
    assert out.strip() == hostname
    # the client's address is kept for traffic from the host's other address
    assert "rk:" in rocker_table()
    busybox("rm", "-f", "pub")
    assert rocker_table() == ""
    with pytest.raises(OSError):
        http_get("127.0.0.1", port, timeout=1)


def test_publish_udp_and_a_random_port(busybox):
    run_d(busybox, "--name", "u", "-p", "127.0.0.1::7777/udp", "busybox", "sleep", "60")
    wait_running(busybox, "u")
    line = busybox("port", "u").stdout.strip()
    assert line.startswith("7777/udp -> 127.0.0.1:")
    port = int(line.rsplit(":", 1)[1])
    pid = inspect(busybox, "u")["State"]["Pid"]
    # a UDP echo server inside the container's network namespace (busybox has none)
    echo = subprocess.Popen(["nsenter", "-t", str(pid), "-n", VENV_PY, "-c",
                             "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                             "s.bind(('0.0.0.0',7777))\nprint('ready',flush=True)\n"
                             "d,a=s.recvfrom(100)\ns.sendto(b'echo:'+d,a)\n"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout.readline().strip() == "ready"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.sendto(b"ping", ("127.0.0.1", port))
            assert c.recvfrom(100)[0] == b"echo:ping"
        echo.wait(5)
    finally:
        if echo.poll() is None:
            echo.kill()
            echo.wait()


def test_port_in_use_is_refused_and_leaves_nothing(busybox):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        before = links()
        p = busybox("run", "-d", "--name", "c1", "-p", f"127.0.0.1:{port}:80", "busybox",
                    "sleep", "60", check=False)
        assert p.returncode == 125 and "already in use" in p.stderr, p.stderr
        assert links() == before and rocker_table() == ""
        # no lease, no container: the network has nobody on it
        net = json.loads(busybox("network", "inspect", "bridge").stdout)[0]
        assert net["Containers"] == {}, net
        ps = json.loads(busybox("ps", "-a", "--format", "json").stdout)
        assert "c1" not in [c["Name"] for c in ps]
    finally:
        holder.close()
    # another container holding the port
    port = free_port()
    run_d(busybox, "--name", "c2", "-p", f"{port}:80", "busybox", "sleep", "60")
    wait_running(busybox, "c2")
    p = busybox("run", "-d", "--name", "c3", "-p", f"{port}:80", "busybox", "sleep", "60",
                check=False)
    assert p.returncode == 125 and "already in use" in p.stderr


def test_reload_rebuilds_the_table_after_a_flush(busybox):
    port = free_port()
    run_d(busybox, *httpd("--name", "rl", "-p", f"127.0.0.1:{port}:80"))
    wait_running(busybox, "rl")
    wait_for(lambda: http_get("127.0.0.1", port), what="port")
    subprocess.run(["nft", "delete", "table", "ip", "rocker"], check=True)
    with pytest.raises(OSError):
        http_get("127.0.0.1", port, timeout=1)
    busybox("network", "reload")
    assert body(http_get("127.0.0.1", port)) == inspect(busybox, "rl")["Config"]["Hostname"]


# ---- crashes ----------------------------------------------------------------------------------
def test_kill_9_of_monitor_and_container_leaves_no_veth_and_rm_reclaims(busybox):
    port = free_port()
    cid = run_d(busybox, "--name", "k", "-p", f"{port}:80", "busybox", "sleep", "60")
    st = wait_running(busybox, "k")
    veth = f"rk{cid[:12]}0"
    assert veth in links()
    os.kill(st["MonitorPid"], 9)
    os.kill(st["Pid"], 9)
    wait_for(lambda: veth not in links(), what="the kernel to delete the veth")
    busybox("rm", "-f", "k")
    assert not any(n.startswith("rk") for n in links())
    assert rocker_table() == ""
    state = json.loads(open(os.path.join(busybox.root, "networks", "state.json")).read())
    assert not any(state["leases"].values())
    # the port is free again
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))


def test_killed_monitor_alone_keeps_the_container_networked(busybox):
    run_d(busybox, *httpd("--name", "m", "--network", "bridge"))
    st = wait_running(busybox, "m")
    ip = eth0_address(busybox, "m")
    os.kill(st["MonitorPid"], 9)
    time.sleep(0.3)
    out = busybox("run", "--rm", "busybox", "wget", "-q", "-O", "-",
                  f"http://{ip}/hostname").stdout
    assert out.strip() == inspect(busybox, "m")["Config"]["Hostname"]


# ---- connect / disconnect --------------------------------------------------------------------
def addresses(r, ref: str) -> dict[str, str]:
    out = r("exec", ref, "ip", "-o", "-4", "addr", "show").stdout
    return {line.split()[1]: line.split()[3].split("/")[0] for line in out.splitlines()
            if line.split()[1] != "lo"}


def test_connect_and_disconnect_a_running_and_a_stopped_container(busybox):
    busybox("network", "create", "n1")
    run_d(busybox, *httpd("--name", "a"))
    run_d(busybox, *httpd("--name", "b", "--network", "n1"))
    wait_running(busybox, "a")
    wait_running(busybox, "b")
    assert list(addresses(busybox, "a")) == ["eth0"]
    busybox("network", "connect", "--alias", "aa", "n1", "a")
    have = addresses(busybox, "a")
    assert list(have) == ["eth0", "eth1"] and have["eth1"].startswith("10.87.1.")
    # names work at once, both ways, and the default route stayed on eth0
    assert "nameserver 127.0.0.11" in busybox("exec", "a", "cat", "/etc/resolv.conf").stdout
    host_b = inspect(busybox, "b")["Config"]["Hostname"]
    assert busybox("exec", "a", "wget", "-q", "-O", "-", "http://b/hostname").stdout.strip() \
        == host_b
    host_a = inspect(busybox, "a")["Config"]["Hostname"]
    assert busybox("exec", "b", "wget", "-q", "-O", "-", "http://aa/hostname").stdout.strip() \
        == host_a
    route = busybox("exec", "a", "ip", "route").stdout
    assert route.count("default") == 1 and "dev eth0" in route.split("default")[1].split("\n")[0]
    nets = inspect(busybox, "a")["NetworkSettings"]["Networks"]
    assert set(nets) == {"bridge", "n1"}
    # refused: twice, an unknown network, a container in another mode
    p = busybox("network", "connect", "n1", "a", check=False)
    assert p.returncode != 0 and "already on network n1" in p.stderr
    p = busybox("network", "connect", "nope", "a", check=False)
    assert p.returncode != 0 and "network nope not found" in p.stderr
    # disconnect: the interface goes, the names go
    busybox("network", "disconnect", "n1", "a")
    assert list(addresses(busybox, "a")) == ["eth0"]
    p = busybox("exec", "b", "sh", "-c", "timeout 3 nslookup aa; echo rc=$?", check=False)
    assert "rc=0" not in p.stdout
    net = json.loads(busybox("network", "inspect", "n1").stdout)[0]
    assert [c["Name"] for c in net["Containers"].values()] == ["b"]
    # a stopped container joins at its next start
    busybox("stop", "-t", "1", "a")
    busybox("network", "connect", "n1", "a")
    busybox("start", "a")
    wait_running(busybox, "a")
    assert list(addresses(busybox, "a")) == ["eth0", "eth1"]
    # leaving the last networks leaves only lo after the next start
    busybox("network", "disconnect", "n1", "a")
    busybox("network", "disconnect", "bridge", "a")
    assert addresses(busybox, "a") == {}
    busybox("restart", "-t", "1", "a")
    wait_running(busybox, "a")
    assert addresses(busybox, "a") == {}
    assert inspect(busybox, "a")["HostConfig"]["NetworkMode"] == "none"
    busybox("rm", "-f", "a", "b")
    busybox("network", "rm", "n1")
    assert not any(n.startswith("rk") for n in links())
