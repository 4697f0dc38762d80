/**
 * A work's `url` names the address other machines reach it at: `--advertise-host` of the
 * daemon role (the VM's internal IP in the cloud, passed by vm-boot.mjs), 127.0.0.1 by
 * default. The URL is published only once the port answers at that address. Runs the real
 * `flow` and `daemon` roles as processes on loopback (127.0.0.2 is loopback too on Linux).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, writeApp } from '../support/app-fixture.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const APP = `import { Flow, LightningApp, ScriptWork } from '@api';
class Root extends Flow {
  http = new ScriptWork(this, 'http', {
    command: ['python3', '-m', 'http.server'],
    args: (_a, ctx) => ['--bind', ctx.env.LIGHTNING_HOST ?? '127.0.0.1', String(ctx.port)],
    port: 'auto',
    parallel: true,
  });
  constructor(scope) { super(scope, 'root'); }
  run() { this.http.run({}); }
}
const app = new LightningApp({ name: 'adv' });
new Root(app);
export default app;
`;

function start(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, LIGHTNING_TOKEN: 'test-token-0123456789', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return { child, output: () => out };
}

async function until(output: () => string, re: RegExp, what: string): Promise<RegExpExecArray> {
  for (let i = 0; i < 600; i++) {
    const m = re.exec(output());
    if (m) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not within 60 s:\n${output()}`);
}

async function urlOf(daemonArgs: string[]): Promise<string> {
  const dir = await writeApp({ 'app.ts': APP });
  const flow = start(['flow', `${dir}/app.ts`, '--listen', '127.0.0.1:0'], {});
  const port = (await until(flow.output, /listening on 127\.0\.0\.1:(\d+)/, 'the flow'))[1]!;
  // The work's servers bind every interface, as on a work VM (vm-boot.mjs sets LIGHTNING_HOST).
  start(['daemon', `${dir}/app.ts`, '--work', 'root.http', '--flow', `127.0.0.1:${port}`, ...daemonArgs], {
    LIGHTNING_HOST: '0.0.0.0',
  });
  return (await until(flow.output, /root\.http\s+│ ● running\s+(http:\/\/\S+)/, "the work's url"))[1]!;
}

describe('the url a work advertises', () => {
  it('is http://<--advertise-host>:<port>, and loopback without it', async () => {
    expect(await urlOf(['--advertise-host', '127.0.0.2'])).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect(await urlOf([])).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a value that is not an address, saying what to pass', async () => {
    const r = await promisify(execFile)(
      process.execPath,
      [
        CLI,
        'daemon',
        'app.ts',
        '--work',
        'root.x',
        '--flow',
        '127.0.0.1:1',
        '--advertise-host',
        'http://10.0.0.5',
      ],
      { env: { ...process.env, LIGHTNING_TOKEN: 't' } },
    ).catch((err: { code: number; stderr: string }) => err);
    expect((r as { code: number }).code).not.toBe(0);
    expect((r as { stderr: string }).stderr).toMatch(
      /--advertise-host: "http:\/\/10\.0\.0\.5" is not an IP address or host name/,
    );
  });
});
