#!/usr/bin/env bash
# Idempotent setup for `npm run bench`: a Python virtualenv with the last PyPI release of
# Lightning Apps (lightning-app 2.3.2, period-consistent pins) for the side-by-side
# baseline. Needs only PyPI. Re-running is cheap: a marker records what was installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.bench/lightning-venv"
constraints="$root/bench/lightning/constraints.txt"
marker="$venv/.installed"
want="lightning-app==2.3.2 $(sha256sum "$constraints" | cut -c1-16)"

pick_python() {
  # Lightning 2.3.2 supports CPython 3.8-3.11 (classifiers and CI); 3.11 is the newest.
  for p in python3.11 python3.10 python3.9 python3; do
    if command -v "$p" >/dev/null 2>&1 &&
      "$p" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 11) else 1)' 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
  echo "setup-bench: Lightning baseline already installed in .bench/lightning-venv"
  exit 0
fi

if ! py="$(pick_python)"; then
  echo "setup-bench: need Python 3.8-3.11 for lightning-app 2.3.2 (found: $(python3 --version 2>&1))." >&2
  echo "  Install one (e.g. apt-get install python3.11 python3.11-venv) and re-run." >&2
  exit 1
fi

echo "setup-bench: creating .bench/lightning-venv with $($py --version)"
rm -rf "$venv"
mkdir -p "$root/.bench"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip<25" "setuptools<70" wheel
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "lightning-app==2.3.2" -c "$constraints"

# Verify the install (reference §6 step 2): the CLI imports, the bundled UI exists, and the
# dependency set is consistent.
"$venv/bin/python" - <<'PY'
import importlib, pathlib, sys
importlib.import_module("lightning_app.cli.lightning_cli")
import lightning_app
ui = pathlib.Path(lightning_app.__file__).parent / "ui" / "index.html"
if not ui.is_file():
    sys.exit(f"setup-bench: {ui} is missing: the wheel's UI bundle is needed even with --without-server")
print(f"setup-bench: lightning_app {lightning_app.__version__} imports; UI bundle present")
PY
"$venv/bin/python" -m pip check --disable-pip-version-check

echo "$want" >"$marker"
echo "setup-bench: done"
