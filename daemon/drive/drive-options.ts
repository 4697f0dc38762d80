/**
 * Options of {@link openDrive} for every backend. Its own module so the GCS backend, which
 * open-drive.ts loads on demand, can take them without importing its loader.
 */

export interface OpenDriveOptions {
  /** Drive name, as in `Path.drive`. @default 'default' */
  readonly name?: string;
  /** Local: how get() places objects. @default 'link' (hard link, falling back to clone/copy) */
  readonly fetchMode?: 'link' | 'copy';
  /** Local: fsync objects before they become visible. @default false */
  readonly durable?: boolean;
  /** Files moved at once by putDirectory/getDirectory. @default 16 locally, 32 on GCS */
  readonly concurrency?: number;
  /**
   * GCS: the JSON API endpoint, e.g. `http://127.0.0.1:4443` for an emulator.
   * @default $STORAGE_EMULATOR_HOST if set, else Google Cloud Storage
   */
  readonly apiEndpoint?: string;
  /** GCS: project id (an emulator accepts any). @default from the environment / ADC */
  readonly projectId?: string;
  /**
   * Create the local directory / the bucket if missing. Creating buckets is meant for
   * emulators and tests; in the cloud Terraform owns the bucket.
   * @default true locally, false on GCS
   */
  readonly create?: boolean;
  /** GCS: retries of a transient failure (5xx, 429, reset or refused connection). @default 5 */
  readonly maxRetries?: number;
  /** GCS: first retry delay, doubling per retry up to 10 s. @default 250 */
  readonly retryDelayMs?: number;
  /** GCS: files at least this large use a resumable upload. @default 16 MiB */
  readonly resumableThresholdBytes?: number;
}
