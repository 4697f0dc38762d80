/**
 * Measures synthesis time for apps with 1, 10 and 50 Works (not a test: numbers only).
 *   npx tsx test/cloud/support/measure-synth.ts
 * Prints, per size: the plan/validation, the CDKTF synthesis (prebuilt bundle), and the
 * bundling of app + runtime with esbuild, each the median of 5 runs in one warm process.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { buildAppBundle } from '../../../constructs/cloud/app-bundle.ts';
import { planApp } from '../../../constructs/cloud/plan.ts';
import { synthesizeApp } from '../../../constructs/cloud/synth.ts';
import { CloudCompute, Flow, LightningApp, ScriptWork } from '../../../constructs/index.ts';

function appWith(n: number): LightningApp {
  const app = new LightningApp({ name: `bench${n}`, cloud: { project: 'bench-project' } });
  class Root extends Flow {
    constructor(scope: Construct) {
      super(scope, 'root');
      for (let i = 0; i < n; i++) {
        new ScriptWork(this, `w${i}`, {
          script: 'train.py',
          compute: CloudCompute.named(i % 2 ? 'gpu-l4' : 'gpu-t4', { spot: i % 3 === 0 }),
        });
      }
    }
    override run(): void {}
  }
  new Root(app);
  return app;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = mkdtempSync(join(tmpdir(), 'measure-synth-'));
const bundlePath = join(dir, 'app-bundle.tar.gz');
writeFileSync(bundlePath, 'x');
const fixture = new URL('../fixtures/cpu-app/app.ts', import.meta.url).pathname;
for (const n of [1, 10, 50]) {
  const plan: number[] = [];
  const synth: number[] = [];
  for (let r = 0; r < 5; r++) {
    const app = appWith(n);
    let t = performance.now();
    planApp(app);
    plan.push(performance.now() - t);
    t = performance.now();
    await synthesizeApp(app, {
      appFile: fixture,
      outdir: join(dir, `out-${n}-${r}`),
      bundle: { path: bundlePath, sha256: 'a'.repeat(64) },
    });
    synth.push(performance.now() - t);
  }
  console.log(
    `${String(n).padStart(2)} works: plan+validate ${median(plan).toFixed(1)} ms, synth ${median(synth).toFixed(0)} ms`,
  );
}
const bundle: number[] = [];
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await buildAppBundle({ appFile: fixture, outFile: join(dir, `b${r}.tar.gz`) });
  bundle.push(performance.now() - t);
}
console.log(
  `bundle (app + runtime, esbuild + tar.gz): ${median(bundle).toFixed(0)} ms (independent of the number of works)`,
);
