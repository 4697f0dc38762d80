/**
 * A platform team's existing CDKTF stack, with its own provider, VPC and bucket, that adds
 * a lightning app to it. Synthesize with `npx tsx examples/existing-stack/main.ts` (or
 * `cdktf synth` in this directory).
 *
 * Requirements on what you bring: the subnetwork is in the app's region with Private Google
 * Access (the VMs take Node and the bundle from the bucket, ADR 0026; add Cloud NAT only if
 * your scripts download from the internet); the bucket has uniform bucket-level access.
 */
import { fileURLToPath } from 'node:url';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network/index.js';
import { ComputeRouter } from '@cdktf/provider-google/lib/compute-router/index.js';
import { ComputeRouterNat } from '@cdktf/provider-google/lib/compute-router-nat/index.js';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork/index.js';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { App, TerraformStack } from 'cdktf';
import { buildAppBundle, LightningGcp } from 'lightning-local/cloud';
import trainer from './app.ts';

const APP_FILE = fileURLToPath(new URL('./app.ts', import.meta.url));

/** Builds and synthesizes the stack into `outdir`; returns the stack's construct. */
export async function synthesizePlatformStack(outdir: string, bundleFile: string): Promise<TerraformStack> {
  const cdk = new App({ outdir });
  const stack = new TerraformStack(cdk, 'ml-platform');

  // What the platform team already has.
  const provider = new GoogleProvider(stack, 'google', {
    project: 'acme-ml',
    region: 'europe-west4',
    alias: 'ml',
  });
  const vpc = new ComputeNetwork(stack, 'shared-vpc', {
    provider,
    name: 'ml-shared',
    autoCreateSubnetworks: false,
  });
  const subnet = new ComputeSubnetwork(stack, 'ml-subnet', {
    provider,
    name: 'ml-europe-west4',
    region: 'europe-west4',
    network: vpc.id,
    ipCidrRange: '10.50.0.0/20',
    privateIpGoogleAccess: true,
  });
  const router = new ComputeRouter(stack, 'router', {
    provider,
    name: 'ml-router',
    region: 'europe-west4',
    network: vpc.id,
  });
  new ComputeRouterNat(stack, 'nat', {
    provider,
    name: 'ml-nat',
    router: router.name,
    region: 'europe-west4',
    natIpAllocateOption: 'AUTO_ONLY',
    sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  });
  const bucket = new StorageBucket(stack, 'team-bucket', {
    provider,
    name: 'acme-ml-team-data',
    location: 'EUROPE-WEST4',
    uniformBucketLevelAccess: true,
    publicAccessPrevention: 'enforced',
  });

  // The lightning app, deployed with those.
  const bundle = await buildAppBundle({
    appFile: APP_FILE,
    outFile: bundleFile,
    exclude: ['main.ts', 'cdktf.json'],
  });
  new LightningGcp(stack, 'trainer', {
    app: trainer,
    bundle,
    provider,
    network: { network: vpc.id, subnetwork: subnet.id },
    existingBucketName: bucket.name,
  });

  cdk.synth();
  return stack;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const outdir = process.env.CDKTF_OUTDIR ?? 'cdktf.out';
  await synthesizePlatformStack(outdir, join(mkdtempSync(join(tmpdir(), 'trainer-')), 'app-bundle.tar.gz'));
  console.log(`synthesized ${outdir}/stacks/ml-platform/cdk.tf.json`);
}
