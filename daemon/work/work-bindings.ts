/**
 * What the app's constructs reach in a work daemon (ADR 0013): the served work's own state
 * (a recording view the daemon owns) and status, and, for every other component, a binding
 * that refuses at once, naming the owner and the way to pass data instead.
 */
import type { LightningApp } from '../../constructs/app.ts';
import { LightningError } from '../../constructs/errors.ts';
import type { JsonObject } from '../../constructs/json.ts';
import { BINDING } from '../../constructs/runtime-binding.ts';
import type { Work, WorkContext } from '../../constructs/work.ts';
import type { WorkStatus } from '../../constructs/work-status.ts';

/** Binds the served work: its state and status views; run()/stop() belong to the flow. */
export function bindServedWork(
  work: Work,
  views: {
    readonly state: object;
    readonly status: WorkStatus;
    readonly runScript: (args: JsonObject, ctx: WorkContext) => Promise<void>;
  },
): void {
  work[BINDING] = {
    state: views.state,
    status: views.status,
    run: () => {
      throw new LightningError(
        'WRONG_ROLE',
        `${work.name}.run() is called by the flow, not from inside a work`,
        {
          fix: "call it in the flow's run(); inside a work, call your own functions directly",
        },
      );
    },
    stop: () => {
      throw new LightningError('WRONG_ROLE', `${work.name}.stop() is called by the flow`, {
        fix: 'to end a call from inside the work, return (success) or throw (failure)',
      });
    },
    runScript: views.runScript,
  };
}

/** Binds every component but `me` so that touching it from inside `me` fails, saying why. */
export function refuseOtherComponents(app: LightningApp, me: Work): void {
  const refuse = (name: string, what: string, owner = `${name}'s own daemon`): never => {
    throw new LightningError(
      'NOT_OWNER',
      `${name}.${what} is not reachable from inside ${me.name}: it is owned by ${owner} (ADR 0013). A work reads and writes only this.state.`,
      {
        fix: `pass values to it through run() arguments, or let the flow read ${me.name}.state and write ${name}.state`,
      },
    );
  };
  for (const w of app.works()) {
    if (w === me) continue;
    w[BINDING] = {
      get state(): object {
        return refuse(w.name, 'state');
      },
      get status(): WorkStatus {
        return refuse(w.name, 'status');
      },
      run: () => refuse(w.name, 'run()'),
      stop: () => refuse(w.name, 'stop()'),
    };
  }
  for (const f of app.flows()) {
    f[BINDING] = {
      get state(): object {
        return refuse(f.name, 'state', "the flow's event loop");
      },
      stopApp: () => refuse(f.name, 'stopApp()', "the flow's event loop"),
      failApp: () => refuse(f.name, 'failApp()', "the flow's event loop"),
    };
  }
}
