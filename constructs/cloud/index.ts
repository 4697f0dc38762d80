/**
 * Cloud entry of lightning-local, for synthesis and for embedding in your own CDKTF stack.
 * Importing this loads cdktf and the Google provider submodules: never import it from an
 * app file or the runtime (use `lightning-local` / constructs/index.ts there).
 *
 * @example
 * const bundle = await buildAppBundle({ appFile: 'app.ts', outFile: 'bundle.tar.gz' });
 * new LightningGcp(myStack, 'hello', { app, bundle, network: { network: vpc.id, subnetwork: subnet.id } });
 */
export { type AppBundle, type AppBundleOptions, buildAppBundle } from './app-bundle.ts';
export { GPUS, type GpuTypeId } from './catalog.ts';
export {
  CLOUD_DEFAULTS,
  type DriveBucketProps,
  type ExistingNetworkProps,
  type GcpCloudProps,
} from './cloud-props.ts';
export { LightningGcp, type LightningGcpProps, type PrebuiltBundle } from './lightning-gcp.ts';
export { type NodeRuntimeArchive, type NodeRuntimeOptions, nodeRuntimeArchive } from './node-runtime.ts';
export { type AppPlan, planApp, type VmPlan } from './plan.ts';
export { renderStartupScript } from './startup-script.ts';
export { type SynthOptions, type SynthResult, synthesizeApp } from './synth.ts';
