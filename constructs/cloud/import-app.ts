/**
 * Loads an app file's default export for synthesis/cost (`lightning-local synth app.ts`,
 * cdktf.json). A .ts app needs a TypeScript loader in the process: the lightning-local bin
 * registers tsx, cdktf.json runs under tsx. No cdktf imports.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LightningApp } from '../app.ts';
import { ValidationError } from '../errors.ts';

export async function importApp(file: string): Promise<LightningApp> {
  const abs = resolve(file);
  if (!existsSync(abs)) {
    throw new ValidationError(
      [{ path: file, message: 'app file not found', fix: 'pass the path of your app.ts' }],
      'Cannot load app',
    );
  }
  const mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  if (!LightningApp.isLightningApp(mod.default)) {
    throw new ValidationError(
      [
        {
          path: file,
          message: 'the module has no LightningApp as its default export',
          fix: 'end the app file with `export default app;`',
        },
      ],
      'Cannot load app',
    );
  }
  return mod.default;
}
