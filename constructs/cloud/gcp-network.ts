/**
 * The network of a LightningGcp deployment: the user's VPC, or a private one whose only way
 * out is Cloud NAT; the flow's internal address; and the firewall: the flow's gRPC port only
 * from the works' identity, SSH only from IAP, work servers only from the app's identities.
 */
import { ComputeAddress } from '@cdktf/provider-google/lib/compute-address/index.js';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall/index.js';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network/index.js';
import { ComputeRouter } from '@cdktf/provider-google/lib/compute-router/index.js';
import { ComputeRouterNat } from '@cdktf/provider-google/lib/compute-router-nat/index.js';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork/index.js';
import type { ServiceAccount } from '@cdktf/provider-google/lib/service-account/index.js';
import type { ITerraformDependable } from 'cdktf';
import type { Construct } from 'constructs';
import type { ExistingNetworkProps } from './cloud-props.ts';
import type { AppPlan } from './plan.ts';
import { networkProjectOf } from './shared-resources.ts';
import type { Common } from './vm-shape.ts';

/** IAP's TCP-forwarding source range (GC:iap/docs/using-tcp-forwarding). */
export const IAP_SOURCE_RANGE = '35.235.240.0/20';

export interface AppNetworkProps {
  readonly plan: AppPlan;
  readonly common: Common;
  /** The user's network. @default a private VPC with Cloud NAT, created here */
  readonly network: ExistingNetworkProps | undefined;
  readonly flowSa: ServiceAccount;
  readonly workSa: ServiceAccount;
  /** Resources the VMs must wait for; the NAT is added (the VMs' way out). */
  readonly dependencies: ITerraformDependable[];
}

/**
 * Adds the network resources to `scope` (the LightningGcp construct: the ids are its own) and
 * returns the subnet the VMs use and the flow's reserved internal address.
 */
export function addAppNetwork(
  scope: Construct,
  props: AppNetworkProps,
): { subnetRef: string; flowIp: ComputeAddress } {
  const { plan, common, network, flowSa, workSa, dependencies } = props;
  // Network: the user's, or a private VPC whose only way out is Cloud NAT.
  let networkRef: string;
  let subnetRef: string;
  if (network) {
    networkRef = network.network;
    subnetRef = network.subnetwork;
  } else {
    const vpc = new ComputeNetwork(scope, 'network', {
      ...common,
      name: plan.names.network,
      autoCreateSubnetworks: false,
    });
    const subnet = new ComputeSubnetwork(scope, 'subnet', {
      ...common,
      name: plan.names.subnet,
      region: plan.region,
      network: vpc.id,
      ipCidrRange: plan.subnetCidr,
      privateIpGoogleAccess: true,
    });
    const router = new ComputeRouter(scope, 'router', {
      ...common,
      name: plan.names.router,
      region: plan.region,
      network: vpc.id,
    });
    dependencies.push(
      new ComputeRouterNat(scope, 'nat', {
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
  const flowIp = new ComputeAddress(scope, 'flow-ip', {
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
  new ComputeFirewall(scope, 'fw-flow-grpc', {
    ...firewallCommon,
    name: plan.names.fwFlow,
    network: networkRef,
    direction: 'INGRESS',
    allow: [{ protocol: 'tcp', ports: [String(plan.flowPort)] }],
    sourceServiceAccounts: [workSa.email],
    targetServiceAccounts: [flowSa.email],
  });
  new ComputeFirewall(scope, 'fw-iap-ssh', {
    ...firewallCommon,
    name: plan.names.fwIap,
    network: networkRef,
    direction: 'INGRESS',
    allow: [{ protocol: 'tcp', ports: ['22'] }],
    sourceRanges: [IAP_SOURCE_RANGE],
    targetServiceAccounts: [flowSa.email, workSa.email],
  });
  // Static works placed by the flow (capacity fallbacks) are run-time maps of one: their ports too.
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
    new ComputeFirewall(scope, 'fw-work-ports', {
      ...firewallCommon,
      name: plan.names.fwWorkPorts,
      network: networkRef,
      direction: 'INGRESS',
      allow: [{ protocol: 'tcp', ports: workPorts }],
      sourceServiceAccounts: [flowSa.email, workSa.email],
      targetServiceAccounts: [workSa.email],
    });
  }
  return { subnetRef, flowIp };
}
