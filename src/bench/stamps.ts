/**
 * The benchmark's end of the handlers' UDP channel (see handlers.ts): counts no-op starts and
 * collects `stamp` handler start times, without asking the server anything.
 */
import { createSocket, type Socket } from 'node:dgram';

/** A handler's start of one `stamp` job. */
export interface Stamp {
  id: string;
  /** args.t: when the client sent the submit. */
  t: number;
  /** Date.now() in the handler when it started. */
  s: number;
}

/** Listens on a loopback UDP port for the benchmark handlers' datagrams. */
export class StampListener {
  /** No-op handler starts counted so far. */
  started = 0;
  readonly stamps = new Map<string, Stamp>();
  private waiters: { done: () => boolean; resolve: () => void }[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (buf) => {
      const m = JSON.parse(buf.toString()) as { n?: number; i?: string; t?: number; s?: number };
      if (m.n !== undefined) this.started += m.n;
      // The first start of a job counts; a redelivery would not be a pickup.
      if (m.i !== undefined && !this.stamps.has(m.i)) this.stamps.set(m.i, { id: m.i, t: m.t!, s: m.s! });
      this.waiters = this.waiters.filter((w) => (w.done() ? (w.resolve(), false) : true));
    });
  }

  /** Binds a fresh listener on 127.0.0.1. */
  static async open(): Promise<StampListener> {
    const socket = createSocket('udp4');
    // Bursts of stamps at 1,000/s must not be dropped by a small default buffer.
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    socket.setRecvBufferSize(8 * 1024 * 1024);
    return new StampListener(socket, socket.address().port);
  }

  /** Resolves once `n` starts (no-op counts plus stamps) have been heard. */
  waitFor(n: number): Promise<void> {
    return this.until(() => this.started + this.stamps.size >= n);
  }

  /** Resolves once every job of `ids` has sent its stamp (late stamps of other jobs do not count). */
  waitForStamps(ids: readonly string[]): Promise<void> {
    let i = 0;
    return this.until(() => {
      while (i < ids.length && this.stamps.has(ids[i]!)) i++;
      return i === ids.length;
    });
  }

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  /** Forgets what was heard (between phases). */
  reset(): void {
    this.started = 0;
    this.stamps.clear();
  }

  close(): void {
    this.socket.close();
  }
}
