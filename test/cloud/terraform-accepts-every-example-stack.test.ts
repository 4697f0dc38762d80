/**
 * Every example app, synthesized the way `cdktf synth` does (the app command of its
 * cdktf.json), goes through real Terraform with the stand-in hashicorp/google provider
 * (test/support/terraform): init from the filesystem mirror, validate, plan (creating exactly
 * the resources in the JSON), apply, a second plan that must show no changes (force-new
 * drift, e.g. the local SSDs A2 Ultra / A3 bring along), and destroy.
 *
 * What Terraform checks here and what it cannot: docs/adr/0009-terraform-stand-in-provider.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { TERRAFORM_TIMEOUT_MS, TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import { resourceCount } from '../support/terraform/terraform-state.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ExampleStack {
  readonly name: string;
  /** Directory of the cdktf.json whose app command synthesizes it. */
  readonly cdktfDir: string;
  /** For the project's own cdktf.json: the app file (LIGHTNING_APP). */
  readonly app?: string;
  /** The stack's name under cdktf.out/stacks/. */
  readonly stack: string;
}

const STACKS: readonly ExampleStack[] = [
  // The examples name no GCP project: a user deploys them as they are, with GOOGLE_CLOUD_PROJECT.
  { name: 'examples/hello', cdktfDir: '.', app: 'examples/hello/app.ts', stack: 'hello' },
  { name: 'examples/flagship', cdktfDir: '.', app: 'examples/flagship/app.ts', stack: 'flagship' },
  { name: 'cpu-app fixture', cdktfDir: '.', app: 'test/cloud/fixtures/cpu-app/app.ts', stack: 'hello-cloud' },
  { name: 'gpu-app fixture', cdktfDir: '.', app: 'test/cloud/fixtures/gpu-app/app.ts', stack: 'vision' },
  {
    name: 'A2 Ultra / A3 fixture (bundled local SSDs)',
    cdktfDir: '.',
    app: 'test/cloud/fixtures/gpu-local-ssd-app/app.ts',
    stack: 'ssd',
  },
  {
    name: 'examples/existing-stack (its own main.ts)',
    cdktfDir: 'examples/existing-stack',
    stack: 'ml-platform',
  },
];

/** Runs the cdktf.json app command, as `cdktf synth` would, into a fresh outdir. */
async function synthesize(s: ExampleStack): Promise<string> {
  const cwd = resolve(ROOT, s.cdktfDir);
  const { app: command } = JSON.parse(readFileSync(join(cwd, 'cdktf.json'), 'utf8')) as { app: string };
  const outdir = mkdtempSync(join(tmpdir(), 'lightning-example-synth-'));
  await execa(command, {
    shell: true,
    cwd,
    env: {
      CDKTF_OUTDIR: outdir,
      GOOGLE_CLOUD_PROJECT: 'lightning-example-project',
      ...(s.app ? { LIGHTNING_APP: resolve(ROOT, s.app) } : {}),
    },
  });
  return join(outdir, 'stacks', s.stack);
}

/** The resources a plan would touch, with the top-level attributes that differ. */
function changes(plan: Record<string, unknown>): string[] {
  const rc = (plan.resource_changes ?? []) as {
    address: string;
    change: {
      actions: string[];
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
    };
  }[];
  return rc
    .filter((r) => !r.change.actions.every((a) => a === 'no-op' || a === 'read'))
    .map((r) => {
      const keys = Object.keys({ ...r.change.before, ...r.change.after }).filter(
        (k) => JSON.stringify(r.change.before?.[k]) !== JSON.stringify(r.change.after?.[k]),
      );
      return `${r.address}: ${r.change.actions.join('/')} (${keys.join(', ')})`;
    });
}

describe.concurrent('terraform accepts every example stack', () => {
  for (const s of STACKS) {
    it(
      `${s.name}: init, validate, plan, apply, a clean second plan, destroy`,
      async () => {
        const t0 = performance.now();
        const stackDir = await synthesize(s);
        const tSynth = performance.now();
        // Kept on failure: the error names the working directory and its full terraform log.
        const ws = await TerraformWorkspace.create(stackDir);
        const inJson = Object.values(
          (
            JSON.parse(readFileSync(join(ws.dir, 'cdk.tf.json'), 'utf8')) as {
              resource?: Record<string, object>;
            }
          ).resource ?? {},
        ).reduce((n, byId) => n + Object.keys(byId).length, 0);

        await ws.run(['init']);
        await ws.run(['validate']);
        await ws.run(['plan', '-out=first.tfplan']);
        const planned = resourceCount(await ws.showJson('first.tfplan'));
        console.log(
          `[terraform] ${s.name}: plan creates ${planned} resources; cdk.tf.json declares ${inJson}`,
        );
        expect(planned).toBe(inJson);
        expect(planned).toBeGreaterThan(10);

        await ws.run(['apply', '-auto-approve', 'first.tfplan']);
        const second = await ws.run(['plan', '-detailed-exitcode', '-out=second.tfplan'], {
          okExitCodes: [0, 2],
        });
        const drift = second.exitCode === 2 ? changes(await ws.showJson('second.tfplan')) : [];
        expect(drift, `a second plan right after apply wants changes:\n${drift.join('\n')}`).toEqual([]);

        await ws.run(['destroy', '-auto-approve']);
        expect(resourceCount(await ws.showJson())).toBe(0);
        ws.dispose();
        rmSync(dirname(dirname(stackDir)), { recursive: true, force: true });
        const t1 = performance.now();
        console.log(
          `[terraform] ${s.name}: synth ${((tSynth - t0) / 1000).toFixed(1)} s, terraform ${((t1 - tSynth) / 1000).toFixed(1)} s`,
        );
      },
      2 * TERRAFORM_TIMEOUT_MS,
    );
  }
});
