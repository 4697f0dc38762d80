/**
 * `lightning-local cost app.ts`: each VM's on-demand and spot price from the dated table,
 * what it is billed at as configured, and the total.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { costOf, formatCost, registerCostCommand } from '../../cli/cost-command.ts';
import { planApp } from '../../constructs/cloud/plan.ts';
import { PRICE_TABLE_DATE } from '../../constructs/cloud/price-table.ts';
import { CloudCompute } from '../../constructs/cloud-compute.ts';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import app from './fixtures/gpu-app/app.ts';

const FIXTURE = new URL('./fixtures/gpu-app/app.ts', import.meta.url).pathname;

async function runCli(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerCostCommand(program);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'lightning-local', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('cost', () => {
  it('prices each VM (machine + GPUs) and bills Spot VMs at the spot price', () => {
    const report = costOf(planApp(app));
    const byVm = Object.fromEntries(report.lines.map((l) => [l.vm, l]));
    expect(byVm['vision-flow']).toMatchObject({
      machineType: 'e2-standard-2',
      onDemand: 0.06701,
      spotPrice: 0.02679,
      billed: 0.06701,
    });
    expect(byVm['vision-train']).toMatchObject({
      machineType: 'g2-standard-4',
      gpu: '1× L4',
      spot: true,
      onDemand: 0.70683,
      spotPrice: 0.28184,
      billed: 0.28184,
    });
    expect(byVm['vision-evaluate']).toMatchObject({
      machineType: 'n1-standard-8',
      gpu: '1× T4',
      onDemand: 0.73,
      spotPrice: 0.2363,
      billed: 0.73,
    });
    expect(byVm['vision-tensorboard']).toMatchObject({ billed: 0.06701 });
    expect(report.totalPerHour).toBeCloseTo(1.14586, 5);
  });

  it('says when a price is unknown instead of guessing, and gives no total', () => {
    const a = new LightningApp({ name: 'big', cloud: { project: 'my-project' } });
    class Root extends Flow {
      constructor() {
        super(a, 'root');
        new ScriptWork(this, 'train', { script: 't.py', compute: CloudCompute.named('gpu-a100-80gb') });
      }
      override run(): void {}
    }
    new Root();
    const report = costOf(planApp(a));
    const train = report.lines.find((l) => l.component === 'root.train')!;
    expect(train).toMatchObject({ billed: null, note: 'no price for GPU nvidia-a100-80gb in the table' });
    expect(report.totalPerHour).toBeNull();
    expect(formatCost(report)).toMatch(/total while every VM runs: unknown \(see notes\)/);
  });

  it('prints the table, the total and the date and source of the prices', async () => {
    const out = await runCli(['cost', FIXTURE]);
    expect(out).toMatch(/cost of vision/);
    expect(out).toMatch(
      /vision-train\s+root\.train\s+g2-standard-4\s+1× L4\s+\$0\.7068\s+\$0\.2818\s+\$0\.2818 \(spot\)/,
    );
    expect(out).toMatch(/total while every VM runs: \$1\.1459\/h/);
    expect(out).toContain(`as of ${PRICE_TABLE_DATE}`);
    expect(out).toContain('skypilot-catalog');
    const json = JSON.parse(await runCli(['cost', FIXTURE, '--json']));
    expect(json.lines).toHaveLength(4);
  });

  it('reports a bad cloud setting instead of a price', async () => {
    const a = new LightningApp({ name: 'nocloud' });
    class Root extends Flow {
      constructor() {
        super(a, 'root');
      }
      override run(): void {}
    }
    new Root();
    expect(() => costOf(planApp(a))).toThrow(/no GCP project is set/);
  });
});
