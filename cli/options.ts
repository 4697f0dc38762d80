import { ValidationError } from '../constructs/errors.ts';

/** Collects a repeatable option into an array (commander helper). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--env K=V` pairs → an environment object. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  const problems = [];
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    const key = i > 0 ? pair.slice(0, i) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      problems.push({
        path: '--env',
        message: `"${pair}" is not KEY=VALUE with a valid variable name`,
        fix: 'write --env NAME=value',
      });
      continue;
    }
    env[key] = pair.slice(i + 1);
  }
  if (problems.length) throw new ValidationError(problems, 'Invalid --env');
  return env;
}
