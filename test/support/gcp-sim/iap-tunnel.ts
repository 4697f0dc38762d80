/**
 * The documented way to the flow's UI, simulated: `gcloud compute ssh <flow VM>
 * --tunnel-through-iap -- -N -L <local>:127.0.0.1:<uiPort>`. Two halves, as in GCP:
 *
 * - on the host (the user's laptop + IAP): a listener on 127.0.0.1:<local> whose connections
 *   leave from 35.235.240.1 (IAP's TCP-forwarding range) to the VM's port 22, so the VM's
 *   firewall decides, as GCP's does for IAP;
 * - in the VM (its sshd doing the `-L` forward): a process in the flow VM's namespace that
 *   accepts on :22 and connects to 127.0.0.1:<uiPort> inside the VM.
 *
 * No SSH protocol and no OS Login: what is simulated is the path and the rules on it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { IAP_SOURCE_IP } from './sim-network.ts';
import type { SimVm } from './sim-vm.ts';

const SSHD_FORWARD = `
const net = require('node:net');
const target = Number(process.argv[1]);
net.createServer((c) => {
  const up = net.connect({ host: '127.0.0.1', port: target });
  c.pipe(up).pipe(c);
  const end = () => { c.destroy(); up.destroy(); };
  c.on('error', end); up.on('error', end);
}).listen(22, '0.0.0.0', () => console.log('sshd-forward ready'));
`;

export interface IapTunnel {
  /** `http://127.0.0.1:<local>`: the UI as the user's browser sees it. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function openIapTunnel(vm: SimVm, remotePort: number): Promise<IapTunnel> {
  if (!vm.ns) throw new Error(`VM ${vm.name} is not running`);
  const sshd: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', vm.ns.name, process.execPath, '-e', SSHD_FORWARD, String(remotePort)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  sshd.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    sshd.stdout!.on('data', (c: Buffer) => {
      if (c.toString().includes('sshd-forward ready')) resolve();
    });
    sshd.once('exit', (code) =>
      reject(new Error(`the simulated sshd in ${vm.name} exited (${code}): ${err}`)),
    );
  });
  const server: Server = createServer((client) => {
    const up = connect({ host: vm.opts.ip, port: 22, localAddress: IAP_SOURCE_IP });
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      sshd.kill('SIGKILL');
      server.close();
    },
  };
}
