/**
 * Real Baton processes for the benchmark: `node bin/baton.js server` and `... worker`, spawned
 * exactly as a user runs them, on loopback. Servers may run under `--cpu-prof`; their peak
 * resident memory is read from /proc/<pid>/status (VmHWM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatonError } from '../core/errors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/baton.js');
/** The handler module the benchmark's workers load. */
export const HANDLERS = path.join(ROOT, 'src/bench/handlers.ts');

/** A spawned Baton process. */
export interface BatonProcess {
  child: ChildProcess;
  /** Output so far (stdout and stderr), for error messages. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
}

const live = new Set<BatonProcess>();

/** Spawns `node [nodeArgs] bin/baton.js args`. */
export function spawnBaton(args: string[], opts: { nodeArgs?: string[]; env?: Record<string, string> } = {}): BatonProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, BATON_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Only the tail is kept: a long run must not hold its whole log in memory.
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const proc: BatonProcess = { child, output: () => out, exited };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Kills every process the benchmark started and still runs (on failure or interrupt). */
export async function killAllBaton(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

/** Asks a process to stop (SIGTERM: servers close, workers drain) and waits; SIGKILL after `graceMs`. */
export async function stopBaton(p: BatonProcess, graceMs = 30_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
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

/** Polls `fn` every `everyMs` until it returns a truthy value; throws BATON_E_WAIT_TIMEOUT after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new BatonError('BATON_E_WAIT_TIMEOUT', `benchmark: gave up waiting for ${what} after ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A started server process. */
export interface ServerProcess extends BatonProcess {
  url: string;
  token: string;
  pid: number;
}

/** Options of {@link startServerProcess}. */
export interface ServerProcessOptions {
  dataDir: string;
  store: string;
  /** Directory for a `--cpu-prof` profile of the server, or none. */
  cpuProfDir?: string;
}

/** Starts `baton server` on a free loopback port and waits until it answers /readyz. */
export async function startServerProcess(o: ServerProcessOptions): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  const p = spawnBaton(['server', '--host', '127.0.0.1', '--port', String(port), '--data-dir', o.dataDir, '--store', o.store], { nodeArgs });
  const url = `http://127.0.0.1:${port}`;
  let exit: number | string | null = null;
  void p.exited.then((c) => (exit = c));
  await until('the server to be ready', async () => {
    if (exit !== null) throw new BatonError('BATON_E_INTERNAL', `benchmark: server exited (${exit}) before it was ready:\n${p.output()}`);
    const r = await fetch(`${url}/readyz`);
    return r.ok;
  }, 60_000).catch((e) => {
    if (exit !== null) throw new BatonError('BATON_E_INTERNAL', `benchmark: server exited (${exit}) before it was ready:\n${p.output()}`);
    throw e;
  });
  const token = (await readFile(path.join(o.dataDir, 'admin-token'), 'utf8')).trim();
  return { ...p, url, token, pid: p.child.pid! };
}

/** Starts `count` worker processes with the benchmark handlers and waits until all are connected. */
export async function startWorkerProcesses(srv: ServerProcess, o: { count: number; capacity: number; prefetch: number; udpPort: number; cpuProfDir?: string }): Promise<BatonProcess[]> {
  const workers: BatonProcess[] = [];
  for (let i = 0; i < o.count; i++) {
    const args = ['worker', '--server', srv.url, '--token', srv.token, '--capacity', String(o.capacity), '--prefetch', String(o.prefetch)];
    workers.push(
      spawnBaton([...args, '--types', 'function', '--handlers', HANDLERS, '--name', `bench-${i}`], {
        env: { BATON_BENCH_UDP: String(o.udpPort) },
        nodeArgs: o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [],
      }),
    );
  }
  await until('the workers to connect', async () => {
    const r = await fetch(`${srv.url}/v1/workers`, { headers: { authorization: `Bearer ${srv.token}` } });
    const body = (await r.json()) as { workers: { connected: boolean; status: string }[] };
    return body.workers.filter((w) => w.connected && w.status === 'active').length >= o.count;
  }, 60_000, 100);
  return workers;
}

/** Peak and current resident memory of a process, in MiB (VmHWM, VmRSS); null once it ended. */
export function memoryOf(pid: number): { peakMiB: number; rssMiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time a process has used so far (user + system), ms, from /proc/<pid>/stat; null once it
 * ended. Unlike throughput, CPU time per job barely moves when other work shares the cores, so
 * it is the steadier figure for comparing two versions of a hot path on a busy machine.
 */
export function cpuMsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}
