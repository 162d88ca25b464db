#!/usr/bin/env bash
# System packages the test suite drives for real: PostgreSQL 15 binaries (store tests) and
# Debian's Chromium (browser tests). Installed when missing and running as root; otherwise the
# suite stops here with the command to run. kubectl (tests/test_deploy.py renders the
# Kubernetes manifests with `kubectl kustomize`) is only checked: Debian's own is too old.
set -euo pipefail

missing=()
pg_bin=""
for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_bin="$dir"; break; fi
done
[ -n "$pg_bin" ] || command -v initdb >/dev/null 2>&1 || missing+=(postgresql-15)
# The browser tests drive Debian's Chromium at this path (tests/test_browser_console.py);
# `playwright install` is never used: its browser downloads are not reachable here.
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test prerequisites: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "test prerequisites missing: ${missing[*]}" >&2
    echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    echo "(or run make test as root, which installs them)" >&2
    exit 1
  fi
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "test prerequisites missing: kubectl 1.21 or later (for \`kubectl kustomize\`)" >&2
  echo "install it as https://kubernetes.io/docs/tasks/tools/ shows (package kubectl)" >&2
  exit 1
fi
