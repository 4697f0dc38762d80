#!/usr/bin/env node
// Entry point of `lightning-local`. Registers tsx so the CLI and users' app.ts files load
// as TypeScript without a build step, then hands over to cli/main.ts.
//
// `run` of an app whose `.lightning/bundle/` is fresh (every source unchanged since it was
// built, ADR 0022) starts from that bundle instead: the CLI and the app as plain JavaScript,
// without tsx's compiler and loader thread (a third less memory and start-up for the flow).
// Either way it calls the CLI's main() and tells it how it was started (cli/main.ts CliLaunch).
import { pathToFileURL } from 'node:url';
import { freshRunBundle } from '../daemon/flow/fresh-bundle.mjs';

const bundle = process.env.LIGHTNING_NO_BUNDLED_FLOW ? null : freshRunBundle(process.argv.slice(2));
if (bundle) {
  const { main } = await import(pathToFileURL(bundle.cli).href);
  await main(process.argv, { bundledRun: bundle });
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('./main.ts');
  await main(process.argv);
}
