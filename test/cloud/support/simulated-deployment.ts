/**
 * The set-up every simulated-GCP test shares: synthesize a fixture app, open a Terraform
 * workspace on its stack, start the simulated GCP beside it and run `terraform init`. What a
 * test applies, and when, stays in the test.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LightningApp } from '../../../constructs/app.ts';
import { synthesizeApp } from '../../../constructs/cloud/synth.ts';
import { type GcpSim, type GcpSimOptions, startGcpSim } from '../../support/gcp-sim/gcp-sim.ts';
import { TerraformWorkspace } from '../../support/terraform/terraform-cli.ts';

export interface SimulatedDeployment {
  readonly sim: GcpSim;
  readonly ws: TerraformWorkspace;
  /** Environment for terraform commands: points the stand-in provider at the simulator. */
  readonly env: Record<string, string>;
  /** Stops the simulator and removes the workspace. */
  close(): Promise<void>;
}

/** `app` loaded from `appFile`; `name` labels the temp directory; `sim` adds to the VMs' image (PATH, env). */
export async function simulatedDeployment(
  app: LightningApp,
  appFile: string,
  name: string,
  sim: Pick<GcpSimOptions, 'guestPath' | 'guestEnv'> = {},
): Promise<SimulatedDeployment> {
  const outdir = mkdtempSync(join(tmpdir(), `lightning-tf-${name}-`));
  const { stackFile } = await synthesizeApp(app, { appFile, outdir });
  const ws = await TerraformWorkspace.create(dirname(stackFile));
  const gcp = await startGcpSim({ ...sim, sourceRoot: ws.dir });
  await ws.run(['init']);
  return {
    sim: gcp,
    ws,
    env: { LIGHTNING_GCP_SIM_URL: gcp.url },
    close: async () => {
      await gcp.close();
      ws.dispose();
    },
  };
}
