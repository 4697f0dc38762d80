/**
 * `lightning-local cost app.ts`: hourly price of the app's VMs from the dated price table in
 * constructs/cloud/price-table.ts. Loads no cdktf: it reads the same plan the synthesis uses.
 */
import type { Command } from 'commander';
import pc from 'picocolors';
import { GPUS } from '../constructs/cloud/catalog.ts';
import { type AppPlan, planApp } from '../constructs/cloud/plan.ts';
import {
  PRICE_TABLE_DATE,
  PRICE_TABLE_REGION,
  PRICE_TABLE_SOURCE,
  priceOf,
} from '../constructs/cloud/price-table.ts';
import { loadApp } from './load-app.ts';
import { cdktfJsonContext, TARGET_OPTION_HELP } from './synth-command.ts';

export interface CostLine {
  readonly vm: string;
  readonly component: string;
  readonly machineType: string;
  readonly gpu: string;
  readonly spot: boolean;
  readonly onDemand: number | null;
  readonly spotPrice: number | null;
  /** What the VM is billed at as configured (spot price for Spot VMs). */
  readonly billed: number | null;
  readonly note?: string;
  /** A WorkMap's line: the price of each member's VM (created at run time), not in the total. */
  readonly perMember?: boolean;
}

export interface CostReport {
  readonly lines: readonly CostLine[];
  /** Sum of `billed`; null when a VM's price is unknown. */
  readonly totalPerHour: number | null;
  readonly region: string;
}

/** Prices every VM of the plan (exported for tests and other tools). */
export function costOf(plan: AppPlan): CostReport {
  const lines: CostLine[] = [plan.flow, ...plan.works].map((vm) => {
    const c = vm.compute;
    const priced = priceOf(c.machineType, c.gpuType, c.gpuCount);
    const gpu = c.gpuType ? `${c.gpuCount}× ${GPUS[c.gpuType].short}` : '-';
    const base = { vm: vm.name, component: vm.component, machineType: c.machineType, gpu, spot: c.spot };
    if ('unknown' in priced)
      return { ...base, onDemand: null, spotPrice: null, billed: null, note: priced.unknown };
    const p = priced.price;
    return { ...base, onDemand: p.onDemand, spotPrice: p.spot, billed: c.spot ? p.spot : p.onDemand };
  });
  const known = lines.every((l) => l.billed !== null);
  const total = known ? Math.round(lines.reduce((s, l) => s + (l.billed ?? 0), 0) * 1e5) / 1e5 : null;
  // WorkMaps: one VM per member, created by the flow at run time (ADR 0025); priced per member.
  for (const map of plan.runTimeMaps) {
    const first = map.templates[0];
    if (!first) continue;
    const c = first.candidate;
    const priced = priceOf(c.machineType, first.compute.gpuType, c.gpuCount);
    const p = 'price' in priced ? priced.price : null;
    lines.push({
      vm: `${plan.runTimeNamePrefix}*`,
      component: `${map.component}.* (each)`,
      machineType: c.machineType,
      gpu: first.compute.gpuType ? `${c.gpuCount}× ${GPUS[first.compute.gpuType].short}` : '-',
      spot: c.spot,
      onDemand: p?.onDemand ?? null,
      spotPrice: p?.spot ?? null,
      billed: c.hourlyUsd,
      perMember: true,
      note: `per member VM, created at run time; not in the total${map.templates.length > 1 ? ` (${map.templates.length - 1} fallback shape(s) may cost more or less)` : ''}`,
    });
  }
  return { lines, totalPerHour: total, region: plan.region };
}

const usd = (x: number | null) => (x === null ? '?' : `$${x.toFixed(4)}`);

export function formatCost(report: CostReport): string {
  const rows = [
    ['VM', 'work', 'machine', 'GPU', 'on-demand/h', 'spot/h', 'billed/h'],
    ...report.lines.map((l) => [
      l.vm,
      l.component,
      l.machineType,
      l.gpu,
      usd(l.onDemand),
      usd(l.spotPrice),
      `${usd(l.billed)}${l.spot ? ' (spot)' : ''}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const notes = report.lines.filter((l) => l.note).map((l) => `  ${l.vm}: ${l.note}`);
  return [
    ...text,
    '',
    `total while every VM runs: ${report.totalPerHour === null ? 'unknown (see notes)' : `${usd(report.totalPerHour)}/h`}`,
    ...(notes.length ? ['notes:', ...notes] : []),
    `prices: ${PRICE_TABLE_REGION} list prices as of ${PRICE_TABLE_DATE} (${PRICE_TABLE_SOURCE})` +
      (report.region !== PRICE_TABLE_REGION ? `; your region ${report.region} may differ` : ''),
    'not included: disks, Cloud NAT, network egress, storage. Stopped VMs bill disks only.',
  ].join('\n');
}

export function registerCostCommand(program: Command): void {
  program
    .command('cost')
    .description("Hourly on-demand and spot price of each VM of the app's cloud deployment, and the total.")
    .argument('<app>', 'the app file')
    .option('--json', 'print JSON')
    .option('--project <id>', TARGET_OPTION_HELP.project)
    .option('--region <region>', TARGET_OPTION_HELP.region)
    .action(async (appFile: string, opts: { json?: boolean; project?: string; region?: string }) => {
      const app = await loadApp(appFile);
      const target = {
        env: process.env,
        context: cdktfJsonContext(),
        ...(opts.project !== undefined ? { project: opts.project } : {}),
        ...(opts.region !== undefined ? { region: opts.region } : {}),
      };
      const report = costOf(planApp(app, undefined, { target }));
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(`${pc.bold('lightning')} cost of ${app.name}\n${formatCost(report)}\n`);
    });
}
