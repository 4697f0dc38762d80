/** Types of daemon/flow/fresh-bundle.mjs (plain JavaScript: bin.js reads it before tsx is registered). */

/** Where an app's bundle lives and its entry points. */
export interface BundlePaths {
  readonly appFile: string;
  readonly outdir: string;
  /** The bundled CLI (lightning-runtime/cli/main.mjs). */
  readonly cli: string;
  /** The bundled app (app.mjs). */
  readonly app: string;
}

export const BUNDLE_LAYOUT: number;
export const MANIFEST: string;
export function bundlePaths(appFile: string): BundlePaths;
export function sha256File(file: string): string | null;
export function isFreshBundle(appFile: string): boolean;
export function freshRunBundle(args: readonly string[]): BundlePaths | null;
