#!/usr/bin/env bash
# Install the pinned uv (scripts/uv-requirements.txt, checked against its sha256 hashes) into a
# tools directory, needing nothing but python3. `make` calls this once per clone.
#   usage: scripts/bootstrap-uv.sh [PYTHON] [TOOLS_DIR]      (defaults: python3 .venv-tools)
# The fast path uses python3's own pip with --target (about 2 s); without pip (Debian's bare
# python3) it makes a venv and uses the venv's pip (about 5 s more; needs python3-venv).
set -euo pipefail

python=${1:-python3}
tools=${2:-.venv-tools}
requirements="$(cd "$(dirname "$0")" && pwd)/uv-requirements.txt"
export PIP_ROOT_USER_ACTION=ignore  # pip --target into a private directory, not the system
pip_flags=(--quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes)

if ! command -v "$python" >/dev/null 2>&1; then
  echo "bootstrap-uv: $python not found; install Python 3.11 or later" >&2
  exit 1
fi
rm -rf "$tools"
if "$python" -m pip --version >/dev/null 2>&1 \
  && "$python" -m pip install "${pip_flags[@]}" --target "$tools" -r "$requirements"; then
  :
else
  rm -rf "$tools"
  if ! "$python" -m venv "$tools"; then
    echo "bootstrap-uv: '$python -m venv' failed; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
    exit 1
  fi
  "$tools/bin/python" -m pip install "${pip_flags[@]}" -r "$requirements"
fi
"$tools/bin/uv" --version
