#!/usr/bin/env bash
# The example notebooks (examples/notebooks): sets up Jupyter with the tslab TypeScript kernel from
# the repository's own files, then executes every notebook headlessly (what CI runs), or opens them.
#
#   scripts/notebooks.sh                 # execute every notebook in small-data mode; fail on any cell error
#   scripts/notebooks.sh 01 03           # only the notebooks whose names start with these prefixes
#   scripts/notebooks.sh --scripts       # also run each example as a plain script (tsx)
#   scripts/notebooks.sh --full          # full mode (CALM_FULL=1): much longer
#   scripts/notebooks.sh --open [args]   # set up, then start Jupyter Notebook on examples/notebooks
#
# Set-up, each step skipped when already done: Debian packages (jupyter-nbconvert and friends;
# installed with apt-get when running as root), the workspace (pnpm install), builds of the @calm
# packages the notebooks import (the kernel loads their dist/, like an installed package), the tslab
# kernel spec in .jupyter-kernel/ (git-ignored), and a check that each committed .ipynb is up to date
# with its .ts source (regenerate with: pnpm exec tsx examples/notebooks/build.ts). Notebooks 1 and 2
# are also run as scripts with every @tensorflow/* import forbidden: they must work without tfjs.
# Executed copies go to $CALM_NOTEBOOKS_OUT (default: a temporary folder), never into the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NB=examples/notebooks

open=0
scripts=0
filters=()
open_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --open) open=1; shift; open_args=("$@"); break ;;
    --scripts) scripts=1 ;;
    --full) export CALM_FULL=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "notebooks.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) filters+=("$1") ;;
  esac
  shift
done

PNPM_VERSION=$(node -p "require('./package.json').calm.pnpmVersion")
pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(command pnpm --version 2>/dev/null)" = "$PNPM_VERSION" ]; then command pnpm "$@"; else npx -y "pnpm@$PNPM_VERSION" "$@"; fi
}
say() { echo "[notebooks] $*"; }

# 1. Debian packages: Jupyter's nbconvert/nbclient/notebook for the system python3, a font for plots,
#    and with --open the Notebook server. CALM_JUPYTER=/path/to/jupyter (with CALM_PYTHON, the
#    python whose jupyter_client installs kernel specs) uses your own Jupyter instead, e.g. on macOS.
if [ -n "${CALM_JUPYTER:-}" ]; then
  JUPYTER=$CALM_JUPYTER
  PY=${CALM_PYTHON:-python3}
else
  PY=/usr/bin/python3
  need=()
  [ -x /usr/bin/jupyter-nbconvert ] || need+=(jupyter-nbconvert)
  [ -x "$PY" ] && "$PY" -c 'import ipykernel' 2>/dev/null || need+=(python3-ipykernel)
  [ -x "$PY" ] && "$PY" -c 'import nbclient' 2>/dev/null || need+=(python3-nbclient)
  [ -x /usr/bin/jupyter-kernelspec ] || need+=(jupyter-client)
  [ -x "$PY" ] && "$PY" -c 'import notebook' 2>/dev/null || need+=(python3-notebook)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
  [ $open = 0 ] || [ -x /usr/bin/jupyter-notebook ] || need+=(jupyter-notebook) # the server behind --open
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian packages: ${need[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
      echo "missing Debian packages: ${need[*]}; install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
      echo "(or use your own Jupyter: CALM_JUPYTER=\$(command -v jupyter) CALM_PYTHON=python3 $0 ...)" >&2
      exit 1
    fi
  fi
  JUPYTER=/usr/bin/jupyter
fi

# 2. The workspace (tslab, vega, tfjs, the @calm packages).
if [ ! -x "$NB/node_modules/.bin/tslab" ]; then
  say "installing the workspace"
  node scripts/setup.mjs
fi

# 3. Builds: the kernel type-checks against dist/*.d.ts and runs dist/*.js (tslab ignores the
#    @calm/source condition that tests and tsx use), so build what is missing or older than its src/.
stale=()
filter=()
for pkg in $(node -p "Object.keys(require('./$NB/package.json').dependencies).filter((d) => d.startsWith('@calm/')).map((d) => d.slice(6)).join(' ')"); do
  dir=packages/$pkg
  if [ ! -f "$dir/dist/index.js" ] || [ -n "$(find "$dir/src" "$dir/package.json" -newer "$dir/dist/index.js" -print -quit)" ]; then
    stale+=("@calm/$pkg")
    filter+=(--filter "@calm/$pkg")
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  say "building ${stale[*]} (dist/ missing or older than src/)"
  log=$(mktemp -t calm-notebooks-build.XXXXXX)
  pnpm "${filter[@]}" run build >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "build failed (full log: $log)" >&2; exit 1; }
fi

# 4. The tslab kernel spec, installed into .jupyter-kernel/ from node_modules; it starts the kernel
#    through lib/tslab-kernel.cjs, which keeps tslab alive when files change during a session.
TSLAB=$ROOT/$NB/node_modules/.bin/tslab
LAUNCHER=$ROOT/$NB/lib/tslab-kernel.cjs
SPEC=.jupyter-kernel/share/jupyter/kernels/tslab/kernel.json
if [ ! -f "$SPEC" ] || ! grep -qF "\"$LAUNCHER\"" "$SPEC" || ! grep -qF "\"$(command -v node)\"" "$SPEC"; then
  say "installing the tslab kernel into .jupyter-kernel/"
  "$TSLAB" install --python "$PY" --binary "$TSLAB" --prefix "$ROOT/.jupyter-kernel" >/dev/null
  node -e '
    const [file, launcher] = process.argv.slice(1);
    const spec = JSON.parse(require("fs").readFileSync(file, "utf8"));
    spec.argv = [process.execPath, launcher, "kernel", "--config-path", "{connection_file}"];
    require("fs").writeFileSync(file, JSON.stringify(spec, null, 1) + "\n");
  ' "$SPEC" "$LAUNCHER"
fi
export JUPYTER_PATH=$ROOT/.jupyter-kernel/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}

# 5. Notebooks must match their sources (the .ts files are the single source of truth).
pnpm exec tsx "$NB/build.ts" --check

if [ $open = 1 ]; then
  say "starting Jupyter Notebook on $NB (kernel: TypeScript); stop it with Ctrl-C"
  root_flag=()
  [ "$(id -u)" != 0 ] || root_flag=(--allow-root) # Jupyter refuses to run as root without it
  exec "$JUPYTER" notebook --notebook-dir="$ROOT/$NB" "${root_flag[@]}" "${open_args[@]}"
fi

# 6. Execute.
out=${CALM_NOTEBOOKS_OUT:-$(mktemp -d -t calm-notebooks.XXXXXX)}
mkdir -p "$out"
selected=()
for f in "$NB"/[0-9][0-9]-*.ipynb; do
  name=$(basename "$f")
  if [ ${#filters[@]} -eq 0 ]; then selected+=("$f"); continue; fi
  for p in "${filters[@]}"; do case "$name" in "$p"*) selected+=("$f"); break ;; esac; done
done
[ ${#selected[@]} -gt 0 ] || { echo "no notebook matches: ${filters[*]}" >&2; exit 2; }

passed=0
failed=0
run() { # label, log file, command...
  local label=$1 log=$2 t0 ms status=PASS
  shift 2
  t0=$(date +%s%N)
  "$@" >"$log" 2>&1 || status=FAIL
  ms=$((($(date +%s%N) - t0) / 1000000))
  printf '%s  %-52s %5d.%d s\n' "$status" "$label" $((ms / 1000)) $(((ms % 1000) / 100))
  if [ $status = PASS ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "      log: $log"
    tail -n 40 "$log" | sed 's/^/      /'
  fi
}
say "executing ${#selected[@]} notebook(s)${CALM_FULL:+ in full mode}; executed copies in $out"
execute() { # notebook [extra nbconvert args]: executes into $out
  local f=$1
  shift
  "$JUPYTER" nbconvert --to notebook --execute --output-dir "$out" --ExecutePreprocessor.timeout=1800 \
    --ExecutePreprocessor.kernel_name=tslab "$@" "$f"
}
explain() { # notebook: tslab reports compile and run-time errors on the cell's stderr, which a
  # failing nbconvert does not print; run again without stopping and show those outputs.
  local name
  name=$(basename "$1" .ipynb)
  execute "$1" --allow-errors --output "$name.errors" >/dev/null 2>&1 || true
  "$PY" - "$out/$name.errors.ipynb" <<'PYEOF' | sed 's/^/      /'
import json, sys
try:
    nb = json.load(open(sys.argv[1]))
except OSError:
    sys.exit(0)
for cell in nb["cells"]:
    for o in cell.get("outputs", []):
        text = "".join(o.get("text", "")) if o["output_type"] == "stream" and o["name"] == "stderr" else ""
        if o["output_type"] == "error":
            text = f"{o['ename']}: {o['evalue']}"
        if text:
            print(f"cell {cell.get('id')}: {text.rstrip()[:2000]}")
PYEOF
}
for f in "${selected[@]}"; do
  name=$(basename "$f" .ipynb)
  before=$failed
  run "$name.ipynb" "$out/$name.log" execute "$f"
  [ $failed = "$before" ] || explain "$f"
done
for f in "${selected[@]}"; do
  name=$(basename "$f" .ipynb)
  if [ "$name" = 01-brierlm ] || [ "$name" = 02-temperature-sampling ]; then
    # The framework-free examples must not load TensorFlow.js, even transitively.
    run "$name.ts (script, @tensorflow/* imports forbidden)" "$out/$name.script.log" \
      node --conditions=@calm/source --import tsx --import "./$NB/lib/no-tfjs.mjs" "$NB/$name.ts"
  elif [ $scripts = 1 ]; then
    run "$name.ts (script)" "$out/$name.script.log" node --conditions=@calm/source --import tsx "$NB/$name.ts"
  fi
done
echo "notebooks: $passed passed, $failed failed"
[ $failed -eq 0 ]
