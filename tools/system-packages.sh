#!/usr/bin/env bash
# Debian packages the test suite drives for real: Chromium (the browser tests) and nginx (the
# production serving path). Installs what is missing when it can (root, or sudo without a
# password); otherwise prints one line saying what to install, and fails.
set -euo pipefail

needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium fonts-dejavu-core)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || needed+=(nginx)
[ ${#needed[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "missing system packages: run 'sudo apt-get install ${needed[*]}' (Debian/Ubuntu), then make test again" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages (${needed[*]}) and no apt-get here: install them with your package manager" >&2
  exit 1
fi
echo "installing Debian packages: ${needed[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
