#!/usr/bin/env bash
# Debian's Chromium for the run report's browser test (tests/test_report.py): installed when
# missing and apt-get can install it (as root). Otherwise nothing fails here: the test skips
# and says why.
set -uo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: no chromium, and apt-get cannot install it here; the browser test will skip" >&2
  exit 0
fi
install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    >/dev/null 2>&1
}
echo "Installing Debian's chromium for the browser test (one time)..." >&2
install || { apt-get update -qq >/dev/null 2>&1 && install; } \
  || echo "note: chromium did not install; the browser test will skip" >&2
exit 0
