/**
 * Every app-level validation rule of the GCP synthesis (cloud settings, the app tree), one
 * case each: the error names the construct path, says what is wrong, and carries a fix. One
 * case checks that all problems of an app are reported together. (A Work's CloudCompute
 * rules: cloud-compute-validation-names-the-work-and-the-fix.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { planApp } from '../../constructs/cloud/plan.ts';
import { CloudCompute } from '../../constructs/cloud-compute.ts';
import { ValidationError } from '../../constructs/errors.ts';
import { LightningApp } from '../../constructs/index.ts';
import { buildApp, type Case, expectProblem, problemsOf } from './support/validation-app.ts';

const cases: readonly Case[] = [
  // App-level cloud settings
  [
    'no cloud settings',
    () => buildApp(undefined),
    'demo.cloud',
    /no GCP project is set/,
    /cloud: \{ project:/,
  ],
  [
    'project name instead of id',
    () => buildApp({ project: 'My Project' }),
    'demo.cloud',
    /"My Project" is not a GCP project id/,
    /gcloud projects list/,
  ],
  [
    'bad region',
    () => buildApp({ region: 'us-central' }),
    'demo.cloud',
    /region "us-central" is not a GCP region name/,
    /us-central1/,
  ],
  [
    'zone outside the region',
    () => buildApp({ region: 'us-central1', zone: 'europe-west4-a' }),
    'demo.cloud',
    /zone "europe-west4-a" is not a zone of region us-central1/,
    /us-central1-a/,
  ],
  [
    'privileged flow port',
    () => buildApp({ flowPort: 80 }),
    'demo.cloud',
    /flowPort 80 is not an unprivileged TCP port/,
    /1024-65535/,
  ],
  [
    'ui port out of range',
    () => buildApp({ uiPort: 70000 }),
    'demo.cloud',
    /uiPort 70000 is not an unprivileged TCP port/,
    /1024-65535/,
  ],
  [
    'flow and UI port clash',
    () => buildApp({ flowPort: 8000, uiPort: 8000 }),
    'demo.cloud',
    /flowPort and uiPort are both 8000/,
    /different ports/,
  ],
  [
    'bad subnet CIDR',
    () => buildApp({ subnetCidr: '10.0.0.0/33' }),
    'demo.cloud',
    /subnetCidr "10.0.0.0\/33" is not an IPv4 CIDR/,
    /10.20.0.0\/24/,
  ],
  [
    'existing network without subnetwork',
    () => buildApp({ network: { network: 'vpc', subnetwork: '' } }),
    'demo.cloud',
    /network.subnetwork is empty/,
    /existing subnetwork/,
  ],
  [
    'invalid app label key',
    () => buildApp({ labels: { 'Cost Center': 'x' } }),
    'demo.cloud',
    /label key "Cost Center" is invalid or reserved/,
    /lowercase letter first/,
  ],
  [
    'invalid app label value',
    () => buildApp({ labels: { owner: 'Ada@Lab' } }),
    'demo.cloud',
    /label owner="Ada@Lab" has an invalid value/,
    /lowercase/,
  ],
  [
    'bucket name with "google"',
    () => buildApp({ bucket: { name: 'my-google-drive' } }),
    'demo.cloud.bucket',
    /cannot contain "google"/,
    /cloud.bucket.name/,
  ],
  [
    'bucket name starting with goog',
    () => buildApp({ bucket: { name: 'goog-drive' } }),
    'demo.cloud.bucket',
    /cannot start with "goog"/,
    /cloud.bucket.name/,
  ],
  [
    'bucket name with uppercase',
    () => buildApp({ bucket: { name: 'My_Drive' } }),
    'demo.cloud.bucket',
    /lowercase letters/,
    /cloud.bucket.name/,
  ],
  [
    'bucket name too long',
    () => buildApp({ bucket: { name: 'a'.repeat(64) } }),
    'demo.cloud.bucket',
    /at most 63 characters/,
    /cloud.bucket.name/,
  ],
  [
    'bucket name that is an IP',
    () => buildApp({ bucket: { name: '192.168.1.1' } }),
    'demo.cloud.bucket',
    /cannot be an IP address/,
    /cloud.bucket.name/,
  ],
  [
    'flow VM with a GPU',
    () => buildApp({ flowCompute: CloudCompute.named('gpu-l4') }),
    'demo.flow',
    /the flow VM has a GPU/,
    /give the GPU to a Work/,
  ],
  [
    'Spot flow VM',
    () => buildApp({ flowCompute: CloudCompute.named('cpu', { spot: true }) }),
    'demo.flow',
    /the flow VM is Spot/,
    /on-demand flow/,
  ],
  [
    'flow VM with an idle timeout',
    () => buildApp({ flowCompute: new CloudCompute({ idleTimeoutSeconds: 600 }) }),
    'demo.flow',
    /apply to Works, not to the flow VM/,
    /remove them/,
  ],
  [
    'flow VM settings are checked like a work',
    () => buildApp({ flowCompute: new CloudCompute({ diskSizeGb: 1 }) }),
    'demo.flow',
    /1 GB is smaller than image/,
    /at least 10/,
  ],
  // The app tree
  [
    'two works with the same VM name',
    () => buildApp({}, [{ id: 'train_a' }, { id: 'train-a' }]),
    'root.train-a',
    /VM name demo-train-a is the same as root.train_a's/,
    /rename one/,
  ],
  [
    'a work named like the flow VM',
    () => buildApp({}, [{ id: 'flow' }]),
    'root.flow',
    /VM name demo-flow is the same as demo.flow's/,
    /rename one/,
  ],
  [
    'privileged work port',
    () => buildApp({}, [{ id: 'web', port: 80 }]),
    'root.web',
    /port 80 is privileged/,
    /1024 or more/,
  ],
  [
    'a fallback that is not a preset',
    () => buildApp({}, [{ id: 'train', compute: { fallback: ['gpu-x9' as never] } }]),
    'root.train',
    /fallback\[0\] "gpu-x9" is not a preset/,
    /gpu-l4/,
  ],
  [
    'a spend cap that is not a positive number',
    () => buildApp({ maxHourlySpend: -1 }),
    'demo.cloud',
    /maxHourlySpend -1 is not a positive number/,
    /maxHourlySpend: 5/,
  ],
];

describe('GCP synthesis validation', () => {
  it('plans a WorkMap without members at synth time: the flow creates their VMs at run time', () => {
    const plan = planApp(buildApp({}, [{ id: 'train' }], true));
    expect(plan.runTimeMaps.map((m) => m.component)).toEqual(['root.trials']);
    expect(plan.works.map((w) => w.component)).toEqual(['root.train']);
  });

  it.each(cases)('reports %s', (_name, make, path, message, fix) => {
    expectProblem(make(), path, message, fix);
  });

  it('reports an app without a root flow', () => {
    const app = new LightningApp({ name: 'empty', cloud: { project: 'my-project' } });
    const problems = problemsOf(app);
    expect(problems).toContainEqual(
      expect.objectContaining({
        path: 'empty',
        message: expect.stringMatching(/exactly one root Flow, found 0/),
      }),
    );
  });

  it('rejects an unknown preset name at once', () => {
    expect(() => CloudCompute.named('gpu-v100' as never)).toThrow(/unknown preset "gpu-v100"[\s\S]*gpu-l4/);
  });

  it('reports every problem of an app in one error, each with its path and a fix', () => {
    const app = buildApp({ flowPort: 7501, zone: 'us-central1-f', bucket: { name: 'google' } }, [
      { id: 'train', compute: { machineType: 'e2-standard-8', gpuType: 'T4', diskSizeGb: 5 } },
      { id: 'serve', compute: { machineType: 'g2-standard-4' }, port: 80 },
    ]);
    let error: ValidationError | undefined;
    try {
      planApp(app);
    } catch (err) {
      error = err as ValidationError;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const summary = error!.problems.map((p) => `${p.path}: ${p.message}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^demo\.cloud: flowPort and uiPort are both 7501/),
        expect.stringMatching(/^demo\.cloud\.bucket: bucket name "google" is invalid/),
        expect.stringMatching(/^root\.train: a Work with 1× T4 cannot run on e2-standard-8/),
        expect.stringMatching(/^root\.train: boot disk of 5 GB/),
        expect.stringMatching(/^root\.serve: L4 .* not offered in zone us-central1-f/),
        expect.stringMatching(/^root\.serve: port 80 is privileged/),
      ]),
    );
    expect(error!.problems.every((p) => (p.fix ?? '').length > 0)).toBe(true);
    expect(error!.message).toMatch(/Cannot synthesize app demo for GCP \(\d+ problems\)/);
    expect(error!.message).toContain('fix: ');
  });

  it('accepts the presets in a zone that has their GPU', () => {
    for (const preset of CloudCompute.presets) {
      const zone = preset === 'gpu-a100-80gb' ? 'us-central1-a' : 'us-central1-a';
      const app = buildApp({ zone }, [{ id: 'train', compute: CloudCompute.named(preset).props }]);
      expect(() => planApp(app), preset).not.toThrow();
    }
  });
});
