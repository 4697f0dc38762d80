/**
 * In Terraform JSON every string is an HCL template: `${…}` interpolates and `%{…}` is a
 * directive, so a literal string (the startup script's bash `${VAR:-x}`, vm-boot.mjs's
 * JavaScript template literals, a user's label or image name) must write them `$${` and
 * `%%{`; Terraform renders them back to `${` and `%{`. References that cdktf put into a
 * string (`gs://${bucket.name}/drive`) are tokens until synthesis and stay untouched.
 *
 * No cdktf imports: it works on cdktf's string encoding of tokens, `${TfToken[…]}`.
 */

/** How cdktf encodes a string token inside a string until it resolves it at synthesis. */
const CDKTF_STRING_TOKEN = '${TfToken[';

/**
 * `text` written so that Terraform's template rendering gives back exactly `text`; cdktf
 * tokens in it (references to other resources) stay references.
 *
 * @example
 *   templateLiteral('ROOT="${LIGHTNING_BOOT_ROOT:-/opt/lightning}"') // 'ROOT="$${LIGHTNING_BOOT_ROOT:-/opt/lightning}"'
 */
export function templateLiteral(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '$' && text[i + 1] === '{' && !text.startsWith(CDKTF_STRING_TOKEN, i)) out += '$$';
    else if (c === '%' && text[i + 1] === '{') out += '%%';
    else out += c;
  }
  return out;
}

/**
 * `templateLiteral` applied to every value of a string map (metadata, labels). Keys stay as
 * they are: GCE allows only `[a-z0-9_-]` in them.
 */
export function templateLiterals(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, templateLiteral(v)]));
}
