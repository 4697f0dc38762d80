/**
 * How a work daemon is started. Its own module so the stream half (daemon-link.ts) and the
 * call half (work-daemon.ts) share it without importing each other.
 */
import type * as grpc from '@grpc/grpc-js';
import type { LightningApp } from '../../constructs/app.ts';
import type { Drive } from '../../constructs/drive.ts';

export interface WorkDaemonOptions {
  readonly app: LightningApp;
  /** Directory of the app file: scripts resolve against it. */
  readonly appDir: string;
  /** Directory for the work's files (cwd, inputs): `<appDir>/.lightning/works/<name>` by default. */
  readonly workDir?: string;
  readonly workName: string;
  /** host:port of the flow's gRPC server. */
  readonly flowAddress: string;
  readonly token: string;
  readonly drive: Drive;
  /** Extra environment for the work (app-level `--env`). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Address other machines reach this work's servers at (its `url` names it, and the port
   * is probed there). In the cloud, the VM's internal IP (vm-boot.mjs passes it from the
   * metadata server), so the flow's UI proxy and other works on other VMs can call it.
   * @default '127.0.0.1' (local: every work on this machine)
   */
  readonly advertiseHost?: string;
  /** TLS for cloud mode. @default insecure (loopback) */
  readonly credentials?: grpc.ChannelCredentials;
  /** Daemon diagnostics (not the script's output). @default stderr */
  readonly diagnostics?: (line: string) => void;
  /** Max reconnect backoff. @default 5000 */
  readonly maxBackoffMs?: number;
  /**
   * Heartbeat interval: a liveness signal for the flow that also keeps idle connections
   * through NATs and load balancers warm. Rare, so 100 idle works cost the flow nothing.
   * @default 30000
   */
  readonly heartbeatMs?: number;
  /**
   * Sampled before each heartbeat and sent with it: the busiest GPU's utilisation in percent,
   * undefined without a GPU (the flow's idle stop weighs it). @default none (cloud: nvidia-smi)
   */
  readonly gpuUtilization?: () => Promise<number | undefined>;
  /**
   * Called with the document as it is in each delta and snapshot sent (JSON text): the
   * owner's sequence of states, for tests and tools that check what the flow observed.
   * @default none
   */
  readonly onStateSent?: (epoch: number, seq: number, stateJson: string) => void;
  /**
   * Runs each call's `execute()` inside a scope: a daemon host (ADR 0022) uses it to tell
   * which of its works printed a line. @default the call runs as is
   */
  readonly callScope?: <T>(fn: () => T) => T;
}
