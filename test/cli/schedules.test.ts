/**
 * `baton schedules ...` and `baton cron preview` as users run them: real CLI processes against a
 * real server started in this test process.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../client/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/baton.js');

let t: TestServer;
let dir: string;

beforeAll(async () => {
  t = await startTestServer('cli-schedules');
  dir = await mkdtemp(path.join(os.tmpdir(), 'baton-cli-sched-'));
});
afterAll(async () => {
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function baton(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BATON_')) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...env, BATON_URL: t.url, BATON_TOKEN: t.token, BATON_DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('baton schedules', () => {
  it('creates, lists, triggers, shows runs, pauses and removes a schedule', async () => {
    const job = JSON.stringify({ type: 'command', payload: { argv: ['true'] } });
    const c = await baton(['schedules', 'create', '--name', 'nightly', '--cron', '30 2 * * *', '--tz', 'Europe/London', '--overlap', 'skip', '--job', job, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const s = JSON.parse(c.stdout);
    expect(s).toMatchObject({ name: 'nightly', timezone: 'Europe/London', overlap: 'skip' });
    const ls = await baton(['schedules']);
    expect(ls.stdout).toContain('nightly');
    const tr = await baton(['schedules', 'trigger', s.id]);
    expect(tr.code, tr.stderr).toBe(0);
    const runs = await baton(['schedules', 'runs', s.id, '--json']);
    expect(JSON.parse(runs.stdout)).toEqual([expect.objectContaining({ decision: 'triggered', jobId: tr.stdout.trim() })]);
    expect((await baton(['schedules', 'pause', s.id])).stdout).toContain('paused');
    expect((await baton(['schedules', 'rm', s.id])).code).toBe(0);
    const gone = await baton(['schedules', 'get', s.id]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('BATON_E_NOT_FOUND');
  });

  it('previews fires across a DST change, and names a bad expression', async () => {
    const p = await baton(['cron', 'preview', '30 1 * * *', '--tz', 'Europe/London', '--from', '2026-03-28T12:00:00Z', '--count', '2']);
    expect(p.code, p.stderr).toBe(0);
    // 01:30 is skipped on 29 March in London: it fires at 02:00 BST, the end of the gap.
    expect(p.stdout).toBe('2026-03-29T02:00:00+01:00\n2026-03-30T01:30:00+01:00\n');
    const bad = await baton(['cron', 'preview', '0 0 30 2 *']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('BATON_E_VALIDATION');
  });
});
