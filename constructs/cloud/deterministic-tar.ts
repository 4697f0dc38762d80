/**
 * A byte-for-byte reproducible .tar.gz: sorted entries, fixed mtime/owner, ustar headers,
 * gzip with a zero mtime. Reproducible bundles keep `synth` deterministic and the bundle
 * object's name (its hash) stable when nothing changed. No cdktf imports.
 */
import { gzipSync } from 'node:zlib';
import { LightningError } from '../errors.ts';

export interface TarEntry {
  /** Relative POSIX path. */
  readonly path: string;
  readonly data: Buffer;
  readonly executable?: boolean;
}

const FIXED_MTIME = 1577836800; // 2020-01-01: a constant, so the archive does not depend on when it was built

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(path: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(512, 0);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', 155);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut <= 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
      throw new LightningError('BUNDLE', `bundle path too long for a tar header (${path})`, {
        fix: 'shorten the path below 255 characters (rename folders beside the app file)',
      });
    }
  }
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(FIXED_MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A gzipped tar of `entries` (regular files only; directories are implied). */
export function deterministicTarGz(entries: readonly TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  for (const e of sorted) {
    parts.push(header(e.path, e.data.length, e.executable ? 0o755 : 0o644), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}
