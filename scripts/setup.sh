#!/usr/bin/env bash
# Everything the project needs beyond `npm ci`, on a fresh machine (Debian, Node 20, Python
# 3.10+). Idempotent: re-running on a set-up machine takes seconds.
#   - system tools the runtime and tests use: curl (state-URL one-liner), iproute2 and
#     nftables (network namespaces and the VPC firewall of the simulated GCP,
#     test/support/gcp-sim), python3-venv, chromium (the UI's browser tests, driven by
#     playwright-core; no browser download)
#   - terraform on PATH (checked, not installed: the cloud tests run the real CLI offline)
#   - the GCS emulator for the Drive tests (scripts/setup-drive.sh)
#   - the flagship example's Python env: CPU torch, Lightning, TensorBoard, Streamlit
#     (scripts/setup-flagship.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || [[ -x /usr/sbin/nft ]] || need+=(nftables)
command -v openssl >/dev/null || need+=(openssl) # TLS of the stand-in Terraform provider
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[[ -x /usr/bin/chromium ]] || need+=(chromium)
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install ${need[*]} (e.g. sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

# Terraform: the cloud tests run the real CLI over every synthesized stack (with a stand-in
# provider, test/support/terraform). Debian does not package it, so we only check for it.
if ! command -v "${TERRAFORM_BINARY:-terraform}" >/dev/null; then
  echo "setup: terraform is not on PATH. The cloud tests run the real terraform CLI (>= 1.5;" >&2
  echo "  CI has 1.11 at /usr/local/bin/terraform). Install it from" >&2
  echo "  https://developer.hashicorp.com/terraform/install (or HashiCorp's apt repository)," >&2
  echo "  or point TERRAFORM_BINARY at it." >&2
  exit 1
fi

# The Node runtime the cloud VMs take from the bucket (ADR 0026): fetched once from the npm
# registry into ~/.cache/lightning-local, so parallel synth tests do not each fetch it.
(cd "$root" && npx tsx -e "import('./constructs/cloud/node-runtime.ts').then((m) => console.log('setup: VM Node runtime ' + m.nodeRuntimeArchive().path))")

bash "$root/scripts/setup-drive.sh"
bash "$root/scripts/setup-flagship.sh"
echo "setup: done"
