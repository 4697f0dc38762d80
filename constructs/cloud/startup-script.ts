/**
 * The startup script of every lightning VM (metadata key `startup-script`, run by the guest
 * agent on every boot, reference §8). It is the same for the flow and the works: the role
 * and all settings come from instance metadata. It installs Node, writes the boot program
 * (vm-boot.mjs) and hands over to systemd (`lightning.service`, restarted on failure), which runs
 * `node vm-boot.mjs run`: fetch and verify the bundle, read the secrets, start the role.
 *
 * No cdktf imports.
 */
import { readFileSync } from 'node:fs';
import { VM_NODE_VERSION } from './cloud-props.ts';

const BOOT_SOURCE_URL = new URL('./vm-boot.mjs', import.meta.url);
const HEREDOC_END = 'LIGHTNING_BOOT_EOF';

export interface StartupScriptOptions {
  /** @default VM_NODE_VERSION */
  readonly nodeVersion?: string;
}

/** The boot program embedded in the script (exported for tests). */
export function bootProgram(): string {
  return readFileSync(BOOT_SOURCE_URL, 'utf8');
}

export function renderStartupScript(options: StartupScriptOptions = {}): string {
  const nodeVersion = options.nodeVersion ?? VM_NODE_VERSION;
  if (!/^\d+\.\d+\.\d+$/.test(nodeVersion))
    throw new Error(`internal: nodeVersion ${nodeVersion} is not x.y.z`);
  const boot = bootProgram();
  if (boot.includes(HEREDOC_END)) throw new Error(`internal: vm-boot.mjs must not contain ${HEREDOC_END}`);
  return `#!/bin/bash
# lightning-local startup script: runs on every boot, idempotent. Logs:
#   sudo journalctl -u google-startup-scripts.service   (this script)
#   sudo journalctl -u lightning.service                 (the flow role or the work daemon)
# LIGHTNING_BOOT_ROOT and LIGHTNING_BOOT_FOREGROUND exist for tests; a VM sets neither.
set -euo pipefail
ROOT="\${LIGHTNING_BOOT_ROOT:-/opt/lightning}"
NODE_VERSION="${nodeVersion}"
log() { echo "lightning-startup: $*"; }

# Node ${nodeVersion} from nodejs.org, checked against its SHASUMS256.txt (over TLS), unless a
# Node >= 20.12 is already on PATH.
node_ok() {
  command -v "$1" >/dev/null 2>&1 && "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=12)?0:1)'
}
if node_ok "$ROOT/node/bin/node"; then
  NODE="$ROOT/node/bin/node"
elif node_ok node; then
  NODE="$(command -v node)"
else
  case "$(uname -m)" in x86_64) ARCH=x64 ;; aarch64) ARCH=arm64 ;; *) log "unsupported CPU $(uname -m)"; exit 1 ;; esac
  TARBALL="node-v$NODE_VERSION-linux-$ARCH.tar.gz"
  TMP="$(mktemp -d)"
  log "installing Node $NODE_VERSION"
  for i in 1 2 3 4 5; do
    curl -fsSL -o "$TMP/$TARBALL" "https://nodejs.org/dist/v$NODE_VERSION/$TARBALL" &&
      curl -fsSL -o "$TMP/SHASUMS256.txt" "https://nodejs.org/dist/v$NODE_VERSION/SHASUMS256.txt" && break
    log "download failed (attempt $i); is Cloud NAT in place?"; sleep $((i * 5))
  done
  (cd "$TMP" && grep " $TARBALL\\$" SHASUMS256.txt | sha256sum -c -)
  mkdir -p "$ROOT/node"
  tar -xzf "$TMP/$TARBALL" -C "$ROOT/node" --strip-components=1
  rm -rf "$TMP"
  NODE="$ROOT/node/bin/node"
fi

mkdir -p "$ROOT/bundles"
cat > "$ROOT/vm-boot.mjs" <<'${HEREDOC_END}'
${boot.replace(/\n$/, '')}
${HEREDOC_END}

if [ -n "\${LIGHTNING_BOOT_FOREGROUND:-}" ]; then
  exec "$NODE" "$ROOT/vm-boot.mjs" run
fi

id lightning >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/lightning --shell /usr/sbin/nologin lightning
chown -R lightning: "$ROOT/bundles"
cat > /etc/systemd/system/lightning.service <<UNIT
[Unit]
Description=lightning-local role (flow or work daemon, see instance metadata)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
User=lightning
WorkingDirectory=/var/lib/lightning
Environment=HOME=/var/lib/lightning
Environment=LIGHTNING_BOOT_ROOT=$ROOT
ExecStart=$NODE $ROOT/vm-boot.mjs run
# on-failure, not always: an app that ended (exit 0) must not start over.
Restart=on-failure
RestartSec=5
RuntimeDirectory=lightning
RuntimeDirectoryMode=0700
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable lightning.service
# --no-block: the guest agent's oneshot unit must not wait on a long-running service.
systemctl restart --no-block lightning.service
log "lightning.service started"
`;
}
