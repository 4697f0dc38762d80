/**
 * The few Cloud Storage JSON API calls the sim makes on the real GCS emulator
 * (fake-gcs-server) to play `google_storage_bucket` and `google_storage_bucket_object`.
 */

async function ok(res: Response, what: string): Promise<Response> {
  if (res.ok) return res;
  throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
}

export class GcsOps {
  constructor(readonly endpoint: string) {}

  async createBucket(project: string, name: string): Promise<void> {
    await ok(
      await fetch(`${this.endpoint}/storage/v1/b?project=${encodeURIComponent(project)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name }),
      }),
      `create bucket ${name}`,
    );
  }

  async bucketExists(name: string): Promise<boolean> {
    const res = await fetch(`${this.endpoint}/storage/v1/b/${encodeURIComponent(name)}`);
    return res.ok;
  }

  async list(bucket: string): Promise<string[]> {
    const res = await fetch(`${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o`);
    if (res.status === 404) return [];
    const body = (await (await ok(res, `list gs://${bucket}`)).json()) as { items?: { name: string }[] };
    return (body.items ?? []).map((i) => i.name);
  }

  /** Deletes the bucket; with `force`, its objects first (force_destroy), else refuses a non-empty one. */
  async deleteBucket(name: string, force: boolean): Promise<void> {
    const objects = await this.list(name);
    if (objects.length > 0 && !force) {
      throw new Error(
        `Error trying to delete bucket ${name} containing objects without \`force_destroy\` set to true`,
      );
    }
    for (const o of objects) await this.deleteObject(name, o);
    const res = await fetch(`${this.endpoint}/storage/v1/b/${encodeURIComponent(name)}`, {
      method: 'DELETE',
    });
    if (res.status !== 404) await ok(res, `delete bucket ${name}`);
  }

  async upload(
    bucket: string,
    name: string,
    data: Buffer,
    contentType?: string,
  ): Promise<{ md5Hash?: string; crc32c?: string; generation?: string }> {
    const res = await ok(
      await fetch(
        `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=media&name=${encodeURIComponent(name)}`,
        {
          method: 'POST',
          headers: { 'Content-Type': contentType ?? 'application/octet-stream' },
          body: data,
        },
      ),
      `upload gs://${bucket}/${name}`,
    );
    return (await res.json()) as { md5Hash?: string; crc32c?: string; generation?: string };
  }

  async read(bucket: string, name: string): Promise<Buffer | undefined> {
    const res = await fetch(
      `${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}?alt=media`,
    );
    if (res.status === 404) return undefined;
    return Buffer.from(await (await ok(res, `read gs://${bucket}/${name}`)).arrayBuffer());
  }

  async deleteObject(bucket: string, name: string): Promise<void> {
    const res = await fetch(
      `${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`,
      { method: 'DELETE' },
    );
    if (res.status !== 404) await ok(res, `delete gs://${bucket}/${name}`);
  }
}
