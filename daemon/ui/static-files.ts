/**
 * The UI's static files (no build step, ADR 0008/0018) and the headers every UI page carries.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORK_HOST_SUFFIX } from './ui-auth.ts';

export const STATIC_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  // The page's ES modules (index.html loads app.js, which imports the rest).
  'app.js': 'text/javascript; charset=utf-8',
  'model.js': 'text/javascript; charset=utf-8',
  'works.js': 'text/javascript; charset=utf-8',
  'tabs.js': 'text/javascript; charset=utf-8',
  'runs.js': 'text/javascript; charset=utf-8',
  'state-view.js': 'text/javascript; charset=utf-8',
  'logs.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'views.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
  'vendor/uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'vendor/uPlot.min.css': 'text/css; charset=utf-8',
};

/**
 * The chart library (uPlot, a runtime dependency, ADR 0018) is served from its npm package
 * as shipped: `vendor/<file>` is `node_modules/uplot/dist/<file>`. The cloud bundle has no
 * node_modules, so the app bundler (constructs/bundle/app-bundler.ts) copies the two files to `ui-static/vendor/`, looked at first.
 */
export function vendorFile(staticRoot: string, name: string): string {
  const bundled = join(staticRoot, name);
  if (existsSync(bundled)) return bundled;
  const pkg = createRequire(import.meta.url).resolve('uplot/package.json');
  return join(dirname(pkg), 'dist', name.slice('vendor/'.length));
}

/** Static files: beside this module in the repo; `../ui-static` in the cloud bundle (chunks/). */
export function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'static'), join(here, '..', 'ui-static')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0]!;
}

export const UI_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'SAMEORIGIN',
  'content-security-policy': `default-src 'self'; img-src 'self' data:; style-src 'self'; frame-src 'self' http://*${WORK_HOST_SUFFIX}:*; frame-ancestors 'self'; base-uri 'none'; form-action 'self'`,
};
