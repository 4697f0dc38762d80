// biome-ignore-all lint/suspicious/noTemplateCurlyInString: literal ${ and %{ are what this test is about
/**
 * In Terraform JSON every string is an HCL template. The synthesized startup script is full
 * of bash `${VAR:-…}` and JavaScript template literals; unescaped, `terraform validate`
 * rejects the stack, and if it did not, the VM would run a different script. Here real
 * Terraform (with the stand-in provider) validates and applies a synthesized stack, and the
 * script in Terraform's state must be byte for byte what renderStartupScript() produced.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { App, TerraformOutput, TerraformStack } from 'cdktf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStartupScript } from '../../constructs/cloud/startup-script.ts';
import { templateLiteral } from '../../constructs/cloud/terraform-template.ts';
import { TERRAFORM_TIMEOUT_MS, TerraformWorkspace } from '../support/terraform/terraform-cli.ts';
import { appliedResources } from '../support/terraform/terraform-state.ts';
import app from './fixtures/cpu-app/app.ts';
import { synthFixture } from './support/synth-fixture.ts';

const workspaces: TerraformWorkspace[] = [];
afterAll(() => {
  for (const ws of workspaces) ws.dispose();
});

async function workspaceFor(stackDir: string): Promise<TerraformWorkspace> {
  const ws = await TerraformWorkspace.create(stackDir);
  workspaces.push(ws);
  await ws.run(['init']);
  return ws;
}

describe('Terraform renders synthesized strings back unchanged', { timeout: TERRAFORM_TIMEOUT_MS }, () => {
  let ws: TerraformWorkspace;
  beforeAll(async () => {
    const s = await synthFixture(app);
    ws = await workspaceFor(dirname(s.stackFile));
  }, TERRAFORM_TIMEOUT_MS);

  it('validates the stack (a literal ${ or %{ would be an interpolation or a directive)', async () => {
    const r = await ws.run(['validate', '-json'], { okExitCodes: [0, 1] });
    const result = JSON.parse(r.stdout) as {
      valid: boolean;
      error_count: number;
      diagnostics: { summary: string }[];
    };
    const summaries = [...new Set(result.diagnostics.map((d) => d.summary))];
    expect(result.error_count, `terraform validate: ${summaries.join('; ')}`).toBe(0);
    expect(result.valid).toBe(true);
  });

  it('applies it and every VM gets exactly the script renderStartupScript() produced', async () => {
    await ws.run(['apply', '-auto-approve']);
    const vms = appliedResources(await ws.showJson(), 'google_compute_instance');
    expect(vms.map((v) => v.name).sort()).toEqual(['hello-cloud-flow', 'hello-cloud-hello']);
    const expected = renderStartupScript();
    // The script really has what needs escaping, or this test would prove nothing.
    expect(expected).toContain('${LIGHTNING_BOOT_ROOT:-/opt/lightning}');
    expect(expected).toMatch(/`[^`]*\$\{[^`]*`/);
    for (const vm of vms) {
      const metadata = vm.metadata as Record<string, string>;
      expect(metadata['startup-script'] === expected, `${vm.name}: rendered script differs`).toBe(true);
    }
  });
});

describe('templateLiteral', { timeout: TERRAFORM_TIMEOUT_MS }, () => {
  it('survives Terraform for hostile literals and keeps references inside strings working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lightning-template-'));
    const cdk = new App({ outdir: dir });
    const stack = new TerraformStack(cdk, 'strings');
    new GoogleProvider(stack, 'google', { project: 'p', region: 'us-central1' });
    const bucket = new StorageBucket(stack, 'b', { name: 'the-bucket', location: 'US' });
    const literals: Record<string, string> = {
      bash: 'echo "${HOME:-/root}" ${#arr[@]} $((1 + 2)) $$ $x',
      js: 'const u = `http://${host}/${path}`;',
      directive: '%{ if true }yes%{ endif } 100%',
      escaped: 'already $${escaped} and %%{this}',
      trailing: 'ends with $ and %',
    };
    for (const [name, text] of Object.entries(literals)) {
      new TerraformOutput(stack, name, { value: templateLiteral(text) });
    }
    new TerraformOutput(stack, 'mixed', { value: templateLiteral(`gs://${bucket.name}/\${not-a-ref}/%{x}`) });
    cdk.synth();
    const ws = await workspaceFor(join(dir, 'stacks', 'strings'));
    await ws.run(['apply', '-auto-approve']);
    const outputs = JSON.parse((await ws.run(['output', '-json'])).stdout) as Record<
      string,
      { value: string }
    >;
    for (const [name, text] of Object.entries(literals)) expect(outputs[name]?.value, name).toBe(text);
    expect(outputs.mixed?.value).toBe('gs://the-bucket/${not-a-ref}/%{x}');
  });
});
