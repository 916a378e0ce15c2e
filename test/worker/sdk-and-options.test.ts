import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectUrl, resolveWorkerOptions } from '../../src/worker/options.ts';
import { loadHandlers } from '../../src/worker/sdk.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-sdk-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sdkPath = path.resolve('src/worker/index.ts');

describe('loadHandlers', () => {
  it('loads the default export of a TypeScript module written with defineHandlers', async () => {
    const file = path.join(dir, 'default.ts');
    writeFileSync(file, `import { defineHandlers } from ${JSON.stringify(sdkPath)};\nexport default defineHandlers({ double: (args: { n: number }) => args.n * 2 });\n`);
    const h = await loadHandlers(file);
    expect(Object.keys(h)).toEqual(['double']);
    expect(await h.double({ n: 21 }, {} as never)).toBe(42);
  });

  it('falls back to a named `handlers` export', async () => {
    const file = path.join(dir, 'named.mjs');
    writeFileSync(file, 'export const handlers = { hi: () => "hi" };\n');
    expect(Object.keys(await loadHandlers(file))).toEqual(['hi']);
  });

  it('refuses a module without handlers, a non-function handler, and a missing file with BATON_E_CONFIG', async () => {
    writeFileSync(path.join(dir, 'none.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(dir, 'bad.mjs'), 'export default { notFn: 3 };\n');
    await expect(loadHandlers(path.join(dir, 'none.mjs'))).rejects.toMatchObject({ code: 'BATON_E_CONFIG', message: expect.stringContaining('default export') });
    await expect(loadHandlers(path.join(dir, 'bad.mjs'))).rejects.toMatchObject({ code: 'BATON_E_CONFIG', message: expect.stringContaining('"notFn"') });
    await expect(loadHandlers(path.join(dir, 'missing.ts'))).rejects.toMatchObject({ code: 'BATON_E_CONFIG' });
  });
});

describe('worker options', () => {
  it('turns server base URLs into worker endpoints', () => {
    expect(connectUrl('http://127.0.0.1:7070')).toBe('ws://127.0.0.1:7070/v1/worker/connect');
    expect(connectUrl('https://baton.example.com/base/')).toBe('wss://baton.example.com/base/v1/worker/connect');
    expect(() => connectUrl('ftp://x')).toThrow(/http\(s\) or ws\(s\)/);
  });

  it('fills defaults and advertises function only with handlers', () => {
    const o = resolveWorkerOptions({ servers: ['http://h:1'], token: 't' });
    expect(o).toMatchObject({ capacity: 8, queues: ['*'], types: ['command', 'http'], reportFlushMs: 10, reconnectMinMs: 100, reconnectMaxMs: 5000, region: null });
    expect(o.name).toBe(`${os.hostname()}-${process.pid}`);
    expect(resolveWorkerOptions({ servers: ['http://h:1'], token: 't', handlers: { f: () => 1 } }).types).toEqual(['command', 'http', 'function']);
  });

  it('refuses bad settings with BATON_E_CONFIG naming the setting', () => {
    expect(() => resolveWorkerOptions({ servers: [], token: 't' })).toThrow(expect.objectContaining({ code: 'BATON_E_CONFIG', field: 'servers' }));
    expect(() => resolveWorkerOptions({ servers: ['http://h:1'], token: '' })).toThrow(expect.objectContaining({ field: 'token' }));
    expect(() => resolveWorkerOptions({ servers: ['http://h:1'], token: 't', capacity: 0 })).toThrow(expect.objectContaining({ field: 'capacity' }));
    expect(() => resolveWorkerOptions({ servers: ['http://h:1'], token: 't', prefetch: 1.5 })).toThrow(expect.objectContaining({ field: 'prefetch' }));
    expect(() => resolveWorkerOptions({ servers: ['http://h:1'], token: 't', types: ['container'] })).toThrow(expect.objectContaining({ field: 'types' }));
  });
});
