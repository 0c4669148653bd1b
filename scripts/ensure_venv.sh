#!/usr/bin/env bash
# Creates (once) the project's Python 3.10 virtualenv with the pinned stack and links it as
# ./.venv. The venv lives in a cache keyed by the requirement files, so clean clones on the same
# machine (CI) reuse it, and any change to the pins builds a fresh one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

is_python310() {
  "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1
}

find_python310() {
  local candidate
  if [ -n "${PYTHON310:-}" ]; then
    if is_python310 "$PYTHON310"; then echo "$PYTHON310"; return 0; fi
    echo "error: PYTHON310=$PYTHON310 is not a working Python 3.10" >&2
    exit 1
  fi
  # PATH first (a pyenv shim may be on PATH yet fail when 3.10 is not the selected version).
  for candidate in python3.10; do
    if is_python310 "$candidate"; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"; return 0
    fi
  done
  # Then any pyenv-installed 3.10.
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python3.10; do
    if [ -x "$candidate" ] && is_python310 "$candidate"; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if ! python310="$(find_python310)"; then
  cat >&2 <<'MSG'
error: Python 3.10 is required (TFX 1.16 supports 3.9-3.10; our pinned stack is tested on 3.10).
No working python3.10 was found on PATH or under ~/.pyenv/versions/3.10.*.
Install one, then re-run:
  pyenv install 3.10.13            # with pyenv, or
  apt-get install python3.10-venv  # on a distribution that packages it
or point PYTHON310=/path/to/python3.10 at an existing interpreter.
MSG
  exit 1
fi

if command -v sha256sum >/dev/null; then hash_cmd=(sha256sum); else hash_cmd=(shasum -a 256); fi
key="$(cat requirements.txt constraints.txt requirements-kfp.txt constraints-kfp.txt \
  | "${hash_cmd[@]}" | cut -c1-16)"
cache_root="${MOVIEREC_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movierec-tfx}"
venv="$cache_root/venv-py310-$key"
mkdir -p "$cache_root"

if command -v flock >/dev/null; then
  exec 9>"$cache_root/.lock"
  flock 9   # one build at a time, e.g. two clones set up at once
fi

if [ -e "$root/.venv" ] && [ ! -L "$root/.venv" ]; then
  echo "error: $root/.venv is a folder, not the link this script manages; move it away" >&2
  exit 1
fi

# Complete and still working (its base interpreter may have been removed since).
if [ ! -f "$venv/.complete" ] || ! "$venv/bin/python" -c 'import tfx' >/dev/null 2>&1; then
  echo "Creating the Python 3.10 virtualenv in $venv (one time, ~3.3 GB, a few minutes)..." >&2
  rm -rf "$venv"
  "$python310" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade "pip==24.2" "wheel" "setuptools<70"
  "$venv/bin/python" -m pip install --quiet -r requirements.txt -c constraints.txt
  # Second step: kfp moves protobuf past tensorflow-metadata's declared bound (see the file).
  "$venv/bin/python" -m pip install --quiet -r requirements-kfp.txt -c constraints-kfp.txt 2>&1 \
    | grep -v "dependency resolver does not currently take into account\|tensorflow-metadata .* requires protobuf" >&2 || true
  "$venv/bin/python" -c 'import kfp, google.protobuf as p; assert p.__version__.startswith("4.25")' \
    || { echo "error: the kfp step did not install" >&2; exit 1; }
  TF_USE_LEGACY_KERAS=1 "$venv/bin/python" -c 'import tfx, tensorflow_recommenders, tensorflow_transform, tensorflow_model_analysis, kfp' \
    || { echo "error: the installed stack does not import; see above" >&2; exit 1; }
  touch "$venv/.complete"
fi

# Developer tools (requirements-dev.txt: the linter, the browser driver) do not shape the
# stack, so they are not part of the key: installed into the venv when missing or at another
# version.
if grep -v '^#' requirements-dev.txt \
    | grep -qvxF -f <("$venv/bin/python" -m pip freeze 2>/dev/null); then  # one line is missing
  "$venv/bin/python" -m pip install --quiet -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" >&2 || true
fi

ln -sfn "$venv" "$root/.venv"
