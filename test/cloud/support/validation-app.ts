/**
 * A small app to validate for GCP (one root flow of ScriptWorks, optionally an empty
 * WorkMap), and the problems planApp reports for it: shared by the validation tests.
 */
import type { Construct } from 'constructs';
import { expect } from 'vitest';
import type { GcpCloudProps } from '../../../constructs/cloud/cloud-props.ts';
import { planApp } from '../../../constructs/cloud/plan.ts';
import { CloudCompute, type CloudComputeProps } from '../../../constructs/cloud-compute.ts';
import { ValidationError, type ValidationProblem } from '../../../constructs/errors.ts';
import { Flow, LightningApp, ScriptWork, type ScriptWorkProps, WorkMap } from '../../../constructs/index.ts';

export interface WorkSpec {
  readonly id: string;
  readonly compute?: CloudComputeProps;
  readonly port?: ScriptWorkProps['port'];
}

export function buildApp(
  cloud: Partial<GcpCloudProps> | undefined,
  works: readonly WorkSpec[] = [{ id: 'train' }],
  withEmptyMap = false,
): LightningApp {
  const app = new LightningApp({
    name: 'demo',
    ...(cloud === undefined ? {} : { cloud: { project: 'my-project', ...cloud } as GcpCloudProps }),
  });
  class Root extends Flow {
    constructor(scope: Construct) {
      super(scope, 'root');
      for (const w of works) {
        new ScriptWork(this, w.id, {
          script: 'train.py',
          ...(w.compute ? { compute: new CloudCompute(w.compute) } : {}),
          ...(w.port !== undefined ? { port: w.port } : {}),
        });
      }
      if (withEmptyMap)
        new WorkMap(this, 'trials', (scope, key) => new ScriptWork(scope, key, { script: 'train.py' }));
    }
    override run(): void {}
  }
  new Root(app);
  return app;
}

export function problemsOf(app: LightningApp): readonly ValidationProblem[] {
  try {
    planApp(app);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems;
  }
  throw new Error('expected a ValidationError, but the app planned fine');
}

/** One rule: its name, an app that breaks it, and the problem expected (path, message, fix). */
export type Case = readonly [
  name: string,
  app: () => LightningApp,
  path: string,
  message: RegExp,
  fix: RegExp,
];

/** An app whose one work `train` has this compute (and these app-level cloud settings). */
export const work =
  (compute: CloudComputeProps, extra: Partial<GcpCloudProps> = {}) =>
  () =>
    buildApp(extra, [{ id: 'train', compute }]);

/** Checks that `app` is refused with a problem at `path` whose message and fix match. */
export function expectProblem(app: LightningApp, path: string, message: RegExp, fix: RegExp): void {
  const problems = problemsOf(app);
  const match = problems.find((p) => p.path === path && message.test(p.message));
  expect(
    match,
    `no problem at ${path} matching ${message}; got:\n${problems.map((p) => `${p.path}: ${p.message}`).join('\n')}`,
  ).toBeDefined();
  expect(match!.fix).toMatch(fix);
}
