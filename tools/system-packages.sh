#!/usr/bin/env bash
# Debian packages driven for real: by default what the test suite needs, Chromium (the browser tests)
# and nginx (the production serving path); `make bench` asks for nginx and wrk. Installs what is
# missing when it can (root, or sudo without a password); otherwise prints one line saying what to
# install, and fails.
#   bash tools/system-packages.sh [COMMAND...]     # commands: chromium nginx wrk
set -euo pipefail

[ $# -eq 0 ] && set -- chromium nginx
needed=()
for command in "$@"; do
  case "$command" in
    chromium) command -v chromium >/dev/null 2>&1 || needed+=(chromium fonts-dejavu-core) ;;
    nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || needed+=(nginx) ;;
    wrk) command -v wrk >/dev/null 2>&1 || needed+=(wrk) ;;
    *) echo "system-packages: unknown command $command (chromium, nginx or wrk)" >&2; exit 2 ;;
  esac
done
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
