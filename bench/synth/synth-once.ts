/**
 * One synthesis in a fresh process, as `lightning-local synth` does it: load the app file,
 * synthesize Terraform JSON into a temp dir. Prints {wallMs, peakRssMiB} as JSON: wall time
 * from process start (imports of cdktf and the provider submodules included) and peak RSS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeApp } from '../../constructs/cloud/synth.ts';
import { loadAppFile } from '../../constructs/load-app.ts';

const appFile = join(import.meta.dirname, 'app/app.ts');
const outdir = mkdtempSync(join(tmpdir(), 'bench-synth-'));
try {
  const { app } = await loadAppFile(appFile);
  await synthesizeApp(app, { appFile, outdir });
  const wallMs = performance.now(); // since process start
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ wallMs, peakRssMiB, works: app.works().length })}\n`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
