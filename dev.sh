#!/usr/bin/env bash
# dev.sh: the project's entry point on a fresh Debian/Ubuntu machine, as root.
#   bash dev.sh demo    install everything, then show rocker's main job
#   bash dev.sh test    install everything, then run the whole test suite
#   bash dev.sh bench   install everything, then run the benchmarks
#   bash dev.sh setup   only install (Debian packages, .venv, base image)
# Installing is idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES="python3 python3-venv busybox-static iproute2 iptables nftables procps util-linux runc skopeo docker-registry podman golang-1.19-go make containerd"
VENV=.venv

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "dev.sh: run this as root (rocker creates namespaces, mounts and cgroups)" >&2
        exit 1
    fi
}

install_apt() {
    local missing=""
    for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        echo "== installing Debian packages:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
}

install_venv() {
    local stamp=$VENV/.installed
    if [ ! -x $VENV/bin/python ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "== creating $VENV and installing rocker with its dependencies"
        /usr/bin/python3 -m venv $VENV
        $VENV/bin/python -m pip install -q --upgrade pip
        $VENV/bin/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
        touch "$stamp"
    fi
    # byte-compile rocker itself: with PYTHONDONTWRITEBYTECODE set, every start would
    # otherwise compile the sources again (tens of milliseconds per command)
    $VENV/bin/python -m compileall -q rocker >/dev/null
}

install_image() {
    if [ ! -s base-image/busybox.tar ] || [ base-image/build.sh -nt base-image/busybox.tar ]; then
        echo "== building base-image/busybox.tar"
        bash base-image/build.sh
    fi
}

setup() {
    need_root
    install_apt
    install_venv
    install_image
}

case "${1:-}" in
    setup) setup ;;
    demo) setup; exec bash examples/demo.sh ;;
    test)
        setup
        shift
        exec $VENV/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/integration "$@"
        ;;
    bench)
        setup
        for b in bench/bench_*.py; do echo "== $b"; $VENV/bin/python "$b"; done
        ;;
    *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
