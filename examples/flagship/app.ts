/**
 * flagship: the researcher's loop in one app. Set parameters in the app's page → train
 * (PyTorch Lightning) → diagnose (TensorBoard) → deploy (a Gradio demo over a model server)
 * → change parameters → retrain, while the deployed model keeps answering.
 *
 *   train.py        PyTorch Lightning on scikit-learn's bundled digits; reports epoch/loss/
 *                   val_acc live; writes lightning_logs/, model.pt2, metrics.json, samples.json
 *   tensorboard     the stock `tensorboard` CLI over train's lightning_logs/ (a directory Path)
 *   serve.py ×2     the model server (POST /predict), twice: blue and green, alternated
 *   endpoint        a TypeScript proxy Work with the one stable URL, in front of the live server
 *   ui.py           a Streamlit page: the training parameters and a Retrain button
 *   gradio_app.py   a Gradio demo: pick or draw a digit, see what the live model says
 *   demo            (demo mode only) a TypeScript Work that scores held-out digits, then the
 *                   app ends: what CI runs
 *
 * By default everything keeps serving until Ctrl-C: `flagship: ready …` says when. Pressing
 * Retrain on the Streamlit page (or changing `epochs`, `lr`, `hidden` in the flow's state)
 * trains again; when the new model is trained, the idle colour starts on it, the endpoint
 * switches to it once it answers, and only then the old server stops.
 *
 *   bash scripts/setup-flagship.sh                                  # Python venv, once
 *   lightning-local run examples/flagship/app.ts                    # train, serve; Ctrl-C ends
 *   lightning-local run examples/flagship/app.ts --set demo=true    # train, serve, score, exit
 *   lightning-local run examples/flagship/app.ts --set epochs=20 --set lr=0.003
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Construct } from 'constructs';
import { Flow, LightningApp, type Path, ScriptWork, type Work, type WorkContext } from 'lightning-local';
import { DemoClient } from './demo-client.ts';
import { ModelEndpoint } from './model-endpoint.ts';
import { type RetrainRequest, readRetrainRequest } from './retrain-request.ts';

/**
 * Python with torch, Lightning, TensorBoard, scikit-learn, Streamlit and Gradio:
 * $LIGHTNING_PYTHON, else the venv scripts/setup-flagship.sh creates beside this file, else
 * python3 (train.py then says what to install). Resolved on each machine that loads the app.
 */
const VENV_PYTHON = fileURLToPath(new URL('.venv/bin/python', import.meta.url));
const PYTHON = process.env.LIGHTNING_PYTHON ?? (existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3');

/** Where train.py saves its state when stopped by SIGTERM (WorkProps.checkpoint). */
const TRAIN_CHECKPOINT = 'checkpoints/preempted.ckpt';

/** Loopback unless the runtime says otherwise (on a cloud VM other machines reach the port). */
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

const TRAIN_STATE: TrainState = {
  stage: null,
  epoch: null,
  step: 0,
  max_epochs: null,
  train_loss: null,
  val_loss: null,
  val_acc: null,
  best_val_acc: null,
  best_epoch: null,
};

type Colour = 'blue' | 'green';

interface FlagshipState {
  /** Score held-out digits once a model is live, then end the app (CI). */
  demo: boolean;
  /** Training parameters: set with --set, the Streamlit page, or a state PATCH. */
  epochs: number;
  lr: number;
  hidden: number;
  /** Id of the last retrain request taken from the Streamlit page (0: none). */
  retrainRequest: number;
  /** Best validation accuracy of the current training call, and its (1-based) epoch. */
  bestValAcc: number | null;
  bestEpoch: number | null;
  /** The train call hash the two fields above belong to. */
  bestOfCall: string | null;
  /** Which train call each serve colour was started with; null: that colour is idle. */
  slots: Record<Colour, string | null>;
  /** The colour the endpoint sends requests to. */
  live: Colour | null;
  /** What was announced in the log so far, to say it once. */
  announced: Record<string, string>;
}

/** Lowest demo accuracy that counts as a working model. */
const DEMO_MIN_ACCURACY = 0.8;

class Flagship extends Flow<FlagshipState> {
  readonly train = new ScriptWork<TrainState, TrainArgs>(this, 'train', {
    script: 'train.py',
    python: PYTHON,
    args: (a, ctx) => [
      ...['--epochs', String(a.epochs), '--lr', String(a.lr), '--hidden', String(a.hidden)],
      // Preemptible: a SIGTERM (a Spot VM's preemption notice) saves the training state here;
      // the runtime keeps it in the Drive and the next attempt resumes from it.
      ...['--checkpoint', TRAIN_CHECKPOINT],
      ...(ctx.resumeFrom ? ['--resume-from', ctx.resumeFrom] : []),
    ],
    checkpoint: TRAIN_CHECKPOINT,
    outputs: ['model.pt2', 'metrics.json', 'samples.json', 'lightning_logs/'],
    state: { ...TRAIN_STATE },
    parallel: true, // run() keeps going while training, to react to the live numbers
    timeoutSeconds: 30 * 60,
  });

  readonly tensorboard = new ScriptWork<object, { logs: Path; trainCall: string }>(this, 'tensorboard', {
    command: [PYTHON, '-m', 'tensorboard.main'],
    args: (a, ctx) => ['--logdir', a.logs, '--host', bindHost(ctx), '--port', String(ctx.port)],
    port: 'auto',
    parallel: true,
  });

  /** The model server, twice: a new model starts on the idle colour (blue/green deployment). */
  readonly serve: Record<Colour, ScriptWork<object, ServeArgs>> = {
    blue: this.modelServer('serve_blue'),
    green: this.modelServer('serve_green'),
  };

  readonly endpoint = new ModelEndpoint(this, 'endpoint');

  readonly ui = new ScriptWork<{ request?: RetrainRequest }, { server: string }>(this, 'ui', {
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

  readonly gradio = new ScriptWork<object, { server: string }>(this, 'gradio', {
    script: 'gradio_app.py',
    python: PYTHON,
    args: (a, ctx) => ['--server-url', a.server, '--host', bindHost(ctx), '--port', String(ctx.port)],
    port: 'auto',
    parallel: true,
    // Gradio phones home for analytics and version checks unless told not to.
    env: { GRADIO_ANALYTICS_ENABLED: 'False' },
  });

  readonly demo = new DemoClient(this, 'demo');

  constructor(scope: Construct) {
    super(scope, 'root', {
      state: {
        demo: false,
        epochs: 10,
        lr: 0.01,
        hidden: 64,
        retrainRequest: 0,
        bestValAcc: null,
        bestEpoch: null,
        bestOfCall: null,
        slots: { blue: null, green: null },
        live: null,
        announced: {},
      },
    });
  }

  override run(): void {
    this.takeRetrainRequest();
    const s = this.state;
    this.train.run({ epochs: s.epochs, lr: s.lr, hidden: s.hidden, request: s.retrainRequest });
    this.trackBest();

    // The endpoint, the Streamlit page and the Gradio demo start at once and never restart:
    // they only know the endpoint's stable URL, whatever model is behind it.
    this.endpoint.run({});
    const endpoint = this.endpoint.state.url;
    if (endpoint !== null) {
      this.ui.run({ server: endpoint });
      this.gradio.run({ server: endpoint });
      this.announce('endpoint', `flagship: model endpoint ${endpoint} (POST /predict)`);
    }

    if (this.train.hasFailed) {
      const why = `training failed: ${this.train.status.message ?? this.train.status.reason}`;
      if (s.live === null) {
        this.failApp(why);
        return;
      }
      this.announce('trainFailed', `flagship: ${why}; still serving the previous model`);
    }
    const trainCall = this.train.status.callHash;
    if (this.train.hasSucceeded && trainCall !== null) {
      this.tensorboard.run({ logs: this.train.output('lightning_logs/'), trainCall });
      this.deploy(trainCall);
    }
    this.keepServing();
    if (!this.checkServers()) return;

    const live = s.live === null ? null : this.serve[s.live];
    const servers = [live, this.tensorboard, this.ui, this.gradio];
    if (endpoint === null || servers.some((w) => w === null || w.url === null)) return;
    if (!s.demo) {
      this.announce(
        'ready',
        `flagship: ready: Streamlit (parameters, Retrain), Gradio and TensorBoard are tabs of the lightning UI; ` +
          `scripts POST to ${endpoint}/predict; Ctrl-C stops`,
      );
      return;
    }
    this.demo.run({ url: endpoint, samples: this.train.output('samples.json') }); // blocking
    const { correct, sent, accuracy, model } = this.demo.state;
    const summary =
      `best val_acc ${s.bestValAcc?.toFixed(4)} (epoch ${s.bestEpoch}); ` +
      `demo predictions ${correct}/${sent} correct from ${endpoint}/predict (model ${model})`;
    if (accuracy === null || accuracy < DEMO_MIN_ACCURACY) {
      this.failApp(`the served model answers badly: ${summary}`);
      return;
    }
    this.stopApp(`demo finished: ${summary}. Without --set demo=true the app keeps serving.`);
  }

  private modelServer(id: string): ScriptWork<object, ServeArgs> {
    return new ScriptWork<object, ServeArgs>(this, id, {
      script: 'serve.py',
      python: PYTHON,
      args: (a) => ['--model', a.model],
      port: 'auto',
      parallel: true,
    });
  }

  /** A Retrain press on the Streamlit page: the page reports it in its own (ui) state. */
  private takeRetrainRequest(): void {
    const got = readRetrainRequest(this.ui.state.request, this.state.retrainRequest);
    if (got === null) return;
    this.state.retrainRequest = got.request.id;
    if ('error' in got) {
      console.log(`flagship: retrain request from the Streamlit page ignored: ${got.error}`);
      return;
    }
    const { epochs, lr, hidden } = got.request;
    Object.assign(this.state, { epochs, lr, hidden });
    console.log(
      `flagship: retrain requested from the Streamlit page: epochs=${epochs} lr=${lr} hidden=${hidden}`,
    );
  }

  /**
   * Records (and logs) each new best validation accuracy of the current training call. A new
   * call starts from nothing: the flow clears train's per-run fields when it sees the call
   * change, so the previous run's numbers (still in train's state until the script reports)
   * are not taken for the new run's.
   */
  private trackBest(): void {
    const s = this.state;
    const call = this.train.status.callHash;
    if (call !== s.bestOfCall) {
      s.bestOfCall = call;
      s.bestValAcc = null;
      s.bestEpoch = null;
      Object.assign(this.train.state, TRAIN_STATE);
      return;
    }
    const t = this.train.state;
    const acc = t.best_val_acc;
    if (typeof acc !== 'number' || (s.bestValAcc !== null && acc <= s.bestValAcc)) return;
    s.bestValAcc = acc;
    s.bestEpoch = typeof t.best_epoch === 'number' ? t.best_epoch + 1 : null;
    console.log(`flagship: new best val_acc ${acc.toFixed(4)} at epoch ${s.bestEpoch}/${t.max_epochs}`);
  }

  /** Starts the model of `trainCall` on the idle colour, unless a colour already has it. */
  private deploy(trainCall: string): void {
    const s = this.state;
    if (s.slots.blue === trainCall || s.slots.green === trainCall) return;
    const idle: Colour = s.live === 'blue' ? 'green' : 'blue';
    // If the idle colour is still starting an older model, the new call supersedes it.
    s.slots[idle] = trainCall;
  }

  /**
   * Declares the servers' calls (every pass, as calls are declarations), and switches the
   * endpoint to a colour once it answers with the newest model; then stops the other one.
   */
  private keepServing(): void {
    const s = this.state;
    for (const colour of ['blue', 'green'] as const) {
      const trainCall = s.slots[colour];
      if (trainCall !== null) this.serve[colour].run({ model: this.train.output('model.pt2'), trainCall });
    }
    const next: Colour = s.live === 'blue' ? 'green' : 'blue';
    const candidate = this.serve[next];
    if (s.slots[next] === null || candidate.url === null || candidate.status.phase !== 'running') return;
    this.endpoint.state.target = candidate.url;
    const previous = s.live;
    s.live = next;
    console.log(`flagship: the endpoint now sends requests to ${candidate.name} (${candidate.url})`);
    if (previous !== null) {
      this.serve[previous].stop();
      s.slots[previous] = null;
    }
  }

  /** False (and the app failed) if a server that should be up ended on its own. */
  private checkServers(): boolean {
    const s = this.state;
    const servers: Pick<Work, 'name' | 'status' | 'url'>[] = [
      this.endpoint,
      this.tensorboard,
      this.ui,
      this.gradio,
    ];
    for (const colour of ['blue', 'green'] as const)
      if (s.slots[colour] !== null) servers.push(this.serve[colour]);
    for (const work of servers) {
      const phase = work.status.phase;
      if (phase === 'failed' || phase === 'stopped' || phase === 'succeeded') {
        this.failApp(
          `${work.name} ended (${phase}): ${work.status.message ?? 'it exited'}; see its log above`,
        );
        return false;
      }
      if (work.url !== null && work !== this.serve.blue && work !== this.serve.green) {
        this.announce(work.name, `flagship: ${work.name} ${work.url}`);
      }
    }
    return true;
  }

  /** Logs `line` once per distinct value under `key`. */
  private announce(key: string, line: string): void {
    if (this.state.announced[key] === line) return;
    this.state.announced[key] = line;
    console.log(line);
  }
}

interface TrainArgs {
  epochs: number;
  lr: number;
  hidden: number;
  /** The Streamlit page's request id: a Retrain press with unchanged parameters still retrains. */
  request: number;
}

interface ServeArgs {
  model: Path;
  /** Unused by serve.py; part of the call so a new model is a new call. */
  trainCall: string;
}

const app = new LightningApp({ name: 'flagship' });
new Flagship(app);
export default app;
