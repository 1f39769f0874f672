#!/usr/bin/env bash
# The example notebooks (examples/notebooks): sets up Jupyter with the tslab TypeScript kernel from
# the repository's own files, then executes every notebook headlessly (what CI runs), or opens them.
#
#   scripts/notebooks.sh                 # execute every notebook in small-data mode; fail on any cell error
#   scripts/notebooks.sh 01 03           # only the notebooks whose names start with these prefixes
#   scripts/notebooks.sh --scripts       # also run each example as a plain script (tsx), and the no-tfjs check
#   scripts/notebooks.sh --full          # full mode (CALM_FULL=1): much longer
#   scripts/notebooks.sh --open [args]   # set up, then start Jupyter Notebook on examples/notebooks
#   scripts/notebooks.sh --no-tfjs [01]  # the framework-free notebooks (1, 2) from a folder of their own
#                                        # that holds no @tensorflow package (with --open: open them there)
#
# Set-up, each step skipped when already done: Debian packages (jupyter-nbconvert and friends;
# installed with apt-get when running as root), the workspace (pnpm install), builds of the @calm
# packages the notebooks import (the kernel loads their dist/, like an installed package), the tslab
# kernel spec in .jupyter-kernel/ (git-ignored), and a check that each committed .ipynb is up to date
# with its .ts source (regenerate with: pnpm exec tsx examples/notebooks/build.ts). Notebooks 1 and 2
# are also run as scripts with every @tensorflow/* import forbidden: they must work without tfjs.
# Executed copies go to $CALM_NOTEBOOKS_OUT (default: a temporary folder), never into the repo.
#
# The no-tfjs check (--no-tfjs, and part of --scripts for notebooks 1 and 2): `pnpm deploy` copies
# the private package examples/notebooks/no-tfjs (the framework-free notebooks' dependencies and
# nothing else) with its production dependency closure into a new temporary folder, the check fails
# if any @tensorflow package is there, then the notebooks and lib/ are copied beside it and run from
# there: executed with the tslab kernel installed from that folder, and as scripts (--scripts) with
# @tensorflow/* imports forbidden; with --scripts the packed brierlm CLI installed there also scores
# an n-gram (scripts/no-tfjs/ngram-generator.mjs) with --samples-per-position 8. With --no-tfjs alone on a fresh clone, the install step installs
# only that package's closure and the repository's build tools, so no tfjs is installed anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NB=examples/notebooks

open=0
scripts=0
no_tfjs=0
filters=()
open_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --open) open=1; shift; open_args=("$@"); break ;;
    --scripts) scripts=1 ;;
    --full) export CALM_FULL=1 ;;
    --no-tfjs) no_tfjs=1 ;;
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

# The framework-free notebooks and the package that holds their dependencies (nothing else).
FREE_DIR=$NB/no-tfjs
FREE_PKG=$(node -p "require('./$FREE_DIR/package.json').name")
read -r -a FREE <<<"$(node -p "require('./$FREE_DIR/package.json').calm.notebooks.join(' ')")"
is_free() { local n; for n in "${FREE[@]}"; do [ "$n" != "$1" ] || return 0; done; return 1; }

# The notebooks to run: all, or those whose names start with one of the given prefixes; with
# --no-tfjs, only framework-free ones.
selected=()
for f in "$NB"/[0-9][0-9]-*.ipynb; do
  name=$(basename "$f" .ipynb)
  if [ ${#filters[@]} -eq 0 ]; then
    if [ $no_tfjs = 0 ] || is_free "$name"; then selected+=("$name"); fi
    continue
  fi
  for p in "${filters[@]}"; do
    case "$name" in "$p"*)
      if [ $no_tfjs = 1 ] && ! is_free "$name"; then
        echo "$name needs TensorFlow.js; --no-tfjs runs only ${FREE[*]}" >&2
        exit 2
      fi
      selected+=("$name")
      break ;;
    esac
  done
done
[ ${#selected[@]} -gt 0 ] || { echo "no notebook matches: ${filters[*]}" >&2; exit 2; }
for n in "${FREE[@]}"; do [ -f "$NB/$n.ts" ] || { echo "$FREE_DIR/package.json lists $n, but $NB/$n.ts does not exist" >&2; exit 1; }; done

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

# 2. The workspace (tslab, vega, tfjs, the @calm packages). With --no-tfjs, only the framework-free
#    notebooks' package, its workspace dependencies and the root's build tools (tsup, tsx): no tfjs.
if [ $no_tfjs = 1 ]; then
  if [ ! -x "$FREE_DIR/node_modules/.bin/tslab" ]; then
    say "installing $FREE_PKG's dependencies and the build tools only (no @tensorflow/* package)"
    install_args=(--filter-prod "$FREE_PKG..." --filter "$(node -p "require('./package.json').name")")
    [ -z "${CI:-}" ] || install_args+=(--frozen-lockfile)
    log=$(mktemp -t calm-notebooks-install.XXXXXX)
    if ! pnpm install --offline "${install_args[@]}" >"$log" 2>&1; then
      say "not everything is in the pnpm store; installing from the registry"
      pnpm install --prefer-offline "${install_args[@]}"
    fi
  fi
elif [ ! -x "$NB/node_modules/.bin/tslab" ]; then
  say "installing the workspace"
  node scripts/setup.mjs
fi

# 3. Builds: the kernel type-checks against dist/*.d.ts and runs dist/*.js (tslab ignores the
#    @calm/source condition that tests and tsx use), so build what is missing or older than its src/.
stale=()
filter=()
manifest=$NB/package.json
[ $no_tfjs = 0 ] || manifest=$FREE_DIR/package.json
for pkg in $(node -p "Object.keys(require('./$manifest').dependencies).filter((d) => d.startsWith('@calm/')).map((d) => d.slice(6)).join(' ')"); do
  dir=packages/$pkg
  if [ ! -f "$dir/dist/index.js" ] || [ ! -f "$dir/dist/index.d.ts" ] || [ -n "$(find "$dir/src" "$dir/package.json" -newer "$dir/dist/index.js" -print -quit)" ]; then
    stale+=("@calm/$pkg")
    filter+=(--filter "@calm/$pkg")
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  say "building ${stale[*]} (dist/ missing or older than src/)"
  log=$(mktemp -t calm-notebooks-build.XXXXXX)
  # No install before the run: after a --no-tfjs install it would add the devDependencies of
  # @calm/testing (tfjs), which the build does not need.
  pnpm --config.verify-deps-before-run=false "${filter[@]}" run build >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "build failed (full log: $log)" >&2; exit 1; }
fi

# 4. The tslab kernel spec, installed into .jupyter-kernel/ from node_modules; it starts the kernel
#    through lib/tslab-kernel.cjs, which keeps tslab alive when files change during a session.
install_kernel() { # prefix tslab launcher: writes prefix/share/jupyter/kernels/tslab/kernel.json
  local prefix=$1 tslab=$2 launcher=$3
  local spec=$prefix/share/jupyter/kernels/tslab/kernel.json
  if [ ! -f "$spec" ] || ! grep -qF "\"$launcher\"" "$spec" || ! grep -qF "\"$(command -v node)\"" "$spec"; then
    "$tslab" install --python "$PY" --binary "$tslab" --prefix "$prefix" >/dev/null || return 1
    node -e '
      const [file, launcher] = process.argv.slice(1);
      const spec = JSON.parse(require("fs").readFileSync(file, "utf8"));
      spec.argv = [process.execPath, launcher, "kernel", "--config-path", "{connection_file}"];
      require("fs").writeFileSync(file, JSON.stringify(spec, null, 1) + "\n");
    ' "$spec" "$launcher"
  fi
}
KERNELS=$ROOT/.jupyter-kernel/share/jupyter # where execute() looks for the kernel spec
if [ $no_tfjs = 0 ]; then
  [ -f "$KERNELS/kernels/tslab/kernel.json" ] || say "installing the tslab kernel into .jupyter-kernel/"
  install_kernel "$ROOT/.jupyter-kernel" "$ROOT/$NB/node_modules/.bin/tslab" "$ROOT/$NB/lib/tslab-kernel.cjs"
fi

# 5. Notebooks must match their sources (the .ts files are the single source of truth).
node --import tsx "$NB/build.ts" --check

# The no-tfjs folder: deploys the framework-free notebooks' package with its production dependency
# closure (pnpm deploy: hard-linked copies, the @calm packages packed as published), fails if any
# @tensorflow package is there, then copies notebooks and lib/ beside it and installs its own kernel.
DATA_DIR=${CALM_DATA_DIR:-$(cd "$ROOT/.." && pwd)/shared/data} # the deployed notebooks are outside the repo
deploy_free() { # folder notebook... (also runs where `set -e` is off: every step checks)
  local dir=$1 found n
  shift
  if ! pnpm --filter "$FREE_PKG" deploy --offline "$dir"; then
    echo "offline deploy failed (package metadata missing from pnpm's cache); retrying with the registry"
    rm -rf "$dir" && mkdir "$dir" && pnpm --filter "$FREE_PKG" deploy --prefer-offline "$dir" || return 1
  fi
  [ -f "$dir/pnpm-lock.yaml" ] && [ -d "$dir/node_modules/.pnpm" ] || { echo "pnpm deploy left no node_modules in $dir"; return 1; }
  found=$(find "$dir" \( -name '@tensorflow' -o -name '@tensorflow+*' \) -print | head -n 5)
  if [ -n "$found" ] || grep -q '@tensorflow/' "$dir/pnpm-lock.yaml"; then
    echo "$FREE_PKG's dependency closure contains @tensorflow packages:"
    echo "${found:-(see $dir/pnpm-lock.yaml)}"
    return 1
  fi
  echo "$(find "$dir/node_modules/.pnpm" -mindepth 1 -maxdepth 1 -name '*@*' | wc -l) packages in $dir/node_modules, none of them @tensorflow/*"
  mkdir -p "$dir/lib" && cp "$NB"/lib/* "$dir/lib/" || return 1
  for n in "$@"; do cp "$NB/$n.ts" "$NB/$n.ipynb" "$dir/" || return 1; done
  install_kernel "$dir/.jupyter-kernel" "$dir/node_modules/.bin/tslab" "$dir/lib/tslab-kernel.cjs"
}
in_dir() { # folder command...: runs the command there
  local dir=$1
  shift
  (cd "$dir" && "$@")
}

if [ $open = 1 ]; then
  root_flag=()
  [ "$(id -u)" != 0 ] || root_flag=(--allow-root) # Jupyter refuses to run as root without it
  if [ $no_tfjs = 1 ]; then
    dir=$(mktemp -d -t calm-notebooks-no-tfjs.XXXXXX)
    say "deploying $FREE_PKG into $dir"
    deploy_free "$dir" "${selected[@]}"
    say "starting Jupyter Notebook on $dir (kernel: TypeScript; edits stay there); stop it with Ctrl-C"
    JUPYTER_PATH=$dir/.jupyter-kernel/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH} CALM_DATA_DIR=$DATA_DIR \
      exec "$JUPYTER" notebook --notebook-dir="$dir" "${root_flag[@]}" "${open_args[@]}"
  fi
  say "starting Jupyter Notebook on $NB (kernel: TypeScript); stop it with Ctrl-C"
  JUPYTER_PATH=$KERNELS${JUPYTER_PATH:+:$JUPYTER_PATH} exec "$JUPYTER" notebook --notebook-dir="$ROOT/$NB" "${root_flag[@]}" "${open_args[@]}"
fi

# 6. Execute.
out=${CALM_NOTEBOOKS_OUT:-$(mktemp -d -t calm-notebooks.XXXXXX)}
mkdir -p "$out"
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
execute() { # notebook output-name [extra nbconvert args]: executes into $out/output-name.ipynb with the kernel in $KERNELS
  local f=$1 name=$2
  shift 2
  JUPYTER_PATH=$KERNELS${JUPYTER_PATH:+:$JUPYTER_PATH} "$JUPYTER" nbconvert --to notebook --execute --output-dir "$out" \
    --output "$name" --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=tslab "$@" "$f"
}
explain() { # notebook output-name: tslab reports compile and run-time errors on the cell's stderr,
  # which a failing nbconvert does not print; run again without stopping and show those outputs.
  execute "$1" "$2.errors" --allow-errors >/dev/null 2>&1 || true
  "$PY" - "$out/$2.errors.ipynb" <<'PYEOF' | sed 's/^/      /'
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
installed_brierlm_check() { # in the deployed folder: the packed brierlm's bin scores an n-gram with n = 8
  node_modules/.bin/brierlm --data "$CALM_DATA_DIR/wikitext-103-document-test.jsonl" --module ./ngram-generator.mjs \
    --limit 1 --samples-per-position 8 --output brierlm-n8.json --no-progress || return 1
  node -e 'const j = require("./brierlm-n8.json"); if (j.config.samples_per_position !== 8) { console.error("samples_per_position is", j.config.samples_per_position); process.exit(1); }'
}
free_check() { # notebook...: the no-tfjs check: deploy, then execute (and with --scripts run) them there
  local dir start=$failed before name
  dir=$(mktemp -d -t calm-notebooks-no-tfjs.XXXXXX)
  run "no-tfjs: deploy $FREE_PKG" "$out/no-tfjs.deploy.log" deploy_free "$dir" "$@"
  [ $failed = "$start" ] || return 0
  for name in "$@"; do
    before=$failed
    KERNELS=$dir/.jupyter-kernel/share/jupyter CALM_DATA_DIR=$DATA_DIR \
      run "no-tfjs: $name.ipynb" "$out/$name.no-tfjs.log" execute "$dir/$name.ipynb" "$name.no-tfjs"
    [ $failed = "$before" ] || KERNELS=$dir/.jupyter-kernel/share/jupyter CALM_DATA_DIR=$DATA_DIR explain "$dir/$name.ipynb" "$name.no-tfjs"
    if [ $scripts = 1 ]; then
      CALM_DATA_DIR=$DATA_DIR run "no-tfjs: $name.ts (script)" "$out/$name.no-tfjs.script.log" \
        in_dir "$dir" node --import tsx --import ./lib/no-tfjs.mjs "$name.ts"
    fi
  done
  if [ $scripts = 1 ]; then
    cp "$ROOT/scripts/no-tfjs/ngram-generator.mjs" "$dir/" || failed=$((failed + 1))
    CALM_DATA_DIR=$DATA_DIR run "no-tfjs: installed brierlm CLI, 8 samples per position" "$out/brierlm-cli.no-tfjs.log" \
      in_dir "$dir" installed_brierlm_check
  fi
  if [ $no_tfjs = 1 ]; then
    say "the notebooks and their dependencies stay in $dir; e.g. run one again: cd $dir && CALM_DATA_DIR=$DATA_DIR node --import tsx $1.ts"
  elif [ $failed = "$start" ]; then
    rm -rf "$dir" # kept for a look when something failed
  fi
}

say "executing ${#selected[@]} notebook(s)${CALM_FULL:+ in full mode}; executed copies in $out"
free=()
for name in "${selected[@]}"; do ! is_free "$name" || free+=("$name"); done
if [ $no_tfjs = 1 ]; then
  free_check "${free[@]}"
else
  for name in "${selected[@]}"; do
    before=$failed
    run "$name.ipynb" "$out/$name.log" execute "$NB/$name.ipynb" "$name"
    [ $failed = "$before" ] || explain "$NB/$name.ipynb" "$name"
  done
  for name in "${selected[@]}"; do
    if is_free "$name"; then
      # The framework-free examples must not load TensorFlow.js, even transitively; with --scripts
      # the no-tfjs check below runs them as scripts, from a folder without tfjs.
      [ $scripts = 1 ] || run "$name.ts (script, @tensorflow/* imports forbidden)" "$out/$name.script.log" \
        node --conditions=@calm/source --import tsx --import "./$NB/lib/no-tfjs.mjs" "$NB/$name.ts"
    elif [ $scripts = 1 ]; then
      run "$name.ts (script)" "$out/$name.script.log" node --conditions=@calm/source --import tsx "$NB/$name.ts"
    fi
  done
  [ $scripts = 0 ] || [ ${#free[@]} -eq 0 ] || free_check "${free[@]}"
fi
echo "notebooks: $passed passed, $failed failed"
[ $failed -eq 0 ]
