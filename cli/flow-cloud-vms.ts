/**
 * The flow role's cloud VMs (ADR 0012, 0025, 0026), wired to its event loop: work VMs that
 * Terraform created (WorkVmControl: started before a call, stopped when idle, started again
 * after a preemption, all stopped when the app ends) and the VMs of WorkMap members the flow
 * creates itself (RunTimeVms: created when a call needs one, started again or replaced after a
 * preemption, deleted when idle and when the app ends). Outside the cloud both are absent and
 * this does nothing.
 */

import type { WorkStatus } from '../constructs/work-status.ts';
import { CapacityError } from '../daemon/cloud/capacity-search.ts';
import { RunTimeVms } from '../daemon/cloud/run-time-vms.ts';
import { WorkVmControl } from '../daemon/cloud/work-vm-control.ts';
import type { DaemonHost } from '../daemon/flow/event-loop.ts';
import type { LogPrinter } from './log-printer.ts';

export interface FlowCloudVmsOptions {
  readonly printer: LogPrinter;
  /** The loop's `hostReport`: progress in a waiting work's status, or (with a reason) its call fails. */
  readonly report: (work: string, message: string, failReason?: string) => void;
  /** Stop every work VM before the app starts (an earlier app left them running). */
  readonly restartWorkVms?: boolean;
}

export interface FlowCloudVms {
  /** Every status change of a work: busy works keep their VMs, idle ones may lose them. */
  onStatus(work: string, status: WorkStatus): void;
  /** The loop's host: makes sure a work's VM runs when its daemon is needed. */
  readonly host: DaemonHost;
  /**
   * The app has ended: stop the work VMs (or keep them with `keep`) and delete the run-time
   * VMs; says what it did on stdout.
   */
  end(keep: boolean): Promise<'stopped' | 'kept' | 'stop-failed' | 'none'>;
}

export async function flowCloudVms(options: FlowCloudVmsOptions): Promise<FlowCloudVms> {
  const { printer, report } = options;
  if (options.restartWorkVms) await (await WorkVmControl.fromMetadata())?.stopAll();
  const vms = await WorkVmControl.fromMetadata();
  const runTime = await RunTimeVms.fromMetadata({
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
        // Created when a call needs it, not at the app's start.
        else if (why === 'call') runTime.ensureVm(work).catch(noVm(work));
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
      const busy = status.phase === 'pending' || status.phase === 'running';
      const control = runTime?.manages(work) ? runTime : vms?.controls(work) ? vms : undefined;
      if (!control) return;
      if (busy) control.workBusy(work);
      else if (status.phase !== 'not_started') control.workIdle(work);
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
