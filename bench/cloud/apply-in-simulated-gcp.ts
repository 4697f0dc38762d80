/**
 * Scenario 7: `terraform apply` → every work running, in the simulated GCP (ADR 0010). The app
 * is test/cloud/fixtures/two-servers-app (flow + 2 work VMs, one created stopped and started
 * by the flow). Measured from the start of `terraform apply` until every work has reported
 * `running` through the flow's UI API (read through the simulated IAP tunnel). Needs root,
 * iproute2, nftables and terraform; without them the row says why.
 *
 * Scenario 7b, from the same deployments: the boot-to-ready budget of one VM's startup script
 * (ADR 0026): from the boot until Node is ready (fetched from the app's bucket: the VMs have no
 * route to the internet) and until the flow role starts (bundle fetched and verified, secrets
 * read), on the flow VM, whose path waits for nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import app from '../../test/cloud/fixtures/two-servers-app/app.ts';
import { FlowUi } from '../../test/support/gcp-sim/flow-ui.ts';
import { startGcpSim } from '../../test/support/gcp-sim/gcp-sim.ts';
import { openIapTunnel } from '../../test/support/gcp-sim/iap-tunnel.ts';
import { TerraformWorkspace } from '../../test/support/terraform/terraform-cli.ts';
import type { BenchRow } from '../lib/row.ts';
import { median } from '../lib/stats.ts';

const APP_FILE = new URL('../../test/cloud/fixtures/two-servers-app/app.ts', import.meta.url).pathname;

interface Once {
  readonly applyMs: number;
  readonly flowReadyMs: number;
  readonly allRunningMs: number;
  /** The flow VM's first boot: startup script start → Node ready, → role started. */
  readonly nodeReadyMs: number;
  readonly roleStartedMs: number;
}

async function once(): Promise<Once> {
  const outdir = mkdtempSync(join(tmpdir(), 'bench-apply-sim-'));
  const { stackFile } = await synthesizeApp(app, { appFile: APP_FILE, outdir });
  const ws = await TerraformWorkspace.create(dirname(stackFile));
  const sim = await startGcpSim({ sourceRoot: ws.dir });
  const env = { LIGHTNING_GCP_SIM_URL: sim.url };
  try {
    await ws.run(['init']);
    const t0 = performance.now();
    await ws.run(['apply', '-auto-approve'], { env });
    const applyMs = performance.now() - t0;
    const tunnel = await openIapTunnel(sim.vm('two-servers-flow'), 7501);
    const ui = await FlowUi.login(sim.vm('two-servers-flow'), tunnel, 120_000);
    const flowReadyMs = performance.now() - t0;
    const seen = new Set<string>();
    await ui.until(
      (s) => {
        // The client's call can start and succeed between two reads of the state: it ran.
        for (const [name, c] of Object.entries(s))
          if (c.status?.phase === 'running' || c.status?.phase === 'succeeded') seen.add(name);
        return seen.has('root.http') && seen.has('root.client');
      },
      300_000,
      'every work running',
    );
    const allRunningMs = performance.now() - t0;
    const flowVm = sim.vm('two-servers-flow');
    const nodeReadyMs = flowVm.msToLine(1, /^lightning-startup: Node v[\d.]+ ready in/) ?? Number.NaN;
    const roleStartedMs = flowVm.msToLine(1, /^lightning-boot: starting:/) ?? Number.NaN;
    await tunnel.close();
    await ws.run(['destroy', '-auto-approve'], { env });
    return { applyMs, flowReadyMs, allRunningMs, nodeReadyMs, roleStartedMs };
  } finally {
    await sim.close();
    ws.dispose();
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Median over `repeats` deployments. */
export async function scenarioApplyInSimulatedGcp(
  repeats: number,
  log: (line: string) => void,
): Promise<BenchRow[]> {
  const runs: Once[] = [];
  for (let r = 0; r < repeats; r++) {
    log(`  terraform apply into the simulated GCP, repeat ${r + 1}/${repeats}`);
    runs.push(await once());
  }
  const s = (k: keyof Once) => median(runs.map((x) => x[k])) / 1000;
  return [
    {
      scenario: '7 terraform apply → all works running (simulated GCP, 3 VMs)',
      ours: s('allRunningMs'),
      baseline: Number.NaN,
      unit: 's',
      higherIsBetter: false,
      note: `terraform apply ${s('applyMs').toFixed(1)} s, flow UI ready ${s('flowReadyMs').toFixed(1)} s; network-namespace VMs, no image boot (a real VM adds it; not measured here)`,
    },
    {
      scenario: '7b VM startup script → role started (simulated GCP, flow VM, Node from the bucket)',
      ours: s('roleStartedMs'),
      baseline: Number.NaN,
      unit: 's',
      higherIsBetter: false,
      note: `Node ready ${s('nodeReadyMs').toFixed(1)} s (42.7 MB archive from the GCS emulator, sha256 checked, bin/node extracted); then vm-boot fetches the bundle and reads the secrets. No NAT, no internet. A real VM adds its image boot and GCS throughput`,
    },
  ];
}
