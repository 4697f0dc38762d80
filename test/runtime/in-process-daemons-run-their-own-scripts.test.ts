/**
 * Each work daemon runs its ScriptWork's script through its own binding, so two daemons in
 * one process (tests, tools embedding the runtime) each log and report for their own work.
 * A process-wide hook (the last daemon constructed wins) sent the first work's output under
 * the second work's name.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';
import { pollUntil } from '../support/app-fixture.ts';
import { type InProcessApp, startInProcessApp } from '../support/in-process-app.ts';

let app: InProcessApp | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

describe('two work daemons in one process', () => {
  it('each runs its own script and its log lines carry its own work name', async () => {
    const logs: string[] = [];
    const scriptDir = await mkdtemp(join(tmpdir(), 'two-daemons-'));
    await writeFile(join(scriptDir, 'say.sh'), '#!/usr/bin/env bash\necho "hello $1"\n', { mode: 0o755 });
    const build = () => {
      const lightning = new LightningApp({ name: 'two-daemons' });
      class Root extends Flow {
        readonly a = new ScriptWork(this, 'a', { script: join(scriptDir, 'say.sh'), args: ['from-a'] });
        readonly b = new ScriptWork(this, 'b', { script: join(scriptDir, 'say.sh'), args: ['from-b'] });
        override run() {
          this.a.run({});
          this.b.run({});
          this.stopApp('both ran');
        }
      }
      new Root(lightning, 'root');
      return lightning;
    };
    app = await startInProcessApp(build, {
      daemons: ['root.a', 'root.b'],
      loop: {
        observer: { onLog: (work, _stream, lines) => logs.push(...lines.map((l) => `${work}: ${l}`)) },
      },
    });
    await pollUntil(() => app!.loop.hasEnded, 30_000, 'the app ends');
    expect(logs, logs.join('\n')).toContain('root.a: hello from-a');
    expect(logs).toContain('root.b: hello from-b');
    expect(logs.filter((l) => l.includes('hello'))).toHaveLength(2);
  });
});
