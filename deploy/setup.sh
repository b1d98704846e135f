#!/usr/bin/env bash
# Installs what vine needs to build, run and test, idempotently:
# Debian packages (libvirt headers, wbemcli) and a Python venv with the
# third-party CIM clients the interop tests use. Safe to run repeatedly.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

# haproxy: the load balancer in front of virtual servers (issue 4).
# chromium, chromium-driver: the console's browser tests (WebDriver).
apt_packages=(pkg-config libvirt-dev libvirt-clients libxml2-utils qemu-system-x86 libvirt-daemon-system sblim-wbemcli curl haproxy chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating Python venv in $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pywbem, pywbemtools, pytest" 2>/dev/null; then
  echo "setup: installing pywbem, pywbemtools and pytest into the venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pywbem>=1.7" "pywbemtools>=1.3" "pytest>=7"
fi
echo "setup: ok"
