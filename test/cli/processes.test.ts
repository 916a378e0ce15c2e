/**
 * The long-running commands as real processes: `baton server`, `baton worker` and `baton dev`
 * start, print how to reach them, do their work, and stop cleanly on a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/index.ts';
import { startTestServer, type TestServer } from '../client/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/baton.js');

interface Running {
  child: ChildProcess;
  out(): string;
  /** Resolves when stdout has a match for `re`, with the match. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const started: Running[] = [];
let t: TestServer;
let tmp: string;

beforeAll(async () => {
  t = await startTestServer('cli-proc');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'baton-cli-proc-'));
});

afterAll(async () => {
  for (const r of started) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  await Promise.all(started.map((r) => r.exited));
  await t?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string> = {}): Running {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BATON_')) base[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env: { ...base, BATON_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { re: RegExp; resolve(m: RegExpMatchArray): void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), check()));
  child.stderr!.on('data', (d: Buffer) => ((out += d.toString()), check()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const r: Running = {
    child,
    out: () => out,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} in output within ${timeoutMs} ms:\n${out}`)), timeoutMs);
        void exited.then((code) => reject(new Error(`exited with ${code} before printing ${re}:\n${out}`)));
        waiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
        check();
      });
    },
  };
  started.push(r);
  return r;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('long-running commands', () => {
  it('baton server prints its URL and first admin token, and stops on SIGTERM', async () => {
    const dataDir = path.join(tmp, 'server');
    const srv = start(['server', '--port', '0', '--data-dir', dataDir]);
    const [, url] = await srv.waitFor(/listening on (http:\/\/\S+)/);
    const [, token] = await srv.waitFor(/admin token: (\S+)/);
    expect((await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim()).toBe(token);
    expect(await new BatonClient({ url, token }).queues()).toEqual([]);
    srv.child.kill('SIGTERM');
    expect(await srv.exited).toBe(0);
  });

  it('baton worker runs jobs and, on SIGTERM, finishes the running one before exiting 0', async () => {
    const w = start(['worker', '--server', t.url, '--token', t.token, '--queues', 'proc-q', '--name', 'cli-worker', '--capacity', '2', '--labels', 'zone=a,gpu=no']);
    await until('the worker to connect', async () => (await t.client.workers()).some((x) => x.name === 'cli-worker' && x.connected));
    const listed = (await t.client.workers()).find((x) => x.name === 'cli-worker')!;
    expect(listed).toMatchObject({ capacity: 2, queues: ['proc-q'], labels: { zone: 'a', gpu: 'no' } });
    const job = await t.client.submit({ type: 'command', queue: 'proc-q', payload: { script: 'sleep 0.8; echo done' } });
    await t.client.waitForJob(job.id, { statuses: ['running'], timeoutMs: 10_000 });
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const done = await t.client.getJob(job.id);
    expect(done.status).toBe('completed');
  });

  it('baton worker exits 0 by itself when drained through the API', async () => {
    const w = start(['worker', '--server', t.url, '--token', t.token, '--queues', 'drain-q', '--name', 'cli-drained']);
    await w.waitFor(/connected to \S+ as worker (\S+)/);
    const listed = (await t.client.workers()).find((x) => x.name === 'cli-drained')!;
    expect((await t.client.drainWorker(listed.id)).notified).toBe(true);
    expect(await w.exited).toBe(0);
    expect(w.out()).toContain('draining');
  });

  it('baton dev runs a server and a local worker in one process', async () => {
    const dev = start(['dev', '--port', '0', '--data-dir', path.join(tmp, 'dev')]);
    const [, url] = await dev.waitFor(/API listening on (http:\/\/\S+)/);
    const [, token] = await dev.waitFor(/admin token: (\S+)/);
    const client = new BatonClient({ url, token });
    const job = await client.submit({ type: 'command', queue: 'anything', payload: { argv: ['echo', 'dev'] } });
    expect((await client.waitForJob(job.id, { timeoutMs: 10_000 })).status).toBe('completed');
    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
  });
});
