#!/usr/bin/env bash
# Debian packages the tests need: zstd (test shards) and chromium (the browser test of examples/web,
# driven by playwright-core; Debian's build, since test tools cannot download their own browser
# here). Idempotent; skipped when already present.
set -euo pipefail
need=()
command -v zstd >/dev/null 2>&1 || need+=(zstd)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "missing Debian packages: ${need[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi
echo "system packages ok"
