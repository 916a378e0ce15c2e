/**
 * protocolPeerForTest: a small stand-in for the server's side of the worker protocol, on a real
 * `ws` WebSocketServer on loopback. It exists because the real gateway (src/server/gateway.ts)
 * is written concurrently; it checks the bearer token, answers hello with welcome, acks report
 * batches (verdicts chosen by the test), answers heartbeats, and lets a test push messages or
 * drop the connection. It records everything the worker sends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LeaseHeld, Report, ReportVerdict, ServerMessage, WorkerHello, WorkerMessage } from '../../src/core/protocol.ts';

/** Knobs a test can turn while the peer runs. */
export interface PeerSettings {
  token: string;
  heartbeatMs: number;
  leaseMs: number;
  maxResultBytes: number;
  /** When false, report batches are recorded but not acknowledged. */
  autoAck: boolean;
  /** Verdict for each report of a batch. Default ok. */
  verdict(r: Report): ReportVerdict;
  /** Leases to declare lost in the next welcome. */
  lostOnWelcome: LeaseHeld[];
  /** Leases to declare lost in the next heartbeat_ack (then cleared). */
  lostOnHeartbeat: LeaseHeld[];
}

/** A running protocolPeerForTest. */
export interface ProtocolPeerForTest {
  /** Base URL to give the worker (http://127.0.0.1:PORT). */
  url: string;
  settings: PeerSettings;
  /** Every message received, across connections, with the connection number (from 1). */
  received: Array<{ conn: number; m: WorkerMessage }>;
  /** Number of WebSocket connections accepted so far. */
  connections(): number;
  /** Connections refused for a bad token. */
  refused(): number;
  hellos(): WorkerHello[];
  /** Every report received, flattened in arrival order (duplicates from re-sends included). */
  reports(): Report[];
  /** Batches received, in order. */
  batches(): Array<{ conn: number; batch: number; reports: Report[] }>;
  /** Sends to the current connection. */
  send(m: ServerMessage): void;
  /** Acknowledges a batch by hand (when autoAck is off). */
  ack(batch: number): void;
  /** Kills the current connection abruptly (no close handshake), like a network failure. */
  dropConnection(): void;
  /** Resolves with the first value `pick` returns for a received message (past or future). */
  waitFor<T>(pick: (m: WorkerMessage, conn: number) => T | undefined, timeoutMs?: number): Promise<T>;
  /** Resolves when the current connection closes. */
  whenClosed(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a protocolPeerForTest on 127.0.0.1 with a free port. */
export async function protocolPeerForTest(over: Partial<PeerSettings> = {}): Promise<ProtocolPeerForTest> {
  const settings: PeerSettings = {
    token: 'worker-token-for-test',
    heartbeatMs: 100,
    leaseMs: 2000,
    maxResultBytes: 1024 * 1024,
    autoAck: true,
    verdict: () => ({ ok: true }),
    lostOnWelcome: [],
    lostOnHeartbeat: [],
    ...over,
  };
  const received: Array<{ conn: number; m: WorkerMessage }> = [];
  const listeners = new Set<() => void>();
  let current: WebSocket | null = null;
  let count = 0;
  let refusedCount = 0;
  const pendingBatches = new Map<number, Report[]>();

  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url !== '/v1/worker/connect' || req.headers.authorization !== `Bearer ${settings.token}`) {
      refusedCount++;
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      count++;
      const conn = count;
      current = ws;
      const send = (m: ServerMessage): void => ws.send(JSON.stringify(m));
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as WorkerMessage;
        received.push({ conn, m });
        if (m.t === 'hello') {
          send({ t: 'welcome', workerId: m.workerId ?? 'worker-1', heartbeatMs: settings.heartbeatMs, leaseMs: settings.leaseMs, maxResultBytes: settings.maxResultBytes, lost: settings.lostOnWelcome });
        } else if (m.t === 'heartbeat') {
          send({ t: 'heartbeat_ack', lost: settings.lostOnHeartbeat });
          settings.lostOnHeartbeat = [];
        } else if (m.t === 'reports') {
          if (settings.autoAck) send({ t: 'ack', batch: m.batch, verdicts: m.reports.map((r) => settings.verdict(r)) });
          else pendingBatches.set(m.batch, m.reports);
        }
        for (const l of [...listeners]) l();
      });
      ws.on('close', () => {
        if (current === ws) current = null;
        for (const l of [...listeners]) l();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const tryNow = (): boolean => {
        const v = check();
        if (v === undefined) return false;
        listeners.delete(listener);
        clearTimeout(timer);
        resolve(v);
        return true;
      };
      const listener = (): void => void tryNow();
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`protocolPeerForTest: timed out waiting for ${what}`));
      }, timeoutMs);
      listeners.add(listener);
      tryNow();
    });

  const peer: ProtocolPeerForTest = {
    url,
    settings,
    received,
    connections: () => count,
    refused: () => refusedCount,
    hellos: () => received.filter((r) => r.m.t === 'hello').map((r) => r.m as WorkerHello),
    reports: () => received.flatMap((r) => (r.m.t === 'reports' ? r.m.reports : [])),
    batches: () => received.flatMap((r) => (r.m.t === 'reports' ? [{ conn: r.conn, batch: r.m.batch, reports: r.m.reports }] : [])),
    send: (m) => {
      if (!current) throw new Error('protocolPeerForTest: no worker connected');
      current.send(JSON.stringify(m));
    },
    ack: (batch) => {
      const reports = pendingBatches.get(batch);
      if (!reports || !current) throw new Error(`protocolPeerForTest: no pending batch ${batch}`);
      pendingBatches.delete(batch);
      current.send(JSON.stringify({ t: 'ack', batch, verdicts: reports.map((r) => settings.verdict(r)) } satisfies ServerMessage));
    },
    dropConnection: () => current?.terminate(),
    waitFor: (pick, timeoutMs = 5000) =>
      waitUntil(() => {
        for (const r of received) {
          const v = pick(r.m, r.conn);
          if (v !== undefined) return v;
        }
        return undefined;
      }, timeoutMs, 'a message'),
    whenClosed: () => waitUntil(() => (current === null ? true : undefined), 5000, 'the connection to close').then(() => undefined),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return peer;
}
