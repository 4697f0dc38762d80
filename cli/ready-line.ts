/**
 * The "ready" line of `lightning-local run`: once every server work (a work with a `port`)
 * answers on its url, the UI link is printed again, because by then the one printed at
 * start has scrolled away under the works' start-up logs. It is printed again each time
 * every server answers again after one of them went away or moved (a restart, a retrain).
 */
import type { WorkStatus } from '../constructs/work-status.ts';

export class ReadyLine {
  private readonly urls = new Map<string, string>();
  private servers: readonly string[] | undefined;
  private uiUp = false;
  private printed = false;

  /** `print` receives the url of each server work, in the order of `servers`. */
  constructor(private readonly print: (serverUrls: ReadonlyMap<string, string>) => void) {}

  /** The works that must answer first (known once the app is loaded). No servers: no line. */
  setServers(servers: readonly string[]): void {
    this.servers = servers;
    this.check();
  }

  /** The UI listens (or runs without a UI): the line may be printed. */
  uiReady(): void {
    this.uiUp = true;
    this.check();
  }

  onStatus(work: string, status: WorkStatus): void {
    const before = this.urls.get(work);
    if (status.phase === 'running' && status.url) this.urls.set(work, status.url);
    else this.urls.delete(work);
    // A server that went away (a restart, a retrain) or moved: once every server answers
    // again, the line is printed again, with the urls as they are then.
    if (this.printed && this.servers?.includes(work) && this.urls.get(work) !== before) this.printed = false;
    this.check();
  }

  private check(): void {
    if (this.printed || !this.uiUp || !this.servers?.length) return;
    if (!this.servers.every((w) => this.urls.has(w))) return;
    this.printed = true;
    this.print(new Map(this.servers.map((w) => [w, this.urls.get(w)!])));
  }
}
