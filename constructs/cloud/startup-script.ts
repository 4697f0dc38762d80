/**
 * The startup script of every lightning VM (metadata key `startup-script`, run by the guest
 * agent on every boot, reference §8). It is the same for the flow and the works: the role
 * and all settings come from instance metadata. It fetches Node from the app's bucket (the
 * runtime the synthesis uploaded beside the bundle, ADR 0026: only Google APIs are needed, no
 * NAT), writes the boot program (vm-boot.mjs) and hands over to systemd (`lightning.service`,
 * restarted on failure), which runs `node vm-boot.mjs run`: fetch and verify the bundle, read
 * the secrets, start the role.
 *
 * No cdktf imports.
 */
import { readFileSync } from 'node:fs';

// The boot program runs on the VM (runtime code): it lives with the cloud runtime and is
// embedded into the startup script here, at synthesis. vm-boot.mjs imports vm-boot-gcp.mjs
// (metadata, token, bundle, secrets): both are written side by side.
const BOOT_DIR = new URL('../../daemon/cloud/', import.meta.url);
/** The boot program's files, written to `$ROOT/<name>` on every boot; the first is run. */
export const BOOT_FILES = ['vm-boot.mjs', 'vm-boot-gcp.mjs'] as const;
const HEREDOC_END = 'LIGHTNING_BOOT_EOF';

/** A file of the boot program, as embedded in the script (exported for tests). */
export function bootProgram(name: (typeof BOOT_FILES)[number] = 'vm-boot.mjs'): string {
  return readFileSync(new URL(name, BOOT_DIR), 'utf8');
}

/** `cat > "$ROOT/<name>"` of each boot file, quoted so that bash expands nothing inside. */
function writeBootFiles(): string {
  return BOOT_FILES.map((name) => {
    const source = bootProgram(name);
    if (source.includes(HEREDOC_END)) throw new Error(`internal: ${name} must not contain ${HEREDOC_END}`);
    return `cat > "$ROOT/${name}" <<'${HEREDOC_END}'\n${source.replace(/\n$/, '')}\n${HEREDOC_END}`;
  }).join('\n');
}

export function renderStartupScript(): string {
  return `#!/bin/bash
# lightning-local startup script: runs on every boot, idempotent. Logs:
#   sudo journalctl -u google-startup-scripts.service   (this script)
#   sudo journalctl -u lightning.service                 (the flow role or the work daemon)
# LIGHTNING_BOOT_ROOT, LIGHTNING_BOOT_FOREGROUND, LIGHTNING_NODE, GCE_METADATA_HOST and
# STORAGE_EMULATOR_HOST exist for tests; a VM sets none of them.
set -euo pipefail
ROOT="\${LIGHTNING_BOOT_ROOT:-/opt/lightning}"
log() { echo "lightning-startup: $*"; }
STARTED_NS="$(date +%s%N)"
META="http://\${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1"
STORAGE="\${STORAGE_EMULATOR_HOST:-https://storage.googleapis.com}"
case "$STORAGE" in http://* | https://*) ;; *) STORAGE="http://$STORAGE" ;; esac
STORAGE="\${STORAGE%/}"
STORAGE="\${STORAGE%/storage/v1}"
meta() { curl -fsS --retry 8 --retry-connrefused --retry-delay 1 -H 'Metadata-Flavor: Google' "$META/$1"; }

# Node: the runtime the synthesis put in the app's bucket (lightning-node-object), checked
# against lightning-node-sha256 and kept on the disk for later boots. Only Google APIs are
# used (Private Google Access): no Cloud NAT, no download from the internet.
if [ -n "\${LIGHTNING_NODE:-}" ]; then
  NODE="$LIGHTNING_NODE"
else
  NODE_SHA="$(meta instance/attributes/lightning-node-sha256)"
  if [ -x "$ROOT/node/bin/node" ] && [ "$(cat "$ROOT/node/.sha256" 2>/dev/null)" = "$NODE_SHA" ]; then
    log "Node from an earlier boot"
  else
    BUCKET="$(meta instance/attributes/lightning-bucket)"
    OBJECT="$(meta instance/attributes/lightning-node-object)"
    TOKEN="$(meta instance/service-accounts/default/token | sed -n 's/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p')"
    TMP="$(mktemp -d)"
    log "fetching Node from gs://$BUCKET/$OBJECT"
    curl -fsS --retry 8 --retry-connrefused --retry-delay 2 -H "Authorization: Bearer $TOKEN" \\
      -o "$TMP/node.tgz" "$STORAGE/storage/v1/b/$BUCKET/o/\${OBJECT//\\//%2F}?alt=media"
    if ! echo "$NODE_SHA  $TMP/node.tgz" | sha256sum -c --status -; then
      log "gs://$BUCKET/$OBJECT does not match lightning-node-sha256; refusing to run it. Redeploy with cdktf deploy."
      exit 1
    fi
    rm -rf "$ROOT/node"
    mkdir -p "$ROOT/node"
    # --occurrence: stop reading once both are out (they lead the archive).
    tar -xzf "$TMP/node.tgz" -C "$ROOT/node" --strip-components=1 --no-same-owner --occurrence=1 \\
      package/bin/node package/LICENSE
    echo "$NODE_SHA" > "$ROOT/node/.sha256"
    rm -rf "$TMP"
  fi
  NODE="$ROOT/node/bin/node"
fi
log "Node $("$NODE" --version) ready in $(( ($(date +%s%N) - STARTED_NS) / 1000000 )) ms"

mkdir -p "$ROOT/bundles"
${writeBootFiles()}

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
