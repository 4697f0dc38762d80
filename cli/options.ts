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

/** The app token of a role process (`daemon`, `flow`), from $LIGHTNING_TOKEN: never argv, which /proc shows to everyone. */
export function requireToken(): string {
  const token = process.env.LIGHTNING_TOKEN;
  if (!token) {
    throw new ValidationError(
      [
        {
          path: 'LIGHTNING_TOKEN',
          message: 'the app token is not set',
          fix: 'export LIGHTNING_TOKEN=<the token the flow was started with>',
        },
      ],
      'Cannot start',
    );
  }
  return token;
}

/** The `--env` of `run`, as `run` hands it to its daemon processes (LIGHTNING_APP_ENV_JSON). */
export function appEnvFromParent(): Record<string, string> {
  const json = process.env.LIGHTNING_APP_ENV_JSON;
  return json ? (JSON.parse(json) as Record<string, string>) : {};
}
