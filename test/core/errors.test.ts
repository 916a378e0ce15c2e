/**
 * Keeps docs/errors.md and the error registry (src/core/errors.ts) in step: every code is
 * documented with its HTTP status, and the docs list no code that does not exist.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatonError, ERRORS, type ErrorCode } from '../../src/core/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** Rows of the `| code | HTTP status | meaning |` table: code → status. */
function documented(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of doc.split('\n')) {
    const m = /^\|\s*`?(BATON_E_[A-Z_]+)`?\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    if (rows.has(m[1])) throw new Error(`docs/errors.md lists ${m[1]} twice`);
    expect(m[3].length, `${m[1]} needs a meaning`).toBeGreaterThan(0);
    rows.set(m[1], Number(m[2]));
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = documented();

  it('documents every code of the registry with its status', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      expect(rows.has(code), `${code} is missing from docs/errors.md`).toBe(true);
      expect(rows.get(code), `${code} has another status in docs/errors.md`).toBe(def.status);
    }
  });

  it('documents no code that the registry lacks', () => {
    for (const code of rows.keys()) expect(Object.keys(ERRORS), `${code} is in docs/errors.md but not in src/core/errors.ts`).toContain(code);
  });

  it('describes the response shape', () => {
    expect(doc).toMatch(/"error":\s*\{/);
    expect(doc).toContain('"code"');
    expect(doc).toContain('"field"');
  });
});

describe('BatonError', () => {
  it('takes its status from the registry and serialises to the documented shape', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const e = new BatonError(code, 'm', { field: 'f' });
      expect(e.status).toBe(ERRORS[code].status);
      expect(e.toJSON()).toEqual({ error: { code, message: 'm', field: 'f' } });
    }
    expect(new BatonError('BATON_E_INTERNAL', 'x').toJSON()).toEqual({ error: { code: 'BATON_E_INTERNAL', message: 'x' } });
  });
});
