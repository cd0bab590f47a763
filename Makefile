# rocker: the two commands of README.md are `make demo` and `make test`.
# Both install everything they need (Debian packages, .venv, the base image) on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
ROCKER := $(VENV)/bin/rocker
APT_PACKAGES := busybox-static iproute2 iptables procps util-linux python3-venv
DEMO_ROOT ?= /tmp/rocker-demo

.PHONY: deps venv image demo test unit integration bench clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PY): pyproject.toml
	/usr/bin/python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	@touch $(PY)

venv: deps $(PY)

base-image/busybox.tar: base-image/build.sh
	bash base-image/build.sh

image: deps base-image/busybox.tar

demo: venv image
	@bash examples/demo.sh $(DEMO_ROOT)

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv image
	$(PY) -m pytest -q tests/integration

test: venv image
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/integration

bench: venv image
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) base-image/busybox.tar
