/**
 * The public authoring API of lightning-local. Everything an app file imports comes from
 * here; anything not named here is internal.
 */
// Every app names the scope type in its constructors; re-exported so an app needs no direct
// dependency on `constructs` (the same class: there is one copy of the package).
export { Construct } from 'constructs';
export { LightningApp, type LightningAppProps } from './app.ts';
export type { DriveBucketProps, ExistingNetworkProps, GcpCloudProps } from './cloud/cloud-props.ts';
export {
  CloudCompute,
  type CloudComputePreset,
  type CloudComputeProps,
  type GpuType,
} from './cloud-compute.ts';
export type { Drive, DriveStat, GetOptions, PutOptions, PutSource, TransferProgress } from './drive.ts';
export { type KeyRule, validateKey } from './drive-key.ts';
export {
  DaemonError,
  DriveError,
  type DriveErrorCode,
  LightningError,
  ValidationError,
  type ValidationProblem,
  WorkFailedError,
} from './errors.ts';
export { Flow, type FlowProps } from './flow.ts';
export type { JsonObject, JsonValue } from './json.ts';
export {
  type BuiltInView,
  type LayoutTab,
  type ResolvedLayout,
  resolveLayout,
  type UiLayout,
  type WorkPage,
} from './layout.ts';
export { Path, Payload } from './path.ts';
export type { RunOptions } from './runtime-binding.ts';
export { type ArgvBuilder, type Fetched, ScriptWork, type ScriptWorkProps } from './script-work.ts';
export { Work, type WorkContext, type WorkProps } from './work.ts';
export { WorkMap, type WorkMapProps } from './work-map.ts';
export type { RerunReason, WorkPhase, WorkStatus } from './work-status.ts';
