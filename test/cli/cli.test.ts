/**
 * The `baton` command as users run it: real `node bin/baton.js` processes against a real server
 * (and a real worker) started in this test process. Process start under tsx costs ~0.5 s, so
 * each test spawns only a few.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView, QueueView } from '../../src/core/api.ts';
import { startTestServer, type TestServer } from '../client/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/baton.js');

let t: TestServer;
let emptyDir: string;

beforeAll(async () => {
  t = await startTestServer('cli');
  await t.addWorker({ queues: ['work'] });
  emptyDir = await mkdtemp(path.join(os.tmpdir(), 'baton-cli-empty-'));
});

afterAll(async () => {
  await t?.stop();
  if (emptyDir) await rm(emptyDir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment of a spawned CLI: our server and token, and no stray BATON_* settings from outside. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BATON_')) env[k] = v;
  // An empty data dir, so no admin-token file is found by accident.
  return { ...env, BATON_URL: t.url, BATON_TOKEN: t.token, BATON_DATA_DIR: emptyDir, ...extra };
}

/** Runs `baton ...args` to its end. */
function baton(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: emptyDir, env: opts.env ?? cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

describe('baton submit', () => {
  it('submits an argv command with its options and prints the id', async () => {
    const r = await baton(['submit', '--queue', 'idle', '--name', 'argv-job', '--priority', '7', '--tag', 'a', '--tag', 'b', '--label', 'region=eu', '--retries', '2', '--timeout', '5000', '--', 'echo', 'hello', '--not-a-flag']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const job = await t.client.getJob(id);
    expect(job).toMatchObject({
      type: 'command',
      queue: 'idle',
      name: 'argv-job',
      priority: 7,
      tags: ['a', 'b'],
      maxRetries: 2,
      timeoutMs: 5000,
      requirements: { labels: { region: 'eu' } },
      payload: { argv: ['echo', 'hello', '--not-a-flag'] },
    });
  });

  it('runs a script with --wait and exits 0 when it completes, 1 when it fails', async () => {
    const [ok, bad] = await Promise.all([
      baton(['submit', '--queue', 'work', '--wait', '--script', 'echo from script']),
      baton(['submit', '--queue', 'work', '--wait', '--script', 'echo nope; exit 3']),
    ]);
    expect(ok.code).toBe(0);
    const [id, status] = ok.stdout.trim().split('\n');
    expect(status).toBe('completed');
    expect((await t.client.getJob(id)).payload).toEqual({ script: 'echo from script' });
    expect(bad.code).toBe(1);
    expect(bad.stdout.trim().split('\n')[1]).toBe('failed');
    expect(bad.stderr).toMatch(/job \S+ failed: /);
  });

  it('reads a whole job from --json - and schedules it with --at', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const input = { type: 'command', queue: 'idle', payload: { argv: ['true'] }, metadata: { from: 'stdin' }, tags: ['json'] };
    const r = await baton(['submit', '--json', '-', '--at', at, '--tag', 'extra', '--json-output'], { input: JSON.stringify(input) });
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout) as JobView;
    expect(job).toMatchObject({ status: 'scheduled', runAt: at, metadata: { from: 'stdin' }, tags: ['json', 'extra'] });
  });
});

describe('baton jobs', () => {
  it('lists jobs as a table and as JSON, and gets one', async () => {
    const job = await t.client.submit({ type: 'command', queue: 'listed', name: 'listed-job', payload: { argv: ['true'] } });
    const [table, json, got] = await Promise.all([
      baton(['jobs', 'ls', '--queue', 'listed']),
      baton(['jobs', 'ls', '--queue', 'listed', '--status', 'pending', '--json']),
      baton(['jobs', 'get', job.id]),
    ]);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+QUEUE\s+TYPE/);
    expect(row).toContain(job.id);
    expect(row).toContain('listed-job');
    expect((JSON.parse(json.stdout) as JobView[]).map((j) => j.id)).toEqual([job.id]);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: job.id, attempts: [] });
  });

  it('cancels a job', async () => {
    const job = await t.client.submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } });
    const r = await baton(['jobs', 'cancel', job.id, '--reason', 'from-cli']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${job.id} cancelled`);
    expect(await t.client.getJob(job.id)).toMatchObject({ status: 'cancelled', reason: 'from-cli' });
  });

  it('follows the logs of a running job until it ends', async () => {
    const job = await t.client.submit({ type: 'command', queue: 'work', payload: { script: 'echo line-1; sleep 0.5; echo line-2 >&2; sleep 0.5; echo line-3' } });
    const r = await baton(['jobs', 'logs', job.id, '-f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('line-1\nline-3\n');
    expect(r.stderr).toContain('line-2\n');
    expect((await t.client.getJob(job.id)).status).toBe('completed');
  });
});

describe('baton queues and tokens', () => {
  it('pauses and resumes a queue', async () => {
    await t.client.submit({ type: 'command', queue: 'cli-q', payload: { argv: ['true'] } });
    const paused = await baton(['queues', 'pause', 'cli-q']);
    expect(paused.stdout.trim()).toBe('cli-q paused');
    const ls = await baton(['queues', '--json']);
    expect((JSON.parse(ls.stdout) as QueueView[]).find((q) => q.name === 'cli-q')?.paused).toBe(true);
    const resumed = await baton(['queues', 'resume', 'cli-q']);
    expect(resumed.stdout.trim()).toBe('cli-q active');
  });

  it('creates a token that works, then revokes it', async () => {
    const created = await baton(['tokens', 'create', '--name', 'cli-viewer', '--role', 'viewer', '--json']);
    expect(created.code).toBe(0);
    const tok = JSON.parse(created.stdout) as { id: string; token: string; role: string };
    expect(tok.role).toBe('viewer');
    const asViewer = await baton(['--token', tok.token, 'jobs', 'ls', '--limit', '1']);
    expect(asViewer.code).toBe(0);
    const rm = await baton(['tokens', 'rm', tok.id]);
    expect(rm.stdout.trim()).toBe(`${tok.id} revoked`);
    expect((await t.client.listTokens()).map((x) => x.id)).not.toContain(tok.id);
  });
});

describe('errors and settings', () => {
  it('exits 2 with BATON_E_CLI_USAGE for a bad flag, 1 with the server\'s code for an unknown job', async () => {
    const [flag, missing, role] = await Promise.all([
      baton(['jobs', 'ls', '--bogus']),
      baton(['jobs', 'get', '00000000-0000-7000-8000-000000000000']),
      baton(['tokens', 'create', '--name', 'x', '--role', 'king']),
    ]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^error BATON_E_CLI_USAGE: unknown option '--bogus'/);
    expect(flag.stdout).toBe('');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error BATON_E_NOT_FOUND: .+/);
    expect(role.code).toBe(2);
    expect(role.stderr).toMatch(/^error BATON_E_CLI_USAGE: --role must be one of .+ \(field: --role\)/);
  });

  it('finds the token in $BATON_DATA_DIR/admin-token and says when there is none', async () => {
    const env = cliEnv({ BATON_DATA_DIR: t.dataDir });
    delete env.BATON_TOKEN;
    const noToken = cliEnv();
    delete noToken.BATON_TOKEN;
    const [withFile, without, unreachable] = await Promise.all([
      baton(['jobs', 'ls', '--limit', '1'], { env }),
      baton(['jobs', 'ls'], { env: noToken }),
      baton(['--url', 'http://127.0.0.1:1', 'queues']),
    ]);
    expect(withFile.code).toBe(0);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/^error BATON_E_UNAUTHENTICATED: /);
    expect(without.stderr).toContain('hint: pass --token');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error BATON_E_UNAVAILABLE: cannot reach the Baton server at http:\/\/127\.0\.0\.1:1/);
  });
});
