#!/usr/bin/env bash
# Installs what forescale needs from Debian when it is missing: python3-venv (for
# `python3 -m venv`), redis-server, prometheus (with promtool), and what compiles the
# decision core with mypyc (scripts/build_core.py): gcc, and python3-dev where the
# interpreter's headers are missing. Run by `make`.
set -euo pipefail
missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
# optional: without them the core runs in pure Python (same results, slower)
optional=()
command -v gcc >/dev/null || optional+=(gcc libc6-dev)  # --no-install-recommends leaves out libc6-dev
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || optional+=(python3-dev)
if [ "$(id -u)" -ne 0 ]; then
  if [ ${#optional[@]} -gt 0 ]; then
    echo "forescale compiles its decision core with these Debian packages: ${optional[*]}" >&2
    echo "(without them it runs in pure Python: sudo apt-get install -y ${optional[*]})" >&2
  fi
  optional=()
fi
missing+=("${optional[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "forescale needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing from Debian: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
