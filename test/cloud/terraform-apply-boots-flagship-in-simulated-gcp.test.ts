/**
 * The flagship (examples/flagship/app.ts, unchanged) deployed by the real `terraform apply`
 * (1.11, through the stand-in provider of test/support/terraform/) into the simulated GCP
 * (test/support/gcp-sim): every VM is a network namespace running its startup script as
 * applied, behind the synthesized firewall, with the metadata server, Secret Manager and
 * Compute stand-ins and the GCS emulator. It trains, serves (TensorBoard, Streamlit, Gradio,
 * a model server), the UI answers through the documented IAP tunnel path, a retrain (state
 * PATCH through the UI API) moves the live model to the other colour, and `terraform destroy` leaves no namespace, process, object or secret.
 *
 * The "image" of the VMs: Node on PATH, and the flagship's venv first on PATH (on GCP the
 * deeplearning-platform-release images bring Python with torch; Lightning, TensorBoard and
 * Streamlit are what examples/flagship/requirements.txt adds).
 *
 * Prints the boot timeline. Needs root, iproute2, nftables, terraform and the flagship venv
 * (scripts/setup.sh).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import app from '../../examples/flagship/app.ts';
import { type AppSnapshot, FlowUi } from '../support/gcp-sim/flow-ui.ts';
import { type GcpSim, startGcpSim } from '../support/gcp-sim/gcp-sim.ts';
import { type IapTunnel, openIapTunnel } from '../support/gcp-sim/iap-tunnel.ts';
import { processesInNamespaces } from '../support/gcp-sim/sim-network.ts';
import { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';

const APP_FILE = new URL('../../examples/flagship/app.ts', import.meta.url).pathname;
const VENV_BIN = new URL('../../examples/flagship/.venv/bin', import.meta.url).pathname;
const UI_PORT = 7501;

let sim: GcpSim;
let ws: TerraformWorkspace;
const simEnv = () => ({ LIGHTNING_GCP_SIM_URL: sim.url });
let tunnel: IapTunnel | undefined;
let stackFile: string;
const timeline: { event: string; at: number }[] = [];
const mark = (event: string) => timeline.push({ event, at: Date.now() });

function diagnostics(): string {
  return [...sim.vms.values()].map((v) => `--- ${v.name}\n${v.output.slice(-30).join('\n')}`).join('\n');
}

function printTimeline(): void {
  const t0 = timeline[0]?.at ?? 0;
  // The sim's side of the apply: when each VM booted (its startup script started).
  const boots = sim.timeline
    .filter(
      (t) => t.event.startsWith('booted VM') || t.event.startsWith('create google_storage_bucket_object'),
    )
    .map((t) => ({ event: `  (sim) ${t.event}`, at: sim.startedAt + t.atMs }));
  const all = [...timeline, ...boots].sort((a, b) => a.at - b.at);
  const lines = all.map((t) => `  ${String(t.at - t0).padStart(7)} ms  ${t.event}`);
  console.log(`flagship in simulated GCP, boot timeline:\n${lines.join('\n')}`);
}

beforeAll(async () => {
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-flagship-sim-'));
  ({ stackFile } = await synthesizeApp(app, { appFile: APP_FILE, outdir, project: 'sim-project' }));
  ws = await TerraformWorkspace.create(dirname(stackFile));
  // Terraform runs in the workspace: the bundle object's relative `source` resolves there.
  sim = await startGcpSim({ sourceRoot: ws.dir, guestPath: [VENV_BIN] });
  await ws.run(['init']);
}, 300_000);

afterAll(async () => {
  await tunnel?.close();
  await sim?.close();
  ws?.dispose();
});

/** The servers of a deployed flagship: TensorBoard, the Streamlit and Gradio pages, the live model server. */
function servers(s: AppSnapshot): string[] {
  const live = s.root?.vars.live as string | null | undefined;
  return ['root.tensorboard', 'root.ui', 'root.gradio', ...(live ? [`root.serve_${live}`] : [])];
}
const ready = (s: AppSnapshot) =>
  !!s.root?.vars.live && servers(s).every((w) => s[w]?.status?.phase === 'running' && !!s[w]?.status?.url);

/** One 8×8 digit, flattened (serve.py takes 64 numbers in 0..1 per row). */
const DIGIT = JSON.stringify({ inputs: [Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0))] });

describe('flagship in simulated GCP', () => {
  it('terraform apply boots it; it trains, serves, answers through the IAP tunnel, and retrains', async () => {
    mark('apply start');
    const applied = await ws.run(['apply', '-auto-approve'], { env: simEnv() });
    mark(`terraform apply done (${/Resources: (\d+) added/.exec(applied.stdout)?.[1]} added)`);
    const flowVm = sim.vm('flagship-flow');
    tunnel = await openIapTunnel(flowVm, UI_PORT);
    const ui = await FlowUi.login(flowVm, tunnel, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${diagnostics()}`);
    });
    mark('flow ready (UI login through the tunnel)');
    // Train briefly (the flagship keeps serving by default: demo is false).
    await ui.patch('root', [{ op: 'replace', path: '/epochs', value: 3 }]);
    const seen = new Set<string>();
    const watch = (s: AppSnapshot) => {
      for (const [name, c] of Object.entries(s)) {
        if (c.status?.phase === 'running' && !seen.has(name)) {
          seen.add(name);
          mark(`${name} running`);
        }
      }
    };
    const first = await ui
      .until(
        (s) => {
          watch(s);
          return ready(s);
        },
        900_000,
        'train, then TensorBoard, Streamlit, Gradio and a model server serving',
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${diagnostics()}`);
      });
    mark('all servers running');
    expect(first['root.train']!.status!.phase).toBe('succeeded');
    expect(first['root.train']!.vars.max_epochs).toBe(3);
    // Each server is advertised at the internal address of the VM that runs it.
    for (const w of servers(first)) {
      const host = new URL(first[w]!.status!.url!).hostname;
      const vm = [...sim.vms.values()].find((v) => v.opts.metadata['lightning-work'] === w);
      expect(host, w).toBe(vm?.opts.ip);
    }

    // The UI, and the works' pages through the tunnel and the flow's proxy.
    const page = await ui.fetch('/', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const liveServer = `root.serve_${first.root!.vars.live}`;
    const predict = await ui.workFetch(liveServer, '/predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: DIGIT,
    });
    expect(predict.status, predict.body).toBe(200);
    expect((JSON.parse(predict.body) as { predictions: number[] }).predictions).toHaveLength(1);
    for (const w of ['root.ui', 'root.gradio', 'root.tensorboard']) {
      const r = await ui.workFetch(w, '/');
      expect(r.status, `${w}: ${r.body.slice(0, 300)}`).toBe(200);
    }

    // Retrain: a state PATCH through the UI API; train runs again and the endpoint moves to
    // the other colour once the new model answers.
    const before = { train: first['root.train']!.status!.callHash, live: first.root!.vars.live };
    mark('retrain requested (epochs 4)');
    await ui.patch('root', [{ op: 'replace', path: '/epochs', value: 4 }]);
    const second = await ui.until(
      (s) =>
        s['root.train']!.status!.callHash !== before.train &&
        s['root.train']!.status!.phase === 'succeeded' &&
        s.root!.vars.live !== before.live &&
        ready(s),
      900_000,
      'the retrain and the other model server on its outputs',
    );
    mark(`retrained, the endpoint moved to ${second.root!.vars.live}`);
    expect(second['root.train']!.vars.max_epochs).toBe(4);
    const again = await ui.workFetch(`root.serve_${second.root!.vars.live}`, '/predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: DIGIT,
    });
    expect(again.status, again.body).toBe(200);
    printTimeline();
  }, 2_000_000);

  it('terraform destroy leaves no namespace, process, object or secret behind', async () => {
    const inodes = [...sim.vms.values()].map((v) => v.ns!.inode);
    const bucket = sim.resources().find((r) => r.type === 'google_storage_bucket')!.state.name as string;
    expect((await sim.gcs.list(bucket)).length).toBeGreaterThan(1); // the bundle and Drive outputs
    await tunnel?.close();
    tunnel = undefined;
    // As on GCP: the Drive bucket holds the app's outputs and force_destroy defaults to false,
    // so destroy stops at the bucket (after everything else is gone) until the user empties it.
    await expect(ws.run(['destroy', '-auto-approve'], { env: simEnv() })).rejects.toThrow(
      /containing objects without `force_destroy`/,
    );
    expect(sim.vms.size).toBe(0);
    for (const o of await sim.gcs.list(bucket)) await sim.gcs.deleteObject(bucket, o); // gcloud storage rm -r
    await ws.run(['destroy', '-auto-approve'], { env: simEnv() });
    expect(sim.vms.size).toBe(0);
    expect(sim.network.list()).toEqual([]);
    expect(processesInNamespaces(inodes)).toEqual([]);
    expect(await sim.gcs.bucketExists(bucket)).toBe(false);
    expect([...sim.secrets.versions.keys()]).toEqual([]);
    expect(sim.resources()).toEqual([]);
  }, 300_000);
});
