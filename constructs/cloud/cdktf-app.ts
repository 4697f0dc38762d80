/**
 * The app command of cdktf.json: `cdktf synth` / `cdktf deploy` run this under tsx. The app
 * file comes from $LIGHTNING_APP, else the `lightningApp` context key in cdktf.json.
 * cdktf sets CDKTF_OUTDIR and CDKTF_CONTEXT_JSON for us.
 */
import { loadApp } from '../load-app.ts';
import { synthesizeApp } from './synth.ts';

const context = JSON.parse(process.env.CDKTF_CONTEXT_JSON ?? '{}') as { lightningApp?: string };
const appFile = process.env.LIGHTNING_APP ?? context.lightningApp;
if (!appFile) {
  process.stderr.write(
    'No app file: set LIGHTNING_APP=path/to/app.ts or "context": { "lightningApp": "app.ts" } in cdktf.json\n',
  );
  process.exit(2);
}
try {
  const app = await loadApp(appFile);
  await synthesizeApp(app, { appFile });
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
