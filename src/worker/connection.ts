/**
 * Keeps one WebSocket to one of the configured servers: connects with the bearer token, hands
 * messages to the agent, and on a drop reconnects with exponential backoff and jitter, moving
 * to the next server URL after a failed try (failover). It knows nothing of the protocol.
 */
import WebSocket from 'ws';
import type { Logger } from 'pino';

/** What the connection tells its owner. */
export interface ConnectionHandlers {
  /** A socket opened (the owner sends hello). */
  onOpen(url: string): void;
  /** A text message arrived. */
  onMessage(text: string): void;
  /** The socket closed or failed; a reconnect is already scheduled unless stopped. */
  onClose(info: { url: string; code: number; reason: string; wasOpen: boolean }): void;
}

/** Options of a Connection. */
export interface ConnectionOptions {
  urls: string[];
  token: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  logger: Logger;
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
}

/** A self-healing connection to the server fleet. */
export class Connection {
  private ws: WebSocket | null = null;
  private index = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly h: ConnectionHandlers,
  ) {}

  /** Opens the first connection. */
  start(): void {
    this.stopped = false;
    this.open();
  }

  /** True when a socket is open. */
  isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one message; false when no socket is open (the caller keeps it for later). */
  send(text: string): boolean {
    if (!this.isOpen()) return false;
    this.ws!.send(text);
    return true;
  }

  /** The session is healthy (welcomed): the next drop retries quickly again. */
  healthy(): void {
    this.failures = 0;
  }

  /** Drops the current socket (e.g. the server went silent); a reconnect follows. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Closes for good: no reconnect. Resolves when the socket is closed. */
  async stop(code = 1000, reason = 'worker closing'): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
      // A peer that never answers the close handshake must not hold the worker open.
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  private open(): void {
    if (this.stopped) return;
    const url = this.opts.urls[this.index % this.opts.urls.length];
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.token}` }, handshakeTimeout: 10_000 });
    this.ws = ws;
    let wasOpen = false;
    ws.on('open', () => {
      wasOpen = true;
      this.h.onOpen(url);
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.h.onMessage(data.toString());
    });
    ws.on('unexpected-response', (_req, res) => {
      this.opts.logger.warn({ url, status: res.statusCode }, 'server refused the worker connection');
      ws.terminate();
    });
    ws.on('error', (e) => this.opts.logger.debug({ url, err: e.message }, 'worker connection error'));
    ws.on('close', (code, reason) => {
      if (this.ws === ws) this.ws = null;
      this.h.onClose({ url, code, reason: reason.toString(), wasOpen });
      if (this.stopped) return;
      // A try that never opened means this server is unreachable: fail over to the next one.
      if (!wasOpen) this.index++;
      this.failures++;
      const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectMinMs * 2 ** Math.min(this.failures - 1, 20));
      const delay = Math.round(base * (0.5 + 0.5 * (this.opts.random ?? Math.random)()));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.open();
      }, delay);
    });
  }
}
