/**
 * A preempted WorkMap member (its VM created by the flow from the map's template) resumes like
 * a static work: its checkpoint reaches the Drive within the notice, the flow starts the same
 * VM again through the Compute API, and the call runs again from the checkpoint. When its zone
 * has no capacity left for the start (GCE answers ZONE_RESOURCE_POOL_EXHAUSTED), the flow
 * deletes the VM and creates it again through the capacity search, in the next zone.
 *
 * Member `a` is preempted first and started again in place; then us-central1-a runs out of
 * capacity and member `b` is preempted: its VM comes back in us-central1-b. Both final values
 * equal an uninterrupted run's. Deployed by the real `terraform apply` into the simulated GCP.
 * Needs root, iproute2, nftables and terraform (scripts/setup.sh), as CI has.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpSim } from '../support/gcp-sim/gcp-sim.ts';
import type { TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import app, { STEPS } from './fixtures/preemptible-app/workmap-app.ts';
import { type SimulatedDeployment, simulatedDeployment } from './support/simulated-deployment.ts';

const FIXTURE = new URL('./fixtures/preemptible-app/workmap-app.ts', import.meta.url).pathname;
const TRAIN = new URL('./fixtures/preemptible-app/train.mjs', import.meta.url).pathname;
const FLOW_SA = 'pmap-flow@test-project.iam.gserviceaccount.com';
let sim: GcpSim;
let ws: TerraformWorkspace;
let env: Record<string, string>;
let deployment: SimulatedDeployment | undefined;

function diagnostics(): string {
  return [...sim.vms.values()].map((v) => `--- ${v.name}\n${v.output.slice(-60).join('\n')}`).join('\n');
}

/** The value train.mjs computes for `steps` without interruption (run directly, no app). */
function uninterrupted(steps: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'lightning-pmap-plain-'));
  const r = spawnSync(process.execPath, [TRAIN, '--steps', String(steps)], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return (JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { value: number }).value;
}

beforeAll(async () => {
  deployment = await simulatedDeployment(app, FIXTURE, 'pmap');
  ({ sim, ws, env } = deployment);
  await ws.run(['apply', '-auto-approve'], { env });
}, 300_000);

afterAll(async () => {
  await deployment?.close();
});

describe('preempted WorkMap members in the simulated GCP', () => {
  it('resume from their checkpoints: on the same VM started again, or on a new VM in another zone when the zone has no capacity', async () => {
    const flow = sim.vm('pmap-flow');
    const said = (re: RegExp) => flow.output.some((l) => re.test(l));
    const until = (re: RegExp, what: string, ms = 240_000) =>
      flow
        .until(() => said(re) || said(/→ failed/), ms, what)
        .then(() => {
          if (!said(re)) throw new Error(`a call failed before: ${what}`);
        })
        .catch((err: Error) => {
          throw new Error(`${err.message}\n${diagnostics()}`);
        });
    await until(/root\.trains\.a.*step 8\/40/, 'member a reached step 8');
    await until(/root\.trains\.b.*step 8\/160/, 'member b reached step 8');

    // a: preempted, started again in place.
    await sim.preempt('pmap-rt-trains-a', { noticeMs: 8000 });
    await until(/root\.trains\.a.*resumed at step \d+/, 'member a resumed', 120_000);
    expect(sim.compute.log).toContain(`${FLOW_SA} POST pmap-rt-trains-a/start 200`);

    // b: preempted while us-central1-a has no capacity left; its VM comes back in us-central1-b.
    sim.compute.capacity.stockout('us-central1-a');
    await sim.preempt('pmap-rt-trains-b', { noticeMs: 8000 });
    await until(/root\.trains\.b.*resumed at step \d+/, 'member b resumed', 180_000);
    await until(/lightning app ended/, 'the app ended');

    const out = flow.output.join('\n');
    const a = uninterrupted(STEPS.a!);
    const b = uninterrupted(STEPS.b!);
    expect(out, diagnostics()).toMatch(`lightning app ended (exit 0): trained: a=${a} b=${b}`);
    for (const key of ['a', 'b']) {
      const steps = STEPS[key]!;
      const at = Number(new RegExp(`root\\.trains\\.${key}.*checkpoint at step (\\d+)`).exec(out)?.[1]);
      expect(at, key).toBeGreaterThanOrEqual(8);
      // The second attempt went on from the checkpoint, not from step 0.
      expect(out).toMatch(new RegExp(`root\\.trains\\.${key}.*resumed at step ${at}\\b`));
      const after = out.slice(out.indexOf(`resumed at step ${at}`));
      expect(new RegExp(`root\\.trains\\.${key}.*step (\\d+)/${steps}`).exec(after)?.[1]).toBe(
        String(at + 1),
      );
      expect(out).toMatch(
        new RegExp(`root\\.trains\\.${key}.*running → pending[\\s\\S]*the VM was preempted`),
      );
    }
    // a was started again in place: no second insert. b's start was refused for capacity, so
    // its VM was deleted and inserted again in the next zone.
    expect(out).toMatch(
      /root\.trains\.b.*start of pmap-rt-trains-b in us-central1-a refused: ZONE_RESOURCE_POOL_EXHAUSTED/,
    );
    expect(sim.compute.events.map((e) => `${e.verb} ${e.name} ${e.zone} ${e.outcome}`)).toEqual(
      expect.arrayContaining([
        'insert pmap-rt-trains-a us-central1-a ok',
        'insert pmap-rt-trains-b us-central1-a ok',
        'delete pmap-rt-trains-b us-central1-a ok',
        'insert pmap-rt-trains-b us-central1-b ok',
      ]),
    );
    expect(
      sim.compute.events.filter((e) => e.verb === 'insert' && e.name === 'pmap-rt-trains-a'),
    ).toHaveLength(1);
    expect(out).toMatch(/run-time VMs: 2 deleted, 0 left/);
    expect([...sim.vms.keys()]).toEqual(['pmap-flow']);

    // The sim counts both preemptions survived (started again / created again after TERMINATED).
    expect(sim.preemptions.map((p) => [p.vm, p.restartedAtMs! > p.terminatedAtMs!])).toEqual([
      ['pmap-rt-trains-a', true],
      ['pmap-rt-trains-b', true],
    ]);
    console.log(sim.summary());
  }, 600_000);

  it('destroy leaves nothing behind', async () => {
    await ws.run(['destroy', '-auto-approve'], { env });
    expect(sim.vms.size).toBe(0);
    expect(sim.resources()).toEqual([]);
  }, 120_000);
});
