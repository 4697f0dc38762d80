/**
 * The flow role's cloud VMs (ADR 0012, 0025, 0026), wired to its event loop: work VMs that
 * Terraform created (WorkVmControl: started before a call, stopped when idle, started again
 * after a preemption, all stopped when the app ends) and the VMs of WorkMap members the flow
 * creates itself (RunTimeVms: created when a call needs one, started again or replaced after a
 * preemption, deleted when idle and when the app ends). Idle counts calls, GPU utilisation
 * (from the daemons' heartbeats) and requests to the works' UI tabs (daemon/cloud/idle-watch.ts).
 * Outside the cloud both are absent and this does nothing.
 */

import type { WorkStatus } from '../constructs/work-status.ts';
import { CapacityError } from '../daemon/cloud/capacity-search.ts';
import { RunTimeVms } from '../daemon/cloud/run-time-vms.ts';
import { WorkActivity } from '../daemon/cloud/work-activity.ts';
import { WorkVmControl } from '../daemon/cloud/work-vm-control.ts';
import type { DaemonHost, EventLoop } from '../daemon/flow/event-loop.ts';
import type { LogPrinter } from './log-printer.ts';

export interface FlowCloudVmsOptions {
  readonly printer: LogPrinter;
  /** The flow's event loop (created after this: read when first needed). */
  readonly loop: () => EventLoop;
  /** Stop every work VM before the app starts (an earlier app left them running). */
  readonly restartWorkVms?: boolean;
}

export interface FlowCloudVms {
  /** Every status change of a work: busy works keep their VMs, idle ones may lose them. */
  onStatus(work: string, status: WorkStatus): void;
  /** A heartbeat of a work's daemon (its GPU utilisation). */
  onHeartbeat(work: string, beat: { readonly gpuUtilizationPercent?: number }): void;
  /** The UI proxied a request to a work's tab: activity, and a work stopped while idle starts again. */
  onUiRequest(work: string): void;
  /** The loop's host: makes sure a work's VM runs when its daemon is needed. */
  readonly host: DaemonHost;
  /**
   * The app has ended: stop the work VMs (or keep them with `keep`) and delete the run-time
   * VMs; says what it did on stdout.
   */
  end(keep: boolean): Promise<'stopped' | 'kept' | 'stop-failed' | 'none'>;
}

export async function flowCloudVms(options: FlowCloudVmsOptions): Promise<FlowCloudVms> {
  const { printer } = options;
  const report = (work: string, message: string, failReason?: string) =>
    options.loop().hostReport(work, message, failReason);
  const activity = new WorkActivity();
  /** Server works whose running call the idle stop ended: a request to their tab starts them again. */
  const idleStopped = new Set<string>();
  // A server's call keeps running while idle: stop it first (its status then says why), so the
  // VM's stop does not look like a lost daemon.
  const beforeIdleStop = async (work: string, detail: string) => {
    const loop = options.loop();
    if (loop.statusOf(work)?.phase !== 'running') return;
    idleStopped.add(work);
    await loop.stop(work, `stopped: ${detail}`);
    for (let i = 0; i < 240 && loop.statusOf(work)?.phase === 'running'; i++)
      await new Promise((r) => setTimeout(r, 250));
  };
  const idle = { activity, beforeIdleStop };
  if (options.restartWorkVms) await (await WorkVmControl.fromMetadata())?.stopAll();
  const vms = await WorkVmControl.fromMetadata({
    ...idle,
    onEvent: (e) => {
      if (e.action === 'idle-stop') printer.onLog(e.work, 'daemon', [`VM stopped: ${e.detail}`]);
      if (e.action === 'error') printer.onLog(e.work, 'daemon', [`VM error: ${e.detail}`]);
    },
  });
  const runTime = await RunTimeVms.fromMetadata({
    ...idle,
    onEvent: (e) => {
      printer.onLog(e.work, 'daemon', [`VM ${e.action}: ${e.detail}`]);
      if (e.action === 'attempt') report(e.work, `creating its VM: ${e.detail}`);
    },
    onTotalSpendReached: (works, message) => {
      printer.onNotice(message);
      for (const w of works) {
        report(w, message, 'spend_cap');
        // A GPU work whose VM Terraform created: stop that VM (members' VMs are deleted).
        if (vms?.controls(w))
          vms
            .stop(w)
            .catch((err: unknown) =>
              printer.onNotice(`cannot stop the VM of ${w}: ${(err as Error).message}`),
            );
      }
    },
  });
  const noVm = (work: string) => (err: unknown) => {
    const reason = err instanceof CapacityError ? err.reason : 'no_vm';
    report(work, `no VM for ${work}: ${(err as Error).message}`, reason);
  };
  const host: DaemonHost = {
    ensureDaemon: (work, why) => {
      if (runTime?.manages(work)) {
        if (why === 'preempted') {
          printer.onNotice(
            `the VM of ${work} was preempted: starting it again (or a new one) once GCE has stopped it`,
          );
          runTime.restartAfterPreemption(work).catch(noVm(work));
        }
        // Created when a call needs it; a work with fallbacks that starts with the flow at once.
        else if (why === 'call' || (why === 'start' && runTime.startsWithFlow(work)))
          runTime.ensureVm(work).catch(noVm(work));
        return;
      }
      if (!vms?.controls(work)) return;
      const refused = runTime?.startRefusal(work);
      if (refused) {
        report(work, refused, 'spend_cap');
        return;
      }
      // At start only the VMs that run with the flow (normally already RUNNING: one GET).
      if (why === 'start' && !vms.startsWithFlow(work)) return;
      if (why === 'preempted')
        printer.onNotice(`the VM of ${work} was preempted: starting it again once GCE has stopped it`);
      const running = why === 'preempted' ? vms.restartAfterPreemption(work) : vms.ensureRunning(work);
      running.catch((err: unknown) => {
        printer.onNotice(`cannot start the VM of ${work}: ${(err as Error).message}`);
      });
    },
  };
  return {
    host,
    onStatus(work, status) {
      const control = runTime?.manages(work) ? runTime : vms?.controls(work) ? vms : undefined;
      if (!control) return;
      if (status.phase === 'pending') idleStopped.delete(work);
      // A running server (its url answers) may be idle too: IdleWatch weighs its GPU and tab.
      if (status.phase === 'running' && status.url) control.workIdle(work, true);
      else if (status.phase === 'pending' || status.phase === 'running') control.workBusy(work);
      else if (status.phase !== 'not_started') control.workIdle(work);
    },
    onHeartbeat(work, beat) {
      if (beat.gpuUtilizationPercent !== undefined) activity.gpu(work, beat.gpuUtilizationPercent);
    },
    onUiRequest(work) {
      activity.uiRequest(work);
      if (!idleStopped.has(work) || options.loop().statusOf(work)?.phase !== 'stopped') return;
      idleStopped.delete(work);
      printer.onNotice(`a request to the tab of ${work}: running its call again after its idle stop`);
      options
        .loop()
        .rerun(work)
        .catch((err: unknown) => printer.onNotice(`cannot run ${work} again: ${(err as Error).message}`));
    },
    async end(keep) {
      const workVms = vms ? await endWorkVms(vms, keep) : 'none';
      if (runTime) await deleteRunTimeVms(runTime);
      return workVms;
    },
  };
}

/**
 * The app has ended: stop every work VM (waiting until each is TERMINATED) so nothing keeps
 * billing, or with `keep` leave them running. Either way nothing starts them again.
 */
async function endWorkVms(vms: WorkVmControl, keep: boolean): Promise<'stopped' | 'kept' | 'stop-failed'> {
  const say = (m: string) => process.stdout.write(`lightning: ${m}\n`);
  const names = [...vms.instances().values()];
  if (keep) {
    vms.close();
    say(
      `--keep-vms: left ${names.length} work VM${names.length === 1 ? '' : 's'} running (${names.join(', ')}); they bill until you stop them`,
    );
    return 'kept';
  }
  say(
    `the app has ended: stopping ${names.length} work VM${names.length === 1 ? '' : 's'} (${names.join(', ')})`,
  );
  let failed = false;
  for (const r of await vms.stopAll()) {
    if (r.outcome === 'stopped') say(`stopped the VM of ${r.work} (${r.instance})`);
    else if (r.outcome === 'was-stopped') say(`the VM of ${r.work} (${r.instance}) was already stopped`);
    else {
      failed = true;
      say(`could not stop the VM of ${r.work} (${r.instance}); it keeps billing: ${r.detail}`);
    }
  }
  return failed ? 'stop-failed' : 'stopped';
}

/** The app has ended: delete every VM the flow created (WorkMap members); none may keep billing. */
async function deleteRunTimeVms(runTime: RunTimeVms): Promise<void> {
  const say = (m: string) => process.stdout.write(`lightning: ${m}\n`);
  const results = await runTime.deleteAll();
  for (const r of results) {
    if (r.outcome === 'error')
      say(`could not delete run-time VM ${r.instance} (${r.work}); it keeps billing: ${r.detail}`);
    else say(`deleted run-time VM ${r.instance} of ${r.work} in ${r.zone}`);
  }
  say(
    `run-time VMs: ${results.filter((r) => r.outcome !== 'error').length} deleted, ${results.filter((r) => r.outcome === 'error').length} left`,
  );
}
