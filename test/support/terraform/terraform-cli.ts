/**
 * Runs the real `terraform` CLI over a synthesized stack, offline: a CLI config whose
 * filesystem mirror holds the stand-in hashicorp/google provider (provider-main.ts, bundled
 * once per test process with esbuild so each of Terraform's provider starts is quick), and a
 * working directory per stack.
 *
 * @example
 *   const ws = await TerraformWorkspace.create(dirname(stackFile));
 *   await ws.run(['init']);
 *   await ws.run(['apply', '-auto-approve'], { env: { LIGHTNING_GCP_SIM_URL: url } });
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { execa } from 'execa';
import { GOOGLE_PROVIDER_ADDRESS, GOOGLE_PROVIDER_VERSION, SCHEMA_FILE } from './provider-schema.ts';

/**
 * Timeout for a test (or hook) that runs a few terraform commands: each costs 1–1.5 s of CPU,
 * but on the loaded 2-core machine one `apply` took over 60 s of wall time.
 */
export const TERRAFORM_TIMEOUT_MS = 400_000;

const PROVIDER_ENTRY = fileURLToPath(new URL('./provider-main.ts', import.meta.url));

/** The terraform binary: $TERRAFORM_BINARY, else `terraform` on PATH. */
export function terraformBinary(): string {
  const bin = process.env.TERRAFORM_BINARY ?? 'terraform';
  try {
    execFileSync(bin, ['version'], { stdio: 'ignore', env: { ...process.env, CHECKPOINT_DISABLE: '1' } });
  } catch {
    throw new Error(
      `Terraform is not installed (\`${bin} version\` failed). These tests run the real terraform CLI (>= 1.5; CI uses 1.11 at /usr/local/bin/terraform): install it on PATH or set TERRAFORM_BINARY. scripts/setup.sh checks for it.`,
    );
  }
  return bin;
}

interface Mirror {
  readonly root: string;
  readonly cliConfigFile: string;
}

let mirror: Promise<Mirror> | undefined;

/** The CLI config + mirror, built once per process and removed when it exits. */
function providerMirror(): Promise<Mirror> {
  mirror ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), 'lightning-tf-mirror-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    const bundleDir = join(root, 'provider');
    mkdirSync(bundleDir);
    await build({
      entryPoints: [PROVIDER_ENTRY],
      outfile: join(bundleDir, 'provider-main.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'error',
      // grpc-js is CommonJS and requires Node built-ins.
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    // provider-schema.ts finds the schema beside itself, so beside the bundle too.
    copyFileSync(SCHEMA_FILE, join(bundleDir, `google-${GOOGLE_PROVIDER_VERSION}-schema.json`));
    const platformDir = join(root, 'mirror', GOOGLE_PROVIDER_ADDRESS, GOOGLE_PROVIDER_VERSION, 'linux_amd64');
    mkdirSync(platformDir, { recursive: true });
    const executable = join(platformDir, `terraform-provider-google_v${GOOGLE_PROVIDER_VERSION}_x5`);
    writeFileSync(
      executable,
      `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(join(bundleDir, 'provider-main.mjs'))} "$@"\n`,
    );
    chmodSync(executable, 0o755);
    const cliConfigFile = join(root, 'terraform.rc');
    writeFileSync(
      cliConfigFile,
      `provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(join(root, 'mirror'))}
    include = [${JSON.stringify(GOOGLE_PROVIDER_ADDRESS)}]
  }
}
`,
    );
    return { root, cliConfigFile };
  })();
  return mirror;
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface TerraformResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Extra environment for terraform (and so for the provider), e.g. LIGHTNING_GCP_SIM_URL. */
  readonly env?: Readonly<Record<string, string>>;
  /** Exit codes that count as success. @default [0] */
  readonly okExitCodes?: readonly number[];
}

/** The distinct `Error: …` headlines of Terraform's output, with a count, at most ~20 lines. */
function summarize(out: TerraformResult): string {
  const headlines = `${out.stderr}\n${out.stdout}`
    .split('\n')
    .filter((l) => /^\s*(│\s*)?Error: /.test(l))
    .map((l) => l.replace(/^\s*(│\s*)?/, '').slice(0, 300));
  const counts = new Map<string, number>();
  for (const h of headlines) counts.set(h, (counts.get(h) ?? 0) + 1);
  const lines = [...counts].map(([h, n]) => (n > 1 ? `${h} (×${n})` : h));
  if (lines.length === 0) return `${out.stderr}${out.stdout}`.slice(-2000);
  return lines.slice(0, 20).join('\n');
}

/**
 * cdktf's default local backend names a state path outside the stack directory (resolved from
 * the synthesizing process's cwd); a test run must never write state into the checkout, so the
 * copy keeps its state in the working directory.
 */
function keepStateInside(stackFile: string): void {
  const stack = JSON.parse(readFileSync(stackFile, 'utf8')) as {
    terraform?: { backend?: Record<string, { path?: string }> };
  };
  const backend = stack.terraform?.backend;
  if (!backend) return;
  const kinds = Object.keys(backend);
  if (kinds.length !== 1 || !backend.local) {
    throw new Error(
      `${stackFile} uses backend ${kinds.join(', ')}; these tests run only with the local backend`,
    );
  }
  backend.local = { ...backend.local, path: 'terraform.tfstate' };
  writeFileSync(stackFile, JSON.stringify(stack, null, 2));
}

/** A working directory holding a copy of one synthesized stack. */
export class TerraformWorkspace {
  private constructor(
    readonly dir: string,
    private readonly bin: string,
    private readonly cliConfigFile: string,
  ) {}

  /** Copies `stackDir` (its cdk.tf.json and assets/) into a fresh working directory. */
  static async create(stackDir: string): Promise<TerraformWorkspace> {
    const bin = terraformBinary();
    const { cliConfigFile } = await providerMirror();
    const dir = mkdtempSync(join(tmpdir(), 'lightning-tf-'));
    cpSync(stackDir, dir, { recursive: true, filter: (src) => !/\/\.terraform(\/|$)|\.tfstate/.test(src) });
    keepStateInside(join(dir, 'cdk.tf.json'));
    return new TerraformWorkspace(dir, bin, cliConfigFile);
  }

  /** Runs `terraform <args>`; throws with the whole output when the exit code is not ok. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<TerraformResult> {
    const result = await execa(this.bin, [...args], {
      cwd: this.dir,
      reject: false,
      stdin: 'ignore',
      env: {
        TF_CLI_CONFIG_FILE: this.cliConfigFile,
        TF_IN_AUTOMATION: '1',
        TF_INPUT: '0',
        CHECKPOINT_DISABLE: '1',
        TF_CLI_ARGS: '-no-color',
        ...options.env,
      },
    });
    const out = {
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout),
      stderr: String(result.stderr),
    };
    if (!(options.okExitCodes ?? [0]).includes(out.exitCode)) {
      // The whole output (a stack's strings can be long) goes to a file; the error keeps it short.
      const log = join(this.dir, `terraform-${args[0]}-failed.log`);
      writeFileSync(log, `--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`);
      throw new Error(
        `terraform ${args.join(' ')} exited ${out.exitCode}:\n${summarize(out)}\n(full output: ${log})`,
      );
    }
    return out;
  }

  /** `terraform show -json [planFile]`, parsed. */
  async showJson(planFile?: string): Promise<Record<string, unknown>> {
    const { stdout } = await this.run(['show', '-json', ...(planFile ? [planFile] : [])]);
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
