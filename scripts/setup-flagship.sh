#!/usr/bin/env bash
# Creates the Python environment of the flagship example (examples/flagship/.venv) with
# the pinned packages of examples/flagship/requirements.txt: CPU-only torch, Lightning,
# TensorBoard, numpy, scikit-learn (the digits dataset), Streamlit, Gradio. Idempotent: a
# venv whose recorded requirements hash matches and whose packages import is left alone
# (about a second); otherwise it is (re)installed.
#
# The packages are installed with uv (pinned, itself installed from PyPI into the venv by
# pip): it resolves and downloads in parallel, about 40 s here where pip took 3 to 5 minutes
# for the same set (pip fetches each package's index page one after another).
#
# Environment:
#   PYTHON                 interpreter to create the venv with (default python3; >= 3.10)
#   FLAGSHIP_VENV          venv directory (default examples/flagship/.venv)
#   FLAGSHIP_TORCH_INDEX   extra index for the CPU torch wheel when no local wheel exists,
#                          e.g. https://download.pytorch.org/whl/cpu (default: none)
#   PIP_FIND_LINKS         directories with local wheels, e.g. /opt/wheels (space-separated;
#                          passed to uv as --find-links: that is where the CPU torch wheel is)
#   FLAGSHIP_INSTALLER=pip install with pip instead of uv (slower; pip's own config applies)
#   FLAGSHIP_FORCE=1       reinstall even if the venv looks up to date
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$repo/examples/flagship"
req="$example/requirements.txt"
venv="${FLAGSHIP_VENV:-$example/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"

fail() {
  echo "setup-flagship: $*" >&2
  exit 1
}

command -v "$python" >/dev/null || fail "no '$python' on PATH; install Python 3.10+ (apt-get install python3 python3-venv) or set PYTHON=/path/to/python3"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  fail "$("$python" --version 2>&1) is too old: torch 2.13 needs Python 3.10+; set PYTHON to a newer interpreter"
[[ -f "$req" ]] || fail "missing $req"

want="$(sha256sum "$req" | cut -d' ' -f1)"
# Present without importing them (importing all of them takes 10 s or more): the full import
# check runs after an install.
check='import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("torch", "lightning", "tensorboard", "numpy", "streamlit", "sklearn", "gradio")))'
uv_version=0.13.8
if [[ "${FLAGSHIP_FORCE:-0}" != 1 && -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
  "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "setup-flagship: $venv is up to date"
else
  start=$SECONDS
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-flagship: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv" || fail "could not create the venv; on Debian/Ubuntu: apt-get install python3-venv"
  fi
  rm -f "$stamp"
  hint="If it is torch==2.13.0+cpu that is missing: put the CPU wheel in a directory and set PIP_FIND_LINKS to it, or set FLAGSHIP_TORCH_INDEX=https://download.pytorch.org/whl/cpu"
  echo "setup-flagship: installing $req"
  if [[ "${FLAGSHIP_INSTALLER:-uv}" == pip ]]; then
    # --no-compile: byte-compiling every module of torch at install time took ~85 of ~120 s
    # here; Python compiles the modules a script imports on first use instead.
    pip_args=(--disable-pip-version-check --no-input --progress-bar off --no-compile)
    if [[ -n "${FLAGSHIP_TORCH_INDEX:-}" ]]; then pip_args+=(--extra-index-url "$FLAGSHIP_TORCH_INDEX"); fi
    "$venv/bin/python" -m pip install "${pip_args[@]}" -r "$req" || fail "pip could not install $req (see above). $hint"
  else
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q "uv==$uv_version" ||
      fail "pip could not install uv==$uv_version into $venv (see above); FLAGSHIP_INSTALLER=pip installs without it"
    uv_args=(pip install --python "$venv/bin/python" --no-progress -r "$req")
    for dir in ${PIP_FIND_LINKS:-}; do uv_args+=(--find-links "$dir"); done
    if [[ -n "${FLAGSHIP_TORCH_INDEX:-}" ]]; then uv_args+=(--extra-index-url "$FLAGSHIP_TORCH_INDEX"); fi
    "$venv/bin/uv" "${uv_args[@]}" || fail "uv could not install $req (see above). $hint"
  fi
  echo "setup-flagship: installed in $((SECONDS - start)) s"
  # Fails if anything does not import, or if a CUDA build of torch slipped in. The first import
  # also compiles the modules' bytecode, which the app's first run would otherwise pay for.
  "$venv/bin/python" - <<'PY' || fail "the venv's packages do not import cleanly (see above); rerun with FLAGSHIP_FORCE=1"
import sys
import gradio, lightning, numpy, sklearn, streamlit, tensorboard, torch
if torch.version.cuda is not None:
    sys.exit(f"torch {torch.__version__} is a CUDA build; the flagship pins the CPU build (torch==2.13.0+cpu)")
print(f"setup-flagship: python {sys.version.split()[0]}, torch {torch.__version__}, lightning {lightning.__version__}, "
      f"tensorboard {tensorboard.__version__}, numpy {numpy.__version__}, scikit-learn {sklearn.__version__}, "
      f"streamlit {streamlit.__version__}, gradio {gradio.__version__}")
PY
  echo "$want" >"$stamp"
  echo "setup-flagship: ready in $((SECONDS - start)) s"
fi
echo "setup-flagship: python for the app: $venv/bin/python"
