/**
 * A Work's declared outputs become Paths under exactly the keys `Work.output()` names, and
 * another Work fetches them (files and directories) into its own directory, on every backend.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LightningApp } from '../../constructs/app.ts';
import { DriveError } from '../../constructs/errors.ts';
import { Flow } from '../../constructs/flow.ts';
import { Path } from '../../constructs/path.ts';
import { ScriptWork } from '../../constructs/script-work.ts';
import { fetchPath, uploadOutputs } from '../../daemon/drive/path-transfer.ts';
import type { Backend, BackendFixture } from './drive-backends.ts';
import { BACKENDS } from './drive-backends-all.ts';

class Root extends Flow {
  readonly train = new ScriptWork(this, 'train', {
    script: 'train.py',
    outputs: ['model.pt', 'lightning_logs/', 'metrics/summary.json'],
  });
  constructor(scope: LightningApp) {
    super(scope, 'root');
  }
  override run(): void {}
}

describe.each(BACKENDS)('Path handoff between Works: $name', (backend: Backend) => {
  let f: BackendFixture;
  let base: string;
  let trainDir: string;
  let serveDir: string;
  const root = new Root(new LightningApp({ name: 'handoff' }));

  beforeAll(() => backend.start());
  afterAll(() => backend.stop());
  beforeEach(async () => {
    f = await backend.fresh();
    base = await mkdtemp(join(tmpdir(), 'handoff-'));
    trainDir = join(base, 'works', 'root.train');
    serveDir = join(base, 'works', 'root.serve');
    await mkdir(join(trainDir, 'lightning_logs', 'version_0'), { recursive: true });
    await mkdir(join(trainDir, 'metrics'), { recursive: true });
    await mkdir(serveDir, { recursive: true });
  });
  afterEach(async () => {
    await f.dispose();
    await rm(base, { recursive: true, force: true });
  });

  it('uploads declared outputs under the keys Work.output() names, and fetches them elsewhere', async () => {
    const model = randomBytes(3 * 1024 * 1024);
    await writeFile(join(trainDir, 'model.pt'), model);
    await writeFile(join(trainDir, 'lightning_logs', 'version_0', 'events.out'), 'events');
    await writeFile(join(trainDir, 'lightning_logs', 'version_0', 'hparams.yaml'), 'lr: 0.1');
    await writeFile(join(trainDir, 'metrics', 'summary.json'), '{"loss":0.1}');

    const paths = await uploadOutputs(f.drive, root.train.name, trainDir, root.train.declaredOutputs);
    expect(paths.map((p) => p.toJSON())).toEqual(
      root.train.declaredOutputs.map((o) => root.train.output(o).toJSON()),
    );
    expect(paths.map((p) => p.key)).toEqual([
      'works/root.train/model.pt',
      'works/root.train/lightning_logs/',
      'works/root.train/metrics/summary.json',
    ]);

    // The Path travels through state as JSON and is fetched by the consumer.
    const modelPath = Path.fromJSON(JSON.parse(JSON.stringify(root.train.output('model.pt'))));
    const got = await fetchPath(f.drive, modelPath, join(serveDir, 'model.pt'));
    expect(got).toBe(join(serveDir, 'model.pt'));
    expect((await readFile(got)).equals(model)).toBe(true);

    await fetchPath(f.drive, root.train.output('lightning_logs/'), join(serveDir, 'logs'));
    expect(await readFile(join(serveDir, 'logs', 'version_0', 'events.out'), 'utf8')).toBe('events');
    expect(await readFile(join(serveDir, 'logs', 'version_0', 'hparams.yaml'), 'utf8')).toBe('lr: 0.1');
  });

  it('a missing declared output is an error naming each file, and nothing is uploaded', async () => {
    await writeFile(join(trainDir, 'model.pt'), 'weights');
    await rm(join(trainDir, 'metrics'), { recursive: true });
    const err = await uploadOutputs(f.drive, 'root.train', trainDir, [
      'model.pt',
      'metrics/summary.json',
      'gone.txt',
    ]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DriveError);
    const message = (err as DriveError).message;
    expect(message).toContain('"metrics/summary.json"');
    expect(message).toContain(join(trainDir, 'metrics', 'summary.json'));
    expect(message).toContain('"gone.txt"');
    expect(message).not.toContain('"model.pt"');
    expect(await f.drive.list()).toEqual([]);
  });

  it('a directory declared without "/" (or a file with it) is refused with the fix', async () => {
    const err = await uploadOutputs(f.drive, 'root.train', trainDir, ['lightning_logs']).catch(
      (e: unknown) => e,
    );
    expect((err as DriveError).message).toContain('declare it as "lightning_logs/"');
    await writeFile(join(trainDir, 'model.pt'), 'w');
    const err2 = await uploadOutputs(f.drive, 'root.train', trainDir, ['model.pt/']).catch((e: unknown) => e);
    expect((err2 as DriveError).message).toContain('drop the "/"');
  });

  it('a re-run replaces a directory output: files the new run did not write disappear', async () => {
    await writeFile(join(trainDir, 'lightning_logs', 'version_0', 'old.txt'), 'old');
    await uploadOutputs(f.drive, 'root.train', trainDir, ['lightning_logs/']);
    await rm(join(trainDir, 'lightning_logs', 'version_0', 'old.txt'));
    await writeFile(join(trainDir, 'lightning_logs', 'version_0', 'new.txt'), 'new');
    await uploadOutputs(f.drive, 'root.train', trainDir, ['lightning_logs/']);
    expect((await f.drive.list('works/root.train/')).map((s) => s.key)).toEqual([
      'works/root.train/lightning_logs/version_0/new.txt',
    ]);
  });

  it('fetching a Path that was never produced says which Work must succeed first', async () => {
    const err = await fetchPath(f.drive, root.train.output('model.pt'), join(serveDir, 'model.pt')).catch(
      (e: unknown) => e,
    );
    expect((err as DriveError).driveCode).toBe('NOT_FOUND');
    expect((err as DriveError).message).toContain('root.train');
    const dirErr = await fetchPath(f.drive, root.train.output('lightning_logs/'), join(serveDir, 'l')).catch(
      (e: unknown) => e,
    );
    expect((dirErr as DriveError).driveCode).toBe('NOT_FOUND');
    await expect(stat(join(serveDir, 'model.pt'))).rejects.toThrow();
  });

  it('a Path from another Drive is refused', async () => {
    const foreign = new Path('other', 'works/root.train/model.pt', 'root.train');
    const err = await fetchPath(f.drive, foreign, join(serveDir, 'x')).catch((e: unknown) => e);
    expect((err as DriveError).message).toContain('Drive "other"');
  });
});
