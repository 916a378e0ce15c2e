/**
 * A worker-protocol client driven by a test over a real WebSocket, with every message it
 * received: for tests that need to send what a real worker would not, or to hold its reports.
 */
import WebSocket from 'ws';
import type { Assignment, ServerMessage } from '../../src/core/protocol.ts';

/** A protocol client driven by the test, with every message it received. */
export class RawWorker {
  readonly inbox: ServerMessage[] = [];
  readonly ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  private readonly opened: Promise<void>;

  /** Connects to the server at `url` (http://…) with a bearer `token`; await open() before sending. */
  constructor(url: string, token: string) {
    this.ws = new WebSocket(`${url.replace('http', 'ws')}/v1/worker/connect`, { headers: { authorization: `Bearer ${token}` } });
    this.ws.on('message', (d) => this.inbox.push(JSON.parse(d.toString()) as ServerMessage));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  async open(): Promise<this> {
    await this.opened;
    return this;
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  async next<T extends ServerMessage['t']>(t: T, match: (m: Extract<ServerMessage, { t: T }>) => boolean = () => true): Promise<Extract<ServerMessage, { t: T }>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = this.inbox.find((m): m is Extract<ServerMessage, { t: T }> => m.t === t && match(m as Extract<ServerMessage, { t: T }>));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${t} message; got ${JSON.stringify(this.inbox)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Says hello for command jobs of `queues` (capacity 2 unless `extra` says otherwise); the worker id. */
  async hello(queues: string[], extra: Record<string, unknown> = {}): Promise<string> {
    await this.opened;
    this.send({ t: 'hello', protocol: 1, name: 'raw', host: 'test', types: ['command'], handlers: [], queues, labels: {}, capacity: 2, running: [], ...extra });
    return (await this.next('welcome')).workerId;
  }

  /** Every assignment received so far, in order. */
  assigned(): Assignment[] {
    return this.inbox.flatMap((m) => (m.t === 'assign' ? m.jobs : []));
  }

  /** Waits until `n` assignments in all have arrived (throws after 10 s); all of them, in order. */
  async waitAssigned(n: number): Promise<Assignment[]> {
    await this.next('assign', () => this.assigned().length >= n);
    return this.assigned();
  }

  /** Completes `done` in one report batch and waits for its ack. */
  async complete(batch: number, ...done: Assignment[]): Promise<void> {
    this.send({ t: 'reports', batch, reports: done.map((a) => ({ kind: 'completed', jobId: a.jobId, attempt: a.attempt, leaseToken: a.leaseToken, at: Date.now(), result: null })) });
    await this.next('ack', (m) => m.batch === batch);
  }
}
