/**
 * flagship: train a model, watch it in TensorBoard, serve it, try it in a UI: four existing
 * scripts wired into one app, none of them changed to fit it.
 *
 *   train.py   PyTorch Lightning training; reports epoch/loss/val_acc live through LIGHTNING_STATE_URL;
 *              writes lightning_logs/ (TensorBoard), metrics.json and model.pt2 (torch.export)
 *   tensorboard  the stock `tensorboard` CLI over train's lightning_logs/ (handed over as a directory Path)
 *   serve.py   a stdlib HTTP model server answering POST /predict, given model.pt2 as a Path
 *   ui.py      a Streamlit page that talks to serve.py over HTTP
 *   demo       a TypeScript Work that sends test predictions to the server and scores them
 *
 * The Flow trains; logs each new best validation accuracy as the numbers arrive; once
 * training succeeded starts TensorBoard and the server with train's outputs, then the UI with
 * the server's URL. In demo mode (the default) it then sends test predictions and ends the
 * app; with `--set demo=false` everything keeps serving until Ctrl-C.
 *
 *   bash scripts/setup-flagship.sh                                   # Python venv, once
 *   lightning-local run examples/flagship/app.ts                     # train, serve, demo, stop
 *   lightning-local run examples/flagship/app.ts --set demo=false    # keep serving
 *   lightning-local run examples/flagship/app.ts --set epochs=60
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Construct } from 'constructs';
import { Flow, LightningApp, type Path, ScriptWork, Work, type WorkContext } from 'lightning-local';

/**
 * Python with torch, Lightning, TensorBoard and Streamlit: $LIGHTNING_PYTHON, else the venv
 * that scripts/setup-flagship.sh creates beside this file, else python3 (train.py then says
 * what to install). Resolved on each machine that loads the app, so it holds on a VM too.
 */
const VENV_PYTHON = fileURLToPath(new URL('.venv/bin/python', import.meta.url));
const PYTHON = process.env.LIGHTNING_PYTHON ?? (existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3');

/**
 * Address the servers listen on: loopback, unless the runtime says otherwise through
 * LIGHTNING_HOST (on a cloud VM the flow reaches a work's port from another machine).
 */
function bindHost(ctx: WorkContext): string {
  return ctx.env.LIGHTNING_HOST ?? '127.0.0.1';
}

/** What train.py reports while it runs (its LiveProgress callback). */
interface TrainState {
  stage: string | null;
  epoch: number | null;
  step: number;
  max_epochs: number | null;
  train_loss: number | null;
  val_loss: number | null;
  val_acc: number | null;
  best_val_acc: number | null;
  /** 0-based, like `epoch`. */
  best_epoch: number | null;
}

interface DemoState {
  sent: number;
  correct: number;
  accuracy: number | null;
  labels: string[];
}

interface FlagshipState {
  /** Send test predictions once everything is up, then end the app. */
  demo: boolean;
  epochs: number;
  /** Best validation accuracy seen live, and its (1-based) epoch. */
  bestValAcc: number | null;
  bestEpoch: number | null;
  /** What was announced in the log so far (server URLs by work name), to say it once. */
  announced: Record<string, string>;
}

/** Lowest demo accuracy that counts as a working model (the demo points are easy ones). */
const DEMO_MIN_ACCURACY = 0.8;

/**
 * Sends points with known classes to the model server and scores the answers. Points lie on
 * the centre lines of the three spiral arms train.py generates (class k at radius r sits at
 * angle 4k + 4r), away from the ambiguous middle.
 */
class DemoClient extends Work<DemoState, { url: string }> {
  constructor(scope: Construct, id: string) {
    super(scope, id, { state: { sent: 0, correct: 0, accuracy: null, labels: [] }, timeoutSeconds: 60 });
  }

  override async execute(args: { url: string }, ctx: WorkContext): Promise<void> {
    const points: number[][] = [];
    const expected: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (const r of [0.4, 0.6, 0.8]) {
        const t = 4 * k + 4 * r;
        points.push([r * Math.sin(t), r * Math.cos(t)]);
        expected.push(k);
      }
    }
    const res = await fetch(`${args.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: points }),
      signal: ctx.signal,
    });
    const body = (await res.json()) as { predictions?: number[]; labels?: string[]; error?: string };
    if (!res.ok || !Array.isArray(body.predictions) || body.predictions.length !== points.length) {
      throw new Error(
        `POST ${args.url}/predict answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}; see the serve work's log`,
      );
    }
    const correct = body.predictions.filter((p, i) => p === expected[i]).length;
    this.state.sent = points.length;
    this.state.correct = correct;
    this.state.accuracy = correct / points.length;
    this.state.labels = body.labels ?? [];
    ctx.log(
      `POST /predict with ${points.length} points: ${correct}/${points.length} correct (${body.labels?.join(' ')})`,
    );
  }
}

class Flagship extends Flow<FlagshipState> {
  readonly train = new ScriptWork<TrainState, { epochs: number }>(this, 'train', {
    script: 'train.py',
    python: PYTHON,
    args: (a) => ['--epochs', String(a.epochs)],
    outputs: ['model.pt2', 'metrics.json', 'lightning_logs/'],
    state: {
      stage: null,
      epoch: null,
      step: 0,
      max_epochs: null,
      train_loss: null,
      val_loss: null,
      val_acc: null,
      best_val_acc: null,
      best_epoch: null,
    },
    parallel: true, // run() keeps going while training, to react to the live numbers
    timeoutSeconds: 30 * 60,
  });

  readonly tensorboard = new ScriptWork<object, { logs: Path; trainCall: string | null }>(
    this,
    'tensorboard',
    {
      command: [PYTHON, '-m', 'tensorboard.main'],
      args: (a, ctx) => ['--logdir', a.logs, '--host', bindHost(ctx), '--port', String(ctx.port)],
      port: 'auto',
      parallel: true,
    },
  );

  readonly serve = new ScriptWork<object, { model: Path; trainCall: string | null }>(this, 'serve', {
    script: 'serve.py',
    python: PYTHON,
    args: (a) => ['--model', a.model],
    port: 'auto',
    parallel: true,
  });

  readonly ui = new ScriptWork<object, { server: string }>(this, 'ui', {
    command: [PYTHON, '-m', 'streamlit', 'run'],
    args: (a, ctx) => [
      join(ctx.appDir, 'ui.py'),
      '--server.address',
      bindHost(ctx),
      '--server.port',
      String(ctx.port),
      '--server.headless',
      'true',
      '--browser.gatherUsageStats',
      'false',
      '--client.toolbarMode',
      'minimal',
      '--',
      '--server-url',
      a.server,
    ],
    port: 'auto',
    parallel: true,
  });

  readonly demo = new DemoClient(this, 'demo');

  constructor(scope: Construct) {
    super(scope, 'root', {
      state: { demo: true, epochs: 30, bestValAcc: null, bestEpoch: null, announced: {} },
    });
  }

  override run(): void {
    this.train.run({ epochs: this.state.epochs });
    this.trackBest();
    if (this.train.hasFailed) {
      this.failApp(`training failed: ${this.train.status.message ?? this.train.status.reason}`);
      return;
    }
    if (!this.train.hasSucceeded) return;

    // Training succeeded, so its outputs are in the Drive: hand them over as Paths. `trainCall`
    // is unused by the scripts but part of the call: if the flow's `epochs` changes (state
    // PATCH), train runs again and, once it succeeded, the servers restart on the new outputs.
    const trainCall = this.train.status.callHash;
    this.tensorboard.run({ logs: this.train.output('lightning_logs/'), trainCall });
    this.serve.run({ model: this.train.output('model.pt2'), trainCall });
    const server = this.serve.url;
    if (server !== null) this.ui.run({ server });

    for (const work of [this.tensorboard, this.serve, this.ui]) {
      const phase = work.status.phase;
      if (phase === 'failed' || phase === 'stopped' || phase === 'succeeded') {
        // A server that ends on its own is broken, whatever its exit code.
        this.failApp(
          `${work.name} ended (${phase}): ${work.status.message ?? 'it exited'}; see its log above`,
        );
        return;
      }
      if (work.url !== null) this.announce(work.name, work.url);
    }
    if (server === null || this.tensorboard.url === null || this.ui.url === null) return;

    if (!this.state.demo) {
      this.announce('ready', 'serving until Ctrl-C');
      return;
    }
    this.demo.run({ url: server }); // blocking: the rest waits for the demo to succeed
    const { correct, sent, accuracy } = this.demo.state;
    const summary =
      `best val_acc ${this.state.bestValAcc?.toFixed(4)} (epoch ${this.state.bestEpoch}); ` +
      `demo predictions ${correct}/${sent} correct from ${server}/predict`;
    if (accuracy === null || accuracy < DEMO_MIN_ACCURACY) {
      this.failApp(`the served model answers badly: ${summary}`);
      return;
    }
    this.stopApp(`demo finished: ${summary}. Run with --set demo=false to keep serving.`);
  }

  /** Records (and logs) each new best validation accuracy as train.py reports it. */
  private trackBest(): void {
    // train.py reports its best so far with each epoch, so a pass that sees several epochs'
    // patches at once (the loop coalesces bursts) still gets the right best and epoch.
    const t = this.train.state;
    const acc = t.best_val_acc;
    if (typeof acc !== 'number' || (this.state.bestValAcc !== null && acc <= this.state.bestValAcc)) return;
    this.state.bestValAcc = acc;
    this.state.bestEpoch = typeof t.best_epoch === 'number' ? t.best_epoch + 1 : null;
    console.log(
      `flagship: new best val_acc ${acc.toFixed(4)} at epoch ${this.state.bestEpoch}/${t.max_epochs}`,
    );
  }

  /** Logs a URL (or message) once per distinct value. */
  private announce(name: string, url: string): void {
    if (this.state.announced[name] === url) return;
    this.state.announced[name] = url;
    console.log(`flagship: ${name} ${url}`);
  }
}

const app = new LightningApp({ name: 'flagship' });
new Flagship(app);
export default app;
