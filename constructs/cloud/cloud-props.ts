/**
 * The cloud settings of an app (`new LightningApp({ name, cloud: {...} })`), typed. No cdktf
 * imports: the runtime and `lightning-local cost` read these too.
 */
import type { CloudCompute } from '../cloud-compute.ts';

/** An existing VPC to deploy into instead of creating one. Names or self links. */
export interface ExistingNetworkProps {
  /**
   * Network name or self link. Its subnet needs Private Google Access (lightning's VMs boot
   * from the bucket, ADR 0026); Cloud NAT only if your scripts download from the internet.
   */
  readonly network: string;
  /** Subnetwork name or self link in the app's region (a Shared VPC subnet: its self link). */
  readonly subnetwork: string;
  /**
   * Shared VPC: the host project owning the network; the app's firewall rules are created
   * there (they belong to the network's project). Needed when `network` is a name or a token.
   * @default the project in `network` when it is a self link (`projects/<host>/global/networks/<n>`), else the app's project
   */
  readonly hostProject?: string;
}

export interface DriveBucketProps {
  /**
   * Bucket name (globally unique). Ignored when `existing` is set.
   * @default `${project}-${app}-drive`, or `${app}-drive-<hash>` if that is over 63 characters
   */
  readonly name?: string;
  /** @default the app's region */
  readonly location?: string;
  /** Let `cdktf destroy` delete a bucket that still has objects. @default false (destroy fails on a non-empty bucket) */
  readonly forceDestroy?: boolean;
}

/** `cloud` settings of a LightningApp for GCP. */
export interface GcpCloudProps {
  /**
   * GCP project id. Leave it out to deploy the same file to any project.
   * @default GOOGLE_CLOUD_PROJECT, else `--project`, else cdktf context `lightningProject` (constructs/cloud/deploy-target.ts); none of them is an error
   */
  readonly project?: string;
  /** @default GOOGLE_CLOUD_REGION, else `--region`, else cdktf context `lightningRegion`, else 'us-central1' */
  readonly region?: string;
  /** @default `${region}-a` */
  readonly zone?: string;
  /** The flow VM. @default e2-standard-2, 20 GB pd-balanced, Debian 12 */
  readonly flowCompute?: CloudCompute;
  /** Port of the flow's gRPC server (daemons dial it). @default 7500 */
  readonly flowPort?: number;
  /** Port of the flow's UI/API, bound to 127.0.0.1 on the flow VM (reached by an IAP SSH tunnel). @default 7501 */
  readonly uiPort?: number;
  /** Deploy into an existing network. @default a new VPC + subnet + Cloud NAT */
  readonly network?: ExistingNetworkProps;
  /** CIDR of the subnet created when `network` is not given. @default '10.20.0.0/24' */
  readonly subnetCidr?: string;
  /** The Drive bucket. @default a new bucket, see {@link DriveBucketProps} */
  readonly bucket?: DriveBucketProps;
  /** Labels on every VM and the bucket, besides `lightning-app`. @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** Glob-free path prefixes (relative to the app dir) left out of the bundle. @default [] (node_modules, .git, .lightning, cdktf.out are always left out) */
  readonly bundleExclude?: readonly string[];
  /**
   * Leave the work VMs running after the app ends (stopApp, failApp, the flow stopped), e.g. to
   * inspect them over SSH; they keep billing until you stop them. A redeploy still restarts them.
   * @default false (the flow stops every work VM through the Compute API once the app has ended)
   */
  readonly keepWorkVmsAfterEnd?: boolean;
  /**
   * Spend cap in USD per hour at list prices (price-table.ts): the flow refuses to create a
   * run-time VM (a WorkMap member's) that would take the app's VMs over it, and says so in the
   * work's status. Terraform's VMs (flow and works) count as always running. @default no cap
   */
  readonly maxHourlySpend?: number;
  /**
   * Total spend cap in USD at list prices since the flow started: once reached, the flow
   * deletes the run-time GPU VMs, fails their works' calls naming the cap, and creates no
   * new GPU VM. Not a billing guarantee (list prices, disks and egress not counted). @default no cap
   */
  readonly maxTotalSpend?: number;
}

/** Defaults, applied in one place. */
export const CLOUD_DEFAULTS = {
  region: 'us-central1',
  flowPort: 7500,
  uiPort: 7501,
  subnetCidr: '10.20.0.0/24',
} as const;

/** Node.js version installed on the VMs (pinned so synth output is the same on every machine). */
export const VM_NODE_VERSION = '20.20.2';
