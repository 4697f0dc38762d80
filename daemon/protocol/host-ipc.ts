/**
 * The IPC messages between the local flow process (daemon/flow/local-daemons.ts) and the
 * daemon hosts it starts (daemon/work/daemon-host.ts, ADR 0022): a protocol both sides import,
 * so the flow and the work daemon still meet only through daemon/protocol.
 */

/** A message the parent sends a daemon host. */
export type HostRequest = { readonly t: 'ping' } | { readonly t: 'start'; readonly work: string };

/** A message a daemon host sends its parent. */
export type HostReport =
  | { readonly t: 'pong' }
  | { readonly t: 'out'; readonly work: string; readonly text: string }
  | { readonly t: 'exited'; readonly work: string; readonly code: number; readonly detail?: string };
