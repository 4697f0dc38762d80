import type { Construct } from 'constructs';
import { Component } from './component.ts';
import { hasBrand } from './component-name.ts';
import type { StateShape } from './json.ts';
import type { UiLayout } from './layout.ts';
import type { FlowBinding } from './runtime-binding.ts';

const FLOW_BRAND = Symbol.for('lightning-local.Flow');

export interface FlowProps<S extends StateShape = StateShape> {
  /** Initial state of the flow. `lightning-local run --set key=value` overrides keys of the root flow. @default {} */
  readonly state?: S;
}

/**
 * Orchestrates Works. The app's event loop re-runs the root flow's `run()` whenever state
 * changes (a work reported progress, a status changed, the flow set state); `run()` reads
 * state and declares calls with `work.run(args)`. It must be synchronous and quick: it runs
 * on the loop, serialized with every state change. Child flows run when their parent calls
 * their `run()`.
 *
 * @example
 * class Root extends Flow<{ done: boolean }> {
 *   readonly train = new ScriptWork(this, 'train', { script: 'train.py' });
 *   constructor(scope: Construct) { super(scope, 'root', { state: { done: false } }); }
 *   override run() {
 *     this.train.run({ lr: 0.01 });                 // blocks the rest of run() until it succeeds
 *     this.stopApp('trained');
 *   }
 * }
 */
export abstract class Flow<S extends StateShape = StateShape> extends Component<
  S,
  FlowProps<S>,
  FlowBinding
> {
  static isFlow(x: unknown): x is Flow {
    return hasBrand(x, FLOW_BRAND);
  }

  constructor(scope: Construct, id: string, props: FlowProps<S> = {}) {
    super(scope, id, props, 'Flow', FLOW_BRAND);
    this.idProblems(id, 'flow').throwIfAny('Invalid flow');
  }

  /** The flow's state; writes are recorded and trigger another pass of the loop. */
  override get state(): S {
    return super.state;
  }

  /** Ends the app successfully once this pass finishes: every work is stopped, exit code 0. */
  stopApp(message = 'stopped by the flow'): void {
    this.bound('.stopApp()').stopApp(message);
  }

  /** Ends the app as failed once this pass finishes: every work is stopped, exit code 1. */
  failApp(message: string): void {
    this.bound('.failApp()').failApp(message);
  }

  /**
   * The web UI's tabs: names, order, the landing tab, tabs at a sub-path of a work's server
   * (see {@link UiLayout}). Read once from the root flow when the UI starts. @default none (the
   * UI's default tabs)
   */
  configureLayout(): UiLayout | undefined {
    return undefined;
  }

  /** One pass of orchestration. Synchronous; re-run by the loop on every state change. */
  abstract run(): void;
}
