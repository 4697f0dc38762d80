/**
 * The synthesis benchmark's app: one Flow with BENCH_WORKS script Works, each on its own CPU
 * VM, for `synthesizeApp` (bench/synth/synth-once.ts). Kept in its own directory because the
 * directory is what synthesis bundles.
 */
import type { Construct } from 'constructs';
import { Flow, LightningApp, ScriptWork } from 'lightning-local';

const N = Number(process.env.BENCH_WORKS ?? 1);

class Root extends Flow {
  readonly works: ScriptWork[] = [];
  constructor(scope: Construct) {
    super(scope, 'root');
    for (let i = 0; i < N; i++) this.works.push(new ScriptWork(this, `w${i}`, { script: 'train.sh' }));
  }
  override run(): void {
    for (const w of this.works) w.run();
  }
}

const app = new LightningApp({
  name: 'bench-synth',
  cloud: { project: 'bench-project', region: 'us-central1' },
});
new Root(app);
export default app;
