/**
 * Cloud boot time in the simulated GCP (test/support/gcp-sim, ADR 0010): from `terraform
 * apply` of the synthesized stack (real Terraform 1.11, the stand-in provider forwarding to
 * the simulator) until every work of bench/cloud/app.ts is running, as the flow VM's service
 * log reports it. VMs are network namespaces that run their startup scripts as rendered; Node
 * is on their PATH already, so the Node download of a real VM is not in the figure, nor are
 * GCE's VM creation and boot (seconds to minutes on GCP).
 *
 * Each repeat uses a fresh simulator; the Terraform working directory is initialised once.
 * Needs root, iproute2, nftables and the GCS emulator (scripts/setup.sh), as CI has.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import { type GcpSim, startGcpSim } from '../../test/support/gcp-sim/gcp-sim.ts';
import { TerraformWorkspace } from '../../test/support/terraform/terraform-cli.ts';
import type { BenchRow } from '../lib/row.ts';
import { median } from '../lib/stats.ts';
import app, { WORKS } from './app.ts';

export interface ApplyBenchOptions {
  readonly repeats: number;
  readonly log: (line: string) => void;
}

interface Repeat {
  /** Seconds from the start of `terraform apply` until … */
  readonly applied: number;
  readonly flowListening: number;
  readonly allRunning: number;
}

const APP_FILE = new URL('./app.ts', import.meta.url).pathname;
const FLOW_VM = 'bench-apply-flow';

async function waitForLine(sim: GcpSim, re: RegExp, t0: number, what: string): Promise<number> {
  // The VM exists once Terraform has created it.
  for (let i = 0; !sim.vms.has(FLOW_VM); i++) {
    if (i > 3600) throw new Error(`${FLOW_VM} was not created within 180 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await sim.vm(FLOW_VM).until((vm) => vm.output.some((l) => re.test(l)), 180_000, what);
  return (performance.now() - t0) / 1000;
}

async function once(ws: TerraformWorkspace, log: (line: string) => void): Promise<Repeat> {
  const sim = await startGcpSim({ sourceRoot: ws.dir });
  const env = { LIGHTNING_GCP_SIM_URL: sim.url };
  try {
    const t0 = performance.now();
    const apply = ws.run(['apply', '-auto-approve'], { env }).then(() => (performance.now() - t0) / 1000);
    // The VMs boot while Terraform still creates the rest (IAM members, outputs).
    const listening = waitForLine(
      sim,
      /lightning flow of bench-apply listening on/,
      t0,
      'the flow listening',
    );
    const running = Promise.all(
      WORKS.map((w) =>
        waitForLine(sim, new RegExp(`${w.replace('.', '\\.')}\\s+│ ● pending → running`), t0, w),
      ),
    );
    const [applied, flowListening, works] = await Promise.all([apply, listening, running]);
    const r = { applied, flowListening, allRunning: Math.max(...works) };
    log(
      `  apply returned ${r.applied.toFixed(1)} s, flow listening ${r.flowListening.toFixed(1)} s, all ${WORKS.length} works running ${r.allRunning.toFixed(1)} s`,
    );
    await ws.run(['destroy', '-auto-approve'], { env });
    return r;
  } finally {
    await sim.close();
  }
}

const spread = (xs: readonly number[]) =>
  `${Math.min(...xs).toFixed(1)}/${median(xs).toFixed(1)}/${Math.max(...xs).toFixed(1)} s`;

export async function benchApplyToRunning(opts: ApplyBenchOptions): Promise<BenchRow[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-bench-apply-'));
  let ws: TerraformWorkspace | undefined;
  try {
    const { stackFile } = await synthesizeApp(app, { appFile: APP_FILE, outdir });
    ws = await TerraformWorkspace.create(dirname(stackFile));
    await ws.run(['init']);
    const repeats: Repeat[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      opts.log(`  terraform apply → ${WORKS.length} works running, repeat ${i + 1}/${opts.repeats}`);
      repeats.push(await once(ws, opts.log));
    }
    const all = repeats.map((r) => r.allRunning);
    return [
      {
        scenario: `7 cloud: terraform apply → all ${WORKS.length} works running (simulated GCP)`,
        ours: median(all),
        baseline: Number.NaN,
        unit: 's',
        higherIsBetter: false,
        note:
          `min/median/max ${spread(all)} over ${all.length}; apply returned ${spread(repeats.map((r) => r.applied))}, ` +
          `flow listening ${spread(repeats.map((r) => r.flowListening))}; namespaces, not GCE ` +
          '(no VM creation, boot or Node download); no baseline',
      },
    ];
  } finally {
    ws?.dispose();
    rmSync(outdir, { recursive: true, force: true });
  }
}
