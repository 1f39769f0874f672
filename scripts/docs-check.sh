#!/usr/bin/env bash
# Builds the API docs of one package (or several) with full validation, into a temp folder.
# Usage: scripts/docs-check.sh packages/brierlm [packages/core ...]
set -euo pipefail
args=()
for p in "$@"; do args+=(--entryPoints "$p"); done
out=$(mktemp -d)
exec pnpm exec typedoc --entryPointStrategy packages "${args[@]}" --out "$out" --readme none \
  --treatValidationWarningsAsErrors --treatWarningsAsErrors --validation.notDocumented --validation.invalidLink --validation.notExported
