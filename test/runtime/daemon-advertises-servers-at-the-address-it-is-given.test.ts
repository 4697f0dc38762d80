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

const APP = `import { createServer } from 'node:http';
import { Flow, LightningApp, ScriptWork, Work } from '@api';
/** A TypeScript Work serving its port, publishing its URL from the advertised host. */
class Endpoint extends Work {
  constructor(scope, id) { super(scope, id, { state: { url: null }, parallel: true }); }
  get servesPort() { return 'auto'; }
  async execute(_a, ctx) {
    const srv = createServer((_q, r) => r.end('ok'));
    await new Promise((res) => srv.listen(ctx.port, ctx.env.LIGHTNING_HOST ?? '127.0.0.1', res));
    this.state.url = 'http://' + ctx.env.LIGHTNING_ADVERTISE_HOST + ':' + ctx.port;
    await new Promise((res) => ctx.signal.addEventListener('abort', res, { once: true }));
    srv.close();
  }
}
class Root extends Flow {
  ep = new Endpoint(this, 'ep');
  http = new ScriptWork(this, 'http', {
    command: ['python3', '-m', 'http.server'],
    args: (_a, ctx) => ['--bind', ctx.env.LIGHTNING_HOST ?? '127.0.0.1', String(ctx.port)],
    port: 'auto',
    parallel: true,
  });
  constructor(scope) { super(scope, 'root'); }
  run() { this.http.run({}); this.ep.run({}); }
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

/** The urls the flow records for the ScriptWork and the TypeScript Work. */
async function urlsOf(daemonArgs: string[]): Promise<{ http: string; ep: string }> {
  const dir = await writeApp({ 'app.ts': APP });
  const flow = start(['flow', `${dir}/app.ts`, '--listen', '127.0.0.1:0'], {});
  const port = (await until(flow.output, /listening on 127\.0\.0\.1:(\d+)/, 'the flow'))[1]!;
  // The works' servers bind every interface, as on a work VM (vm-boot.mjs sets LIGHTNING_HOST).
  for (const work of ['root.http', 'root.ep'])
    start(['daemon', `${dir}/app.ts`, '--work', work, '--flow', `127.0.0.1:${port}`, ...daemonArgs], {
      LIGHTNING_HOST: '0.0.0.0',
    });
  const url = async (w: string) =>
    (
      await until(flow.output, new RegExp(`root\\.${w}\\s+│ ● running\\s+(http://\\S+)`), `the url of ${w}`)
    )[1]!;
  return { http: await url('http'), ep: await url('ep') };
}

describe('the url a work advertises', () => {
  it('is http://<--advertise-host>:<port> for script and TypeScript works, and loopback without it', async () => {
    const given = await urlsOf(['--advertise-host', '127.0.0.2']);
    expect(given.http).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect(given.ep).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    const plain = await urlsOf([]);
    expect(plain.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(plain.ep).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
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
