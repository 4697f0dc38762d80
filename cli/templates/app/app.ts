/**
 * Your lightning-local app: one Flow that runs train.py as a Work and reacts to its live
 * state. Run it with `npx lightning-local run app.ts` (add `--set epochs=50` to change a
 * parameter); the terminal prints a link to the web UI.
 *
 * Wrap more of your scripts the same way: a ScriptWork per script (TensorBoard, a model
 * server, …) with `port` for servers, `outputs`/Paths for files that move between them.
 */
import { type Construct, Flow, LightningApp, ScriptWork } from 'lightning-local';

/** The flow's state: its parameters (settable with --set and from the UI) and results. */
interface AppState {
  epochs: number;
  lr: number;
  finalLoss: number | null;
}

/** What train.py reports while it runs (see `report(...)` in train.py). */
interface TrainState {
  epoch?: number;
  loss?: number;
  progress?: number;
}

class Root extends Flow<AppState> {
  readonly train = new ScriptWork<TrainState, { epochs: number; lr: number }>(this, 'train', {
    script: 'train.py',
    args: (a) => ['--epochs', String(a.epochs), '--lr', String(a.lr)],
    outputs: ['model.json'], // copied to the Drive when the script succeeds
  });

  constructor(scope: Construct) {
    super(scope, 'root', { state: { epochs: 20, lr: 0.1, finalLoss: null } });
  }

  override run(): void {
    // A call is a declaration: it runs once per distinct arguments (new epochs or lr: a new
    // run). The code below it waits until the call succeeded.
    this.train.run({ epochs: this.state.epochs, lr: this.state.lr });
    this.state.finalLoss = this.train.state.loss ?? null;
    // Ends the app like a script ends. Without this line the app (and its UI) stays up, and
    // setting epochs or lr from the UI trains again.
    this.stopApp(`trained ${this.state.epochs} epochs, loss ${this.state.finalLoss}`);
  }
}

const app = new LightningApp({ name: '{{name}}' });
new Root(app);
export default app;
