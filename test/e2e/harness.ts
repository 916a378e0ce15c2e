/**
 * End-to-end harness: real `baton server` and `baton worker` processes on loopback, started
 * through the same bin/baton.js a user runs. Every process is killed when the test file ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatonClient } from '../../src/client/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/baton.js');

/** A child process with its captured output. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<Proc>();

/** Spawns `node bin/baton.js ...args`. */
export function baton(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, BATON_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const proc: Proc = {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Kills every process this file started (afterAll). */
export async function killAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `baton-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface ServerProc extends Proc {
  url: string;
  token: string;
  client: BatonClient;
}

/**
 * Starts `baton server` on `port` with its data in `dataDir` (and `store` when given); resolves
 * once /readyz answers. The admin token is read from the data dir (written on the first start of
 * a store) unless `token` is given — servers that share a database share its first token.
 */
export async function startServerProcess(p: { dataDir: string; port: number; env?: Record<string, string>; store?: string; token?: string }): Promise<ServerProc> {
  const args = ['server', '--port', String(p.port), '--data-dir', p.dataDir];
  if (p.store) args.push('--store', p.store);
  const proc = baton(args, p.env);
  const url = `http://127.0.0.1:${p.port}`;
  await until(
    'server to be ready',
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`server exited: ${proc.output()}`);
      const r = await fetch(`${url}/readyz`);
      return r.ok;
    },
    60_000,
  );
  const token = p.token ?? (await readFile(path.join(p.dataDir, 'admin-token'), 'utf8')).trim();
  return { ...proc, url, token, client: new BatonClient({ url, token }) };
}

export interface WorkerSpec {
  name: string;
  capacity: number;
  queues: string[];
  labels?: Record<string, string>;
  /** More server URLs to fail over to, after the first. */
  failover?: string[];
  handlers?: string;
  env?: Record<string, string>;
}

/** Starts `baton worker` and resolves once the server lists it as connected. */
export async function startWorkerProcess(server: { url: string; token: string; client: BatonClient }, p: WorkerSpec): Promise<Proc> {
  const servers = [server.url, ...(p.failover ?? [])].join(',');
  const args = ['worker', '--server', servers, '--token', server.token, '--capacity', String(p.capacity), '--queues', p.queues.join(','), '--name', p.name];
  if (p.labels) args.push('--labels', Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(','));
  if (p.handlers) args.push('--handlers', p.handlers);
  const proc = baton(args, p.env);
  await until(
    `worker ${p.name} to connect`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
      return (await server.client.workers()).some((w) => w.name === p.name && w.status !== 'offline');
    },
    60_000,
  );
  return proc;
}

/** A fresh PostgreSQL schema name for one test file, and the store URL that uses it. */
export function postgresStore(prefix: string): { schema: string; url: string } {
  const schema = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e9).toString(36)}`;
  return { schema, url: `postgres://postgres@127.0.0.1:5432/test?schema=${schema}` };
}

/**
 * True when a process with this pid is alive. A zombie counts as gone: it has exited and only
 * waits for its (re)parent to reap it, which in a container may be a slow init.
 */
export function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
