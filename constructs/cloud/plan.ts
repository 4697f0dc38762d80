/**
 * Turns an app and its cloud settings into a deployment plan (names, VM shapes, ports) and
 * validates everything at once. Pure data, no cdktf imports: `lightning-local cost` and
 * the synthesis both start here, so they can never disagree about what gets deployed.
 */
import type { LightningApp } from '../app.ts';
import { CloudCompute, type ResolvedCompute } from '../cloud-compute.ts';
import { componentName } from '../component-name.ts';
import { ProblemCollector } from '../errors.ts';
import { WorkMap } from '../work-map.ts';
import type { GpuTypeId } from './catalog.ts';
import { CLOUD_DEFAULTS, type GcpCloudProps } from './cloud-props.ts';
import {
  type DeployTargetSources,
  howToSetProject,
  resolveDeployTarget,
  type TargetSource,
} from './deploy-target.ts';
import { bucketNameProblem, fitName, isToken, LABEL_VALUE, shortHash, slug } from './gce-names.ts';
import { placedByFlow, type RunTimeMapPlan, runTimeNamePrefix } from './run-time-plan.ts';
import { chooseZone, zoneProblem } from './zones.ts';

export interface VmPlan {
  /** Construct path (`root.train`), or `flow` for the flow VM. */
  readonly component: string;
  readonly role: 'flow' | 'work';
  /** GCE instance name. */
  readonly name: string;
  /** Id of the Terraform resource (stable across synths). */
  readonly id: string;
  readonly compute: ResolvedCompute;
  /** Ports the work serves, opened to the flow only ('auto': any unprivileged port). */
  readonly ports: readonly (number | 'auto')[];
}

export interface AppPlan {
  readonly app: string;
  readonly project: string;
  /** Where the project came from (the app, GOOGLE_CLOUD_PROJECT, --project, cdktf context). */
  readonly projectFrom: TargetSource;
  readonly region: string;
  readonly regionFrom: TargetSource;
  readonly zone: string;
  readonly flowPort: number;
  readonly uiPort: number;
  readonly subnetCidr: string;
  readonly bucketName: string;
  readonly bucketLocation: string;
  readonly forceDestroy: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly flow: VmPlan;
  /** Works whose VMs Terraform creates (every Work that is not a WorkMap member). */
  readonly works: readonly VmPlan[];
  /**
   * VMs the flow creates at run time (ADR 0025): WorkMaps' members, and works whose compute has
   * a `fallback` or `onDemandFallback` (`single`).
   */
  readonly runTimeMaps: readonly RunTimeMapPlan[];
  /** Name prefix of every run-time VM (the flow's create/delete grant is limited to it). */
  readonly runTimeNamePrefix: string;
  readonly maxHourlySpend: number | null;
  readonly maxTotalSpend: number | null;
  readonly names: {
    readonly flowSa: string;
    readonly workSa: string;
    readonly network: string;
    readonly subnet: string;
    readonly router: string;
    readonly nat: string;
    readonly flowAddress: string;
    readonly fwFlow: string;
    readonly fwIap: string;
    readonly fwWorkPorts: string;
    readonly tokenSecret: string;
    readonly tlsKeySecret: string;
    readonly vmControlRole: string;
    readonly runTimeVmRole: string;
  };
}

export interface PlanOverrides {
  /** The bucket exists already (embedding in a stack); its name is not validated if a token. */
  readonly existingBucketName?: string;
  /** The network exists already; skips the subnet CIDR check. */
  readonly existingNetwork?: boolean;
  /** Where project/region come from when the app does not set them (deploy-target.ts). @default the app only */
  readonly target?: DeployTargetSources;
}

/** GPU models of the flow and every Work (unknown names left out: validation reports them). */
function gpusUsedBy(app: LightningApp, flowCompute: CloudCompute): GpuTypeId[] {
  const gpus = [flowCompute.resolve().gpuType];
  try {
    for (const work of app.works()) {
      if (!WorkMap.isWorkMap(work.node.scope))
        gpus.push((work.props.compute ?? new CloudCompute()).resolve().gpuType);
    }
  } catch {
    // An invalid tree is reported below, with the other problems.
  }
  return gpus.filter((g): g is GpuTypeId => g !== undefined);
}

/** The app's `cloud` props, typed; throws a ValidationError naming what is missing. */
export function cloudPropsOf(app: LightningApp): GcpCloudProps | undefined {
  return app.props.cloud;
}

/**
 * Plans the deployment of `app`, reporting every problem at once (a ValidationError listing
 * each with the construct path and a fix).
 */
export function planApp(app: LightningApp, cloudIn?: GcpCloudProps, overrides: PlanOverrides = {}): AppPlan {
  const problems = new ProblemCollector();
  const appName = app.name;
  const cloud: Partial<GcpCloudProps> = cloudIn ?? cloudPropsOf(app) ?? {};
  const target = resolveDeployTarget(cloud, overrides.target);
  if (!target.project) {
    problems.add(`${appName}.cloud`, 'no GCP project is set', howToSetProject(appName));
    problems.throwIfAny('Cannot synthesize for GCP');
    throw new Error('unreachable');
  }
  const project = target.project.value;
  const region = target.region.value;
  const at = `${appName}.cloud`;

  if (!isToken(project) && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(project)) {
    problems.add(
      at,
      `project ${JSON.stringify(project)} is not a GCP project id`,
      'use the project id (6-30 lowercase letters, digits, "-"), not its name or number: gcloud projects list',
    );
  }
  if (!/^[a-z]+-[a-z]+\d+$/.test(region)) {
    problems.add(at, `region ${JSON.stringify(region)} is not a GCP region name`, "use e.g. 'us-central1'");
  }
  const flowCompute = cloud.flowCompute ?? new CloudCompute({ machineType: 'e2-standard-2', diskSizeGb: 20 });
  // One zone for every VM: the app's, checked against the zone table, else the first zone
  // of the region offering every GPU the app uses. Undefined after a problem (reported once).
  let zone: string | undefined;
  if (cloud.zone !== undefined) {
    const why = zoneProblem(region, cloud.zone);
    if (why) problems.add(at, why.message, why.fix);
    else zone = cloud.zone;
  } else {
    const chosen = chooseZone(region, gpusUsedBy(app, flowCompute));
    if ('zone' in chosen) zone = chosen.zone;
    else problems.add(at, chosen.message, chosen.fix);
  }

  const flowPort = cloud.flowPort ?? CLOUD_DEFAULTS.flowPort;
  const uiPort = cloud.uiPort ?? CLOUD_DEFAULTS.uiPort;
  for (const [field, port] of [
    ['flowPort', flowPort],
    ['uiPort', uiPort],
  ] as const) {
    if (!(Number.isInteger(port) && port >= 1024 && port <= 65535)) {
      problems.add(
        at,
        `${field} ${port} is not an unprivileged TCP port`,
        'use 1024-65535: the roles run as an unprivileged user',
      );
    }
  }
  if (flowPort === uiPort) {
    problems.add(
      at,
      `flowPort and uiPort are both ${flowPort}`,
      `give them different ports, e.g. flowPort ${CLOUD_DEFAULTS.flowPort}, uiPort ${CLOUD_DEFAULTS.uiPort}`,
    );
  }

  const subnetCidr = cloud.subnetCidr ?? CLOUD_DEFAULTS.subnetCidr;
  if (!overrides.existingNetwork && !cloud.network) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnetCidr);
    const ok = m?.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) >= 8 && Number(m[5]) <= 29;
    if (!ok)
      problems.add(
        at,
        `subnetCidr ${JSON.stringify(subnetCidr)} is not an IPv4 CIDR between /8 and /29`,
        "use e.g. '10.20.0.0/24'",
      );
  }
  if (cloud.network) {
    for (const f of ['network', 'subnetwork'] as const) {
      const v = cloud.network[f];
      if (typeof v !== 'string' || v === '')
        problems.add(at, `network.${f} is empty`, `give the existing ${f}'s name or self link`);
    }
  }

  const labels: Record<string, string> = { ...(cloud.labels ?? {}) };
  for (const [k, v] of Object.entries(labels)) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k) || k.startsWith('lightning-')) {
      problems.add(
        at,
        `label key ${JSON.stringify(k)} is invalid or reserved`,
        'label keys: lowercase letter first, then lowercase letters, digits, "_" or "-"; not "lightning-*"',
      );
    }
    if (typeof v !== 'string' || !LABEL_VALUE.test(v)) {
      problems.add(
        at,
        `label ${k}=${JSON.stringify(v)} has an invalid value`,
        'label values: lowercase letters, digits, "_" or "-", at most 63',
      );
    }
  }
  labels['lightning-app'] = appName;

  // Bucket.
  const fallbackBucket = `${appName}-drive-${shortHash(`${project}/${appName}`, 8)}`;
  const defaultBucket =
    `${project}-${appName}-drive`.length <= 63 ? `${project}-${appName}-drive` : fallbackBucket;
  const bucketName = overrides.existingBucketName ?? cloud.bucket?.name ?? defaultBucket;
  if (!isToken(bucketName)) {
    const why = bucketNameProblem(bucketName);
    if (why)
      problems.add(
        `${at}.bucket`,
        `bucket name ${JSON.stringify(bucketName)} is invalid: ${why}`,
        `set cloud.bucket.name to a valid name, e.g. '${fallbackBucket}'`,
      );
  }

  // Flow VM.
  for (const p of flowCompute.validate(`${appName}.flow`, zone)) problems.add(p.path, p.message, p.fix);
  const flowResolved = flowCompute.resolve();
  if (flowResolved.gpuType) {
    problems.add(
      `${appName}.flow`,
      'the flow VM has a GPU; the flow only orchestrates',
      'give the GPU to a Work: flowCompute: CloudCompute.named("cpu")',
    );
  }
  if (flowResolved.spot) {
    problems.add(
      `${appName}.flow`,
      'the flow VM is Spot; a preempted flow stops every work',
      'use an on-demand flow (spot: false); make the Works Spot instead',
    );
  }
  if (flowResolved.startWith !== 'flow' || flowResolved.idleTimeoutSeconds !== undefined) {
    problems.add(
      `${appName}.flow`,
      'startWith/idleTimeoutSeconds apply to Works, not to the flow VM',
      'remove them from cloud.flowCompute',
    );
  }
  const flow: VmPlan = {
    component: 'flow',
    role: 'flow',
    name: fitName(appName, 'flow'),
    id: 'flow',
    compute: flowResolved,
    ports: [],
  };

  // Work VMs.
  try {
    app.root;
  } catch (err) {
    const first = (err as { problems?: { message: string; fix: string }[] }).problems?.[0];
    problems.add(appName, first?.message ?? String(err), first?.fix ?? 'declare exactly one root Flow');
  }
  // WorkMaps: one template per shape; the flow creates a VM per member at run time. The app's
  // zone is where the flow tries first; any zone of the region offering the GPU may be used.
  const rtPrefix = runTimeNamePrefix(appName);
  const runTimeMaps: RunTimeMapPlan[] = [];
  for (const map of app.workMaps()) {
    const path = componentName(map);
    const compute = map.props.compute ?? map.values()[0]?.props.compute ?? new CloudCompute();
    for (const p of compute.validate(path, undefined)) problems.add(p.path, p.message, p.fix);
    if (zone !== undefined) runTimeMaps.push(placedByFlow(appName, region, zone, path, compute, problems));
  }
  const caps: Record<'maxHourlySpend' | 'maxTotalSpend', number | null> = {
    maxHourlySpend: null,
    maxTotalSpend: null,
  };
  for (const key of ['maxHourlySpend', 'maxTotalSpend'] as const) {
    const v = cloud[key];
    if (v === undefined) continue;
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
      problems.add(at, `${key} ${JSON.stringify(v)} is not a positive number of USD`, `use e.g. ${key}: 5`);
    else caps[key] = v;
  }
  const works: VmPlan[] = [];
  const byVmName = new Map<string, string>([[flow.name, `${appName}.flow`]]);
  for (const work of app.works()) {
    if (WorkMap.isWorkMap(work.node.scope)) continue; // a member: the flow creates its VM
    const component = work.name;
    const compute = work.props.compute ?? new CloudCompute();
    const ports = portsOf(work.servesPort, component, problems);
    if (compute.props.fallback?.length || compute.props.onDemandFallback) {
      // Terraform creates a VM in one zone and cannot fail over: the flow places this work's VM
      // from instance templates, as a WorkMap member's (docs/deploy-gcp.md, GPU capacity).
      for (const p of compute.validate(component, undefined)) problems.add(p.path, p.message, p.fix);
      if (zone !== undefined)
        runTimeMaps.push({
          ...placedByFlow(appName, region, zone, component, compute, problems),
          single: { startWithFlow: compute.resolve().startWith === 'flow', ports },
        });
      continue;
    }
    for (const p of compute.validate(component, zone)) problems.add(p.path, p.message, p.fix);
    const name = fitName(appName, slug(component) || 'work');
    if (name.startsWith(rtPrefix)) {
      problems.add(
        component,
        `its VM name ${name} starts with ${rtPrefix}, the prefix of the VMs the flow creates and deletes`,
        'rename the work so its path does not start with "rt"',
      );
    }
    const other = byVmName.get(name);
    if (other) {
      problems.add(
        component,
        `its VM name ${name} is the same as ${other}'s`,
        'rename one of them: VM names lowercase ids and turn "_" and "." into "-"',
      );
    }
    byVmName.set(name, component);
    works.push({
      component,
      role: 'work',
      name,
      id: `work-${slug(component) || 'work'}`,
      compute: compute.resolve(),
      ports,
    });
  }

  const saBase = appName.slice(0, 24).replace(/-+$/, '');
  const names = {
    flowSa: `${saBase}-flow`,
    workSa: `${saBase}-work`,
    network: fitName(appName, 'net'),
    subnet: fitName(appName, 'subnet'),
    router: fitName(appName, 'router'),
    nat: fitName(appName, 'nat'),
    flowAddress: fitName(appName, 'flow-ip'),
    fwFlow: fitName(appName, 'allow-flow-grpc'),
    fwIap: fitName(appName, 'allow-iap-ssh'),
    fwWorkPorts: fitName(appName, 'allow-work-ports'),
    tokenSecret: `${appName}-app-token`,
    tlsKeySecret: `${appName}-flow-tls-key`,
    vmControlRole: `lightningVmControl_${appName.replace(/-/g, '_')}`,
    runTimeVmRole: `lightningRunTimeVms_${appName.replace(/-/g, '_')}`,
  };

  problems.throwIfAny(`Cannot synthesize app ${appName} for GCP`);
  return {
    app: appName,
    project,
    projectFrom: target.project.from,
    region,
    regionFrom: target.region.from,
    zone: zone!, // set whenever no problem was reported
    flowPort,
    uiPort,
    subnetCidr,
    bucketName,
    bucketLocation: cloud.bucket?.location ?? region.toUpperCase(),
    forceDestroy: cloud.bucket?.forceDestroy ?? false,
    labels,
    flow,
    works,
    runTimeMaps,
    runTimeNamePrefix: rtPrefix,
    ...caps,
    names,
  };
}

/**
 * The ports a work serves, for the firewall. 'auto' picks a free port on the work's VM at run
 * time: the firewall then opens the unprivileged range, still only to the app's accounts.
 */
function portsOf(port: number | 'auto' | undefined, component: string, problems: ProblemCollector) {
  const ports: (number | 'auto')[] = [];
  if (port === 'auto') ports.push('auto');
  else if (port !== undefined) {
    if (port < 1024)
      problems.add(
        component,
        `port ${port} is privileged; the work runs as an unprivileged user`,
        'use a port of 1024 or more',
      );
    else ports.push(port);
  }
  return ports;
}
