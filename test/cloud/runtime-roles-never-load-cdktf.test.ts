/**
 * DESIGN §2: the runtime roles must not load cdktf or the Google bindings. The public
 * constructs entry, the cloud plan/cost modules and the CLI (with its synth and cost
 * commands registered) load without them; the synthesis module does load them (the control
 * that shows the check can fail).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Imports `modules` in a fresh Node (with tsx) and lists the loaded cdktf/provider files (esbuild is left out: tsx itself uses it). */
function loadedSynthesisModules(modules: string[], extra = ''): string[] {
  const script = `
    import { createRequire } from 'node:module';
    ${modules.map((m, i) => `import * as m${i} from ${JSON.stringify(ROOT + m)};`).join('\n')}
    ${extra}
    const cache = createRequire(import.meta.url).cache;
    const hits = Object.keys(cache).filter((p) => /node_modules\\/(cdktf|@cdktf)\\//.test(p));
    console.log(JSON.stringify(hits.map((p) => p.replace(/.*node_modules\\//, '')).slice(0, 5)));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('runtime roles and synthesis modules', () => {
  it('the public entry, CloudCompute, the plan, the price table, the startup script and the flow VM control (run-time VMs too) load no cdktf', () => {
    expect(
      loadedSynthesisModules([
        'constructs/index.ts',
        'constructs/cloud-compute.ts',
        'constructs/cloud/plan.ts',
        'constructs/cloud/price-table.ts',
        'constructs/cloud/startup-script.ts',
        'daemon/cloud/work-vm-control.ts',
        'daemon/cloud/run-time-vms.ts',
        'constructs/cloud/run-time-plan.ts',
        'cli/cost-command.ts',
        'cli/synth-command.ts',
      ]),
    ).toEqual([]);
  });

  it('registering the synth command does not load cdktf until it runs', () => {
    const extra = `
      const { Command } = await import('commander');
      const p = new Command(); m0.registerSynthCommand(p); m1.registerCostCommand(p);
    `;
    expect(loadedSynthesisModules(['cli/synth-command.ts', 'cli/cost-command.ts'], extra)).toEqual([]);
  });

  it('the synthesis module does load them (control)', () => {
    expect(loadedSynthesisModules(['constructs/cloud/synth.ts']).some((p) => p.startsWith('cdktf/'))).toBe(
      true,
    );
  });
});
