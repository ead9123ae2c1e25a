#!/usr/bin/env bash
# Installs what pbmem needs to build and test, on Debian 12 (bookworm) or 13 (trixie).
# Idempotent: apt runs (update + install) only when a package is missing, and pip installs only
# the Python packages that are absent or at another version than pinned.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive

# Each entry is one package, or alternatives separated by '|': the first one apt knows is
# installed when none of them is. The clang runtime (libFuzzer, sanitizers) must match the
# default clang: libclang-rt-14-dev on Debian 12; Debian 13 has no such package, and its
# libclang-rt-dev metapackage pulls in the runtime of its default clang (19).
APT_PACKAGES=(
  cmake
  ninja-build
  g++
  libdnnl-dev
  ocl-icd-opencl-dev
  libcli11-dev
  nlohmann-json3-dev
  libgtest-dev
  libgmock-dev
  clang
  "libclang-rt-14-dev|libclang-rt-dev"
  # Headless browser for tests/py/test_report_browser.py (renders `pbmem report` pages).
  chromium
)

PIP_PACKAGES=(
  tensorflow-cpu==2.21.0
  keras
  onnxruntime==1.30.0
  tf2onnx
  onnx
  opencv-python-headless
  numpy
  pytest
  pybind11
)

log() { echo "install_deps: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# True when apt has an installable candidate for the package.
apt_knows() {
  local candidate
  candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

install_apt_packages() {
  local missing=() entry alt satisfied
  for entry in "${APT_PACKAGES[@]}"; do
    satisfied=0
    IFS='|' read -r -a alts <<<"$entry"
    for alt in "${alts[@]}"; do
      if is_installed "$alt"; then satisfied=1; break; fi
    done
    [ "$satisfied" -eq 1 ] || missing+=("$entry")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt packages: all present"
    return
  fi
  log "apt packages missing: ${missing[*]}"
  as_root apt-get update
  local to_install=() chosen
  for entry in "${missing[@]}"; do
    chosen=""
    IFS='|' read -r -a alts <<<"$entry"
    for alt in "${alts[@]}"; do
      if apt_knows "$alt"; then chosen="$alt"; break; fi
    done
    if [ -z "$chosen" ]; then
      log "no apt package available for: $entry" >&2
      exit 1
    fi
    to_install+=("$chosen")
  done
  as_root apt-get install -y --no-install-recommends "${to_install[@]}"
}

install_pip_packages() {
  # Prints the requirements that are not satisfied by what is installed.
  local missing
  missing="$("$PYTHON" - "${PIP_PACKAGES[@]}" <<'PY'
import sys
from importlib import metadata

for requirement in sys.argv[1:]:
    name, _, pinned = requirement.partition("==")
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(requirement)
        continue
    if pinned and version != pinned:
        print(requirement)
PY
)"
  if [ -z "$missing" ]; then
    log "python packages: all present"
    return
  fi
  log "python packages missing: $(echo $missing)"
  local extra=()
  # Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
  local marker='import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'
  if "$PYTHON" -c "$marker"; then
    extra+=(--break-system-packages)
  fi
  # shellcheck disable=SC2086  # one requirement per word
  "$PYTHON" -m pip install "${extra[@]}" $missing
}

install_apt_packages
install_pip_packages
log "done"
