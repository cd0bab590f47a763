#!/usr/bin/env bash
# The main job, as README.md's first command shows it: import the base image, run a container,
# then bring up the example stack with `rocker apply` and show what is running.
set -euo pipefail
cd "$(dirname "$0")/.."
R=".venv/bin/rocker"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
say rocker import base-image/busybox.tar busybox
$R import base-image/busybox.tar busybox
say rocker images
$R images
say rocker run --rm busybox echo "hello from a rocker container"
$R run --rm busybox echo "hello from a rocker container"
say rocker run --rm busybox sh -c 'echo "pid $$ on $(hostname), $(ls /proc | grep -c "^[0-9]") process(es) visible"'
$R run --rm busybox sh -c 'echo "pid $$ on $(hostname), $(ls /proc | grep -c "^[0-9]") process(es) visible"'
if [ -f examples/web.yaml ] && $R diff --help >/dev/null 2>&1; then
    say rocker apply -f examples/web.yaml -y
    $R apply -f examples/web.yaml -y --wait
    say rocker status -f examples/web.yaml
    $R status -f examples/web.yaml
    say rocker diff -f examples/web.yaml
    $R diff -f examples/web.yaml || true
    say "wget -q -O - http://127.0.0.1:8080/   # web's published port"
    sleep 1
    busybox wget -q -O - http://127.0.0.1:8080/ || true
    say rocker logs --stack demo worker   # the workers fetch http://web:8080/ by name
    sleep 1
    $R logs --stack demo worker
    echo
    echo "The stack keeps running. Try: $R ps, $R logs --stack demo, $R delete -f examples/web.yaml"
fi
