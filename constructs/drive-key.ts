/**
 * Drive key rules, one implementation for every backend (DESIGN.md §4). A key names an
 * object inside a Drive: relative, `/`-separated, NFC-normalised, at most 1024 UTF-8 bytes
 * (the GCS object-name limit). A key ending in `/` names a directory (a prefix).
 */
import { DriveError } from './errors.ts';

export const MAX_KEY_BYTES = 1024;
/** Longest segment most local filesystems accept (NAME_MAX); GCS has no such limit, so we impose it on both. */
export const MAX_SEGMENT_BYTES = 255;
/**
 * Segments starting with this are reserved for the local backend's temp and lock files, so
 * a key can never name (or collide with) a half-written object. Rejected on every backend.
 */
export const RESERVED_SEGMENT_PREFIX = '.lightning-drive-';

export type KeyRule =
  | 'not-string'
  | 'empty'
  | 'too-long'
  | 'absolute'
  | 'backslash'
  | 'control-character'
  | 'lone-surrogate'
  | 'line-separator'
  | 'empty-segment'
  | 'dot-segment'
  | 'encoded-dot-segment'
  | 'drive-letter'
  | 'segment-too-long'
  | 'reserved';

const RULE_TEXT: Record<KeyRule, string> = {
  'not-string': 'a key must be a string',
  empty: 'a key must not be empty',
  'too-long': `a key must be at most ${MAX_KEY_BYTES} bytes of UTF-8`,
  absolute: 'a key must be relative (no leading "/")',
  backslash: 'a key must use "/" as separator, not "\\"',
  'control-character': 'a key must not contain NUL or other control characters',
  'lone-surrogate':
    'a key must be valid Unicode (it has a lone UTF-16 surrogate, which has no UTF-8 form: the file name and the GCS object name would differ)',
  'line-separator':
    'a key must not contain the line or paragraph separators U+2028/U+2029 (they break log lines, JSON-in-JS and terminals)',
  'empty-segment': 'a key must not contain empty segments ("//")',
  'dot-segment': 'a key must not contain "." or ".." segments',
  'encoded-dot-segment': 'a key must not contain percent-encoded "." or ".." segments',
  'drive-letter': 'a key must not start with a drive letter ("C:")',
  'segment-too-long': `each "/"-separated segment of a key must be at most ${MAX_SEGMENT_BYTES} bytes of UTF-8 (the local file-name limit)`,
  reserved: `a key segment must not start with "${RESERVED_SEGMENT_PREFIX}" (reserved for the Drive's temporary files)`,
};

function fail(key: unknown, rule: KeyRule): never {
  const shown =
    typeof key === 'string' ? JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key) : String(key);
  throw new DriveError(
    'INVALID_KEY',
    typeof key === 'string' ? key : '',
    `Invalid Drive key ${shown}: ${RULE_TEXT[rule]}. Use a relative "/"-separated key such as "works/root.train/model.pt".`,
    {
      rule,
    },
  );
}

/**
 * Validates a key and returns its NFC form. Throws DriveError('INVALID_KEY') naming the key
 * and the rule. `allowDirectory` accepts a trailing `/` (a directory/prefix key).
 */
export function validateKey(key: unknown, options: { allowDirectory?: boolean } = {}): string {
  if (typeof key !== 'string') fail(key, 'not-string');
  if (key.length === 0) fail(key, 'empty');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) fail(key, 'control-character');
  // With the u flag a surrogate class matches only unpaired halves; pairs are one code point.
  if (/[\uD800-\uDFFF]/u.test(key)) fail(key, 'lone-surrogate');
  if (/[\u2028\u2029]/.test(key)) fail(key, 'line-separator');
  if (key.includes('\\')) fail(key, 'backslash');
  if (key.startsWith('/')) fail(key, 'absolute');
  if (/^[A-Za-z]:/.test(key)) fail(key, 'drive-letter');
  const normalized = key.normalize('NFC');
  if (Buffer.byteLength(normalized, 'utf8') > MAX_KEY_BYTES) fail(key, 'too-long');
  const body = options.allowDirectory && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
  if (body.length === 0) fail(key, 'empty');
  for (const segment of body.split('/')) {
    if (segment === '') fail(key, 'empty-segment');
    if (segment === '.' || segment === '..') fail(key, 'dot-segment');
    if (segment.includes('%') && /^(\.|%2e){1,2}$/i.test(segment)) fail(key, 'encoded-dot-segment');
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) fail(key, 'segment-too-long');
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) fail(key, 'reserved');
  }
  return normalized;
}

/** Validates a listing prefix: empty (everything) or a key, optionally ending in `/`. */
export function validatePrefix(prefix: unknown): string {
  if (prefix === '' || prefix === undefined) return '';
  return validateKey(prefix, { allowDirectory: true });
}
