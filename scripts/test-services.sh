#!/usr/bin/env bash
# Debian packages some tests need: PostgreSQL (the study store against a real server) and Chromium (the study
# report rendered headless). Installed when missing and apt is usable; otherwise those tests are skipped (or fail
# under LOWDATA_REQUIRE_SERVICES=1, as in CI).
set -uo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "test-services: ${need[*]} missing and no root: those tests will be skipped"; exit 0; fi
fi
echo "test-services: installing ${need[*]} (apt)"
$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null \
  || echo "test-services: apt-get install ${need[*]} failed: those tests will be skipped (or fail in CI)"
exit 0
