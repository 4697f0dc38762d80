/**
 * A local daemon host (LocalDaemons) for an app of one idle ScriptWork, `root.w`, whose flow
 * address answers nothing: its daemons keep dialing and answer the host's pings, which is all
 * the host's liveness tests need. What the daemons print and how they end is collected.
 */
import { join } from 'node:path';
import { LocalDaemons, type LocalDaemonsOptions } from '../../daemon/flow/local-daemons.ts';
import { writeApp } from '../support/app-fixture.ts';

export interface HostWithoutFlow {
  readonly daemons: LocalDaemons;
  /** The daemons' output lines, in order. */
  readonly lines: string[];
  /** `<work>: <detail>` for every daemon exit the host reported. */
  readonly exits: string[];
}

/** Writes the app (named `appName`) to a temp project and creates its host; starts nothing. */
export async function hostWithoutFlow(
  appName: string,
  options: Partial<LocalDaemonsOptions> = {},
): Promise<HostWithoutFlow> {
  const dir = await writeApp({
    'app.ts': `
      import { Flow, LightningApp, ScriptWork } from '@api';
      class Root extends Flow {
        readonly w = new ScriptWork(this, 'w', { command: ['true'] });
        override run() {}
      }
      const app = new LightningApp({ name: '${appName}' });
      new Root(app, 'root');
      export default app;`,
  });
  const lines: string[] = [];
  const exits: string[] = [];
  const daemons = new LocalDaemons({
    appFile: join(dir, 'app.ts'),
    flowAddress: '127.0.0.1:1', // nobody there: the daemon keeps retrying, and answers pings
    token: 't',
    driveUrl: join(dir, '.lightning', 'drive'),
    env: {},
    onOutput: (_w, line) => lines.push(line),
    onExit: (w, detail) => exits.push(`${w}: ${detail}`),
    ...options,
  });
  return { daemons, lines, exits };
}
