#!/usr/bin/env bash
# Fails when proto/gen does not match what buf generates from proto/ (someone edited one
# without the other). Generation is deterministic, so a byte diff is a real drift.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf lint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r proto/gen "$tmp/committed"
npx buf generate
if ! diff -ru "$tmp/committed" proto/gen; then
  echo "proto/gen is out of date with proto/: run 'npm run proto' and commit the result." >&2
  exit 1
fi
echo "proto/gen matches proto/."
