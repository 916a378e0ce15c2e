/**
 * The pure parts of the CLI, without processes: how flags become a job input, how the server
 * and token are found, and that docs/cli.md names every command and flag the program has.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildJobInput } from '../../src/cli/commands/submit.ts';
import { adminTokenPath, parsePairs, resolveConnection } from '../../src/cli/context.ts';
import { buildProgram } from '../../src/cli/program.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'baton-cli-args-'));
  await writeFile(path.join(dir, 'admin-token'), 'from-file\n');
  await writeFile(path.join(dir, 'job.json'), JSON.stringify({ type: 'http', payload: { url: 'http://x.test/' }, tags: ['file'], runAt: '2030-01-01T00:00:00Z' }));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function usageError(fn: () => unknown): { code: string; field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; field?: string; message: string };
  }
  throw new Error('expected a usage error');
}

describe('buildJobInput', () => {
  it('builds each kind of job', () => {
    expect(buildJobInput(['ls', '-l'], {})).toEqual({ type: 'command', payload: { argv: ['ls', '-l'] } });
    expect(buildJobInput([], { script: 'echo $HOME', shell: '/bin/bash', env: ['A=1', 'B=x=y'], cwd: '/tmp' })).toEqual({
      type: 'command',
      payload: { script: 'echo $HOME', shell: '/bin/bash', env: { A: '1', B: 'x=y' }, cwd: '/tmp' },
    });
    expect(buildJobInput([], { http: 'https://x.test/hook', method: 'post', header: ['content-type=application/json'], body: '{}' })).toEqual({
      type: 'http',
      payload: { url: 'https://x.test/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
    });
    expect(buildJobInput([], { function: 'resize', args: '{"w":10}' })).toEqual({ type: 'function', payload: { handler: 'resize', args: { w: 10 } } });
  });

  it('maps the common flags onto job fields', () => {
    const input = buildJobInput(['true'], {
      queue: 'q',
      priority: '9',
      at: '2030-01-01T10:00:00+02:00',
      name: 'n',
      retries: '3',
      timeout: '1000',
      tag: ['a', 'b'],
      idempotencyKey: 'k',
      label: ['region=eu', 'gpu=no'],
    });
    expect(input).toMatchObject({
      queue: 'q',
      priority: 9,
      runAt: '2030-01-01T08:00:00.000Z',
      name: 'n',
      maxRetries: 3,
      timeoutMs: 1000,
      tags: ['a', 'b'],
      idempotencyKey: 'k',
      requirements: { labels: { region: 'eu', gpu: 'no' } },
    });
    expect(buildJobInput(['true'], { delay: '2500' }).delayMs).toBe(2500);
  });

  it('lets flags override a --json file, replacing its runAt by --delay', () => {
    const input = buildJobInput([], { json: path.join(dir, 'job.json'), delay: '10', tag: ['flag'], queue: 'over' });
    expect(input).toEqual({ type: 'http', payload: { url: 'http://x.test/' }, tags: ['file', 'flag'], delayMs: 10, queue: 'over' });
  });

  it('refuses missing, doubled and misplaced flags with BATON_E_CLI_USAGE', () => {
    expect(usageError(() => buildJobInput([], {})).code).toBe('BATON_E_CLI_USAGE');
    expect(usageError(() => buildJobInput(['x'], { script: 'y' })).message).toContain('only one of');
    expect(usageError(() => buildJobInput(['x'], { method: 'GET' })).field).toBe('--method');
    expect(usageError(() => buildJobInput(['x'], { at: 'tomorrow' })).field).toBe('--at');
    expect(usageError(() => buildJobInput(['x'], { at: '2030-01-01T00:00:00Z', delay: '5' })).field).toBe('--delay');
    expect(usageError(() => buildJobInput(['x'], { priority: 'high' })).field).toBe('--priority');
    expect(usageError(() => buildJobInput(['x'], { retries: '-1' })).field).toBe('--retries');
    expect(usageError(() => buildJobInput(['x'], { label: ['novalue'] })).field).toBe('--label');
    expect(usageError(() => buildJobInput([], { function: 'f', args: '{bad' })).field).toBe('--args');
    expect(usageError(() => buildJobInput([], { json: path.join(dir, 'missing.json') })).field).toBe('--json');
  });
});

describe('finding the server and the token', () => {
  it('prefers the flag, then BATON_*, then defaults and the admin token file', () => {
    expect(resolveConnection({ url: 'http://flag', token: 'ft', tenant: 'ften' }, { BATON_URL: 'http://env', BATON_TOKEN: 'et', BATON_TENANT: 'eten' })).toEqual({
      url: 'http://flag',
      token: 'ft',
      tokenSource: 'flag',
      tenant: 'ften',
    });
    expect(resolveConnection({}, { BATON_URL: 'http://env', BATON_TOKEN: 'et', BATON_TENANT: 'eten', BATON_DATA_DIR: dir })).toMatchObject({ url: 'http://env', token: 'et', tenant: 'eten' });
    expect(resolveConnection({}, { BATON_DATA_DIR: dir })).toEqual({ url: 'http://127.0.0.1:7070', token: 'from-file', tokenSource: path.join(dir, 'admin-token'), tenant: null });
    expect(resolveConnection({}, { BATON_DATA_DIR: path.join(dir, 'nothing') })).toMatchObject({ token: null, tokenSource: null });
    expect(adminTokenPath({ BATON_ADMIN_TOKEN_FILE: '/etc/baton/token', BATON_DATA_DIR: dir })).toBe('/etc/baton/token');
    expect(adminTokenPath({})).toBe(path.resolve('data/admin-token'));
  });

  it('parses k=v lists given repeatedly or comma-separated', () => {
    expect(parsePairs('--labels', ['region=eu,gpu=no', 'zone = a'])).toEqual({ region: 'eu', gpu: 'no', zone: 'a' });
  });
});

describe('docs/cli.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');

  function walk(cmd: Command, prefix: string[], out: { path: string; flags: string[] }[]): void {
    for (const sub of cmd.commands) {
      const p = [...prefix, sub.name()];
      out.push({ path: p.join(' '), flags: sub.options.map((o) => o.long!).filter((f) => f !== undefined) });
      walk(sub, p, out);
    }
  }

  it('documents every command and every flag of the program', () => {
    const program = buildProgram();
    const all: { path: string; flags: string[] }[] = [{ path: '', flags: program.options.map((o) => o.long!).filter((f) => f !== '--version') }];
    walk(program, [], all);
    const missing: string[] = [];
    for (const c of all) {
      const words = c.path.split(' ');
      // A subcommand is documented as `group sub` (e.g. `jobs logs`) or `group [sub]` (default ls).
      if (c.path && !doc.includes(`baton ${c.path}`) && !doc.includes(`${words.at(-2) ?? 'baton'} ${words.at(-1)}`) && !doc.includes(`[${words.at(-1)}]`)) missing.push(`command ${c.path}`);
      for (const f of c.flags) if (!doc.includes(f)) missing.push(`${c.path || 'global'} ${f}`);
    }
    expect(missing).toEqual([]);
  });
});
