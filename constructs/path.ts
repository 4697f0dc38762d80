/**
 * References to data in a Drive. Both travel in state and in run() arguments as small JSON
 * markers (`{"$path": …}`, `{"$payload": …}`); the bytes stay in the Drive.
 */

/** Where a Path's or Payload's bytes are, and which component made them. */
export interface DriveRefJson {
  readonly drive: string;
  readonly key: string;
  readonly origin: string;
}
export interface PathJson {
  readonly $path: DriveRefJson;
}
export interface PayloadJson {
  readonly $payload: DriveRefJson;
}

/** What Path and Payload share; each adds its own JSON marker. */
abstract class DriveRef implements DriveRefJson {
  readonly drive: string;
  readonly key: string;
  readonly origin: string;
  constructor(drive: string, key: string, origin: string) {
    this.drive = drive;
    this.key = key;
    this.origin = origin;
  }
  protected get ref(): DriveRefJson {
    return { drive: this.drive, key: this.key, origin: this.origin };
  }
}

/**
 * A file or directory (key ending in `/`) in a Drive, produced by the Work named `origin`.
 * Pass it in `work.run({ data: path })` or a ScriptWork's `inputs` and the consuming Work's
 * daemon places it in the Work's directory before the script starts.
 *
 * @example
 * const ckpt = this.train.output('model.pt');
 * if (this.train.status.phase === 'succeeded') this.serve.run({ model: ckpt });
 */
export class Path extends DriveRef {
  /** True if this Path names a directory (its key ends in `/`). */
  get isDirectory(): boolean {
    return this.key.endsWith('/');
  }
  /** The last segment of the key: the file name a consumer gets by default. */
  get basename(): string {
    const trimmed = this.isDirectory ? this.key.slice(0, -1) : this.key;
    return trimmed.slice(trimmed.lastIndexOf('/') + 1);
  }
  toJSON(): PathJson {
    return { $path: this.ref };
  }
  static isPathJson(v: unknown): v is PathJson {
    return isMarker(v, '$path');
  }
  static fromJSON(v: PathJson): Path {
    return new Path(v.$path.drive, v.$path.key, v.$path.origin);
  }
}

/**
 * A value too large for state, stored as JSON in a Drive and passed by reference.
 * Create one in a Work with `await ctx.putPayload('name', value)`; read it in another with
 * `await ctx.loadPayload(payload)`.
 */
export class Payload extends DriveRef {
  toJSON(): PayloadJson {
    return { $payload: this.ref };
  }
  static isPayloadJson(v: unknown): v is PayloadJson {
    return isMarker(v, '$payload');
  }
  static fromJSON(v: PayloadJson): Payload {
    return new Payload(v.$payload.drive, v.$payload.key, v.$payload.origin);
  }
}

function isMarker(v: unknown, marker: string): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const inner = (v as Record<string, unknown>)[marker];
  if (typeof inner !== 'object' || inner === null) return false;
  const r = inner as Record<string, unknown>;
  return typeof r.drive === 'string' && typeof r.key === 'string' && typeof r.origin === 'string';
}
