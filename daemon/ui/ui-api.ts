/**
 * The UI server's JSON API (the `/api/…` routes listed in ui-server.ts): state, history, runs,
 * the event stream, logs, PATCH of a component's state, and stopping or restarting a work.
 * ui-server.ts has checked the Host header and the UI token before a request gets here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DaemonError, GrpcCode } from '../../constructs/errors.ts';
import type { EventLoop } from '../flow/event-loop.ts';
import type { PatchOperation } from '../state/json-patch.ts';
import { patchFromJson } from '../state/patch-shape.ts';
import type { EventStream } from './event-stream.ts';
import { codeName, describeOps, HttpError, json, readBody, requireJson } from './http-answers.ts';

export interface UiApiProps {
  readonly loop: EventLoop;
  readonly events: EventStream;
  /** Largest PATCH body accepted. */
  readonly maxBodyBytes: number;
  /** Where what the UI changed is reported (a line each). */
  readonly log: (line: string) => void;
}

/** A 404 naming the works there are. */
export function unknownWork(loop: EventLoop, work: string): HttpError {
  return new HttpError(
    404,
    'NOT_FOUND',
    `no work named "${work}" in app ${loop.app.name}.`,
    `Works: ${loop.workNames().join(', ') || '(none)'}.`,
  );
}

export class UiApi {
  private readonly loop: EventLoop;
  private readonly events: EventStream;

  constructor(private readonly props: UiApiProps) {
    this.loop = props.loop;
    this.events = props.events;
  }

  /** Answers one request under /api/ (the caller checked host and token). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (path === '/api/state' && req.method === 'GET') return json(res, 200, this.loop.snapshot());
    if (path === '/api/history' && req.method === 'GET') return json(res, 200, this.events.historySnapshot());
    if (path === '/api/runs' && req.method === 'GET')
      return json(res, 200, { runs: this.events.runHistory() });
    if (path === '/api/events' && req.method === 'GET') return this.events.addClient(res);
    const state = /^\/api\/state\/([^/]+)$/.exec(path);
    if (state) {
      if (req.method !== 'PATCH') {
        throw new HttpError(
          405,
          'METHOD_NOT_ALLOWED',
          `${req.method} ${path}: use PATCH with a JSON Patch body.`,
        );
      }
      return this.patch(req, res, decodeURIComponent(state[1]!));
    }
    const action = /^\/api\/works\/([^/]+)\/(stop|restart)$/.exec(path);
    if (action) {
      if (req.method !== 'POST') {
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}: use POST.`);
      }
      // A JSON content type cannot come from a plain cross-site form (like PATCH).
      requireJson(req);
      const work = decodeURIComponent(action[1]!);
      return action[2] === 'stop' ? this.stopWork(res, work) : this.restartWork(res, work);
    }
    const logs = /^\/api\/logs\/([^/]+)$/.exec(path);
    if (logs && req.method === 'GET') {
      const work = decodeURIComponent(logs[1]!);
      const tailText = url.searchParams.get('tail') ?? '200';
      const tail = Number(tailText);
      if (!Number.isInteger(tail) || tail < 0) {
        throw new HttpError(
          400,
          'INVALID_ARGUMENT',
          `tail=${tailText} is not a whole number ≥ 0.`,
          'e.g. ?tail=200',
        );
      }
      const lines = this.events.logTail(work, tail);
      if (!lines) {
        throw unknownWork(this.loop, work);
      }
      return json(res, 200, { work, lines });
    }
    throw new HttpError(
      404,
      'NOT_FOUND',
      `no API endpoint ${req.method} ${path}.`,
      'See docs/ui.md for the API.',
    );
  }

  /**
   * Stops a work's current call as the flow's `work.stop()` would (SIGTERM, then SIGKILL after
   * its grace period; phase `stopped`). A work the flow waits for (not parallel) then makes
   * its run() raise, which ends the app unless the flow handles it: the same as in code.
   */
  private async stopWork(res: ServerResponse, name: string): Promise<void> {
    await this.workAction(name, () => this.loop.stop(name));
    this.props.log(`work ${name} stopped from UI`);
    json(res, 202, { ok: true, work: name });
  }

  /**
   * Runs a work's last call again with the same arguments (EventLoop.rerun): the Restart
   * button of a work whose call ended. 409 while the call is still in flight.
   */
  private async restartWork(res: ServerResponse, name: string): Promise<void> {
    await this.workAction(name, () => this.loop.rerun(name));
    this.props.log(`work ${name} restarted from UI`);
    json(res, 202, { ok: true, work: name });
  }

  /** Runs a loop request for a work; its refusals become 404 (unknown work) or 409. */
  private async workAction(name: string, request: () => Promise<void>): Promise<void> {
    try {
      await request();
    } catch (err) {
      if (!(err instanceof DaemonError)) throw err;
      if (err.grpcCode === GrpcCode.NOT_FOUND) {
        throw unknownWork(this.loop, name);
      }
      throw new HttpError(409, codeName(err.grpcCode), err.message);
    }
  }

  private async patch(req: IncomingMessage, res: ServerResponse, component: string): Promise<void> {
    requireJson(req);
    const text = await readBody(req, this.props.maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, 'INVALID_ARGUMENT', `the body is not valid JSON (${(err as Error).message}).`);
    }
    let ops: PatchOperation[] = [];
    try {
      ops = patchFromJson(body);
      await this.loop.patchState(component, ops);
    } catch (err) {
      if (err instanceof DaemonError) {
        const status =
          err.grpcCode === GrpcCode.NOT_FOUND
            ? 404
            : err.grpcCode === GrpcCode.RESOURCE_EXHAUSTED
              ? 413
              : err.grpcCode === GrpcCode.FAILED_PRECONDITION
                ? 409
                : 400;
        const fix =
          status === 404
            ? `Components: ${Object.keys(this.loop.snapshot()).join(', ')}.`
            : `Nothing was applied; ${err.fix ?? 'fix the patch and send it again'}.`;
        throw new HttpError(status, codeName(err.grpcCode), err.message, fix);
      }
      throw err;
    }
    this.props.log(`state set from UI: ${component === 'root' ? '' : `${component} `}${describeOps(ops)}`);
    json(res, 200, { ok: true, component, applied: ops.length });
  }
}
