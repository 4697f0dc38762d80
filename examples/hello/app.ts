/**
 * hello: two existing scripts wired into one app.
 *
 *   produce.py   writes numbers.csv and reports its progress through LIGHTNING_STATE_URL
 *   summarize.sh reads numbers.csv (moved to it as a Path) and reports count/sum/mean with curl
 *
 * The Flow reacts to the live progress, hands the file over when the producer succeeded,
 * and ends the app with the summary.
 *
 *   lightning-local run examples/hello/app.ts [--set count=5000]
 */
import type { Construct } from 'constructs';
import { Flow, LightningApp, type Path, ScriptWork } from 'lightning-local';

interface HelloState {
  count: number;
  progressSeen: number[];
  summary: string | null;
}

class Hello extends Flow<HelloState> {
  readonly produce = new ScriptWork(this, 'produce', {
    script: 'produce.py',
    outputs: ['numbers.csv'],
    state: { progress: 0 },
    parallel: true, // keep going while it runs, so run() can react to its progress
  });

  readonly summarize = new ScriptWork<{ count?: number; sum?: number; mean?: number }, { numbers: Path }>(
    this,
    'summarize',
    {
      script: 'summarize.sh',
      args: (a) => [a.numbers], // the Path arrives as a local file in the work's directory
      maxRetries: 1,
    },
  );

  constructor(scope: Construct) {
    super(scope, 'root', { state: { count: 1000, progressSeen: [], summary: null } });
  }

  override run(): void {
    this.produce.run({ count: this.state.count });

    const progress = this.produce.state.progress as number;
    if (progress > 0 && !this.state.progressSeen.includes(progress)) {
      this.state.progressSeen.push(progress);
      if (progress >= 0.5 && progress < 0.6) console.log(`flow: produce is halfway (${progress * 100}%)`);
    }
    if (!this.produce.hasSucceeded) return;

    // Blocking call: the rest of run() waits until summarize succeeded.
    this.summarize.run({ numbers: this.produce.output('numbers.csv') });

    const { count, sum, mean } = this.summarize.state;
    this.state.summary = `count=${count} sum=${sum} mean=${mean}`;
    this.stopApp(`summary: ${this.state.summary}`);
  }
}

const app = new LightningApp({ name: 'hello' });
new Hello(app);
export default app;
