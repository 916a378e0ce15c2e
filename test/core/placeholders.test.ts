/**
 * Parents placeholders in payloads: whole-string values keep their type, embedded ones are
 * stringified, missing refs and paths name the placeholder, nothing outside plain data is
 * reachable, and other `{{...}}` text is left alone. Plus laws over random JSON (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkParentPlaceholders,
  MAX_PLACEHOLDER_DEPTH,
  findPlaceholders,
  parentOutcomes,
  readPath,
  renderParentPlaceholders,
  type ParentOutcome,
} from '../../src/core/placeholders.ts';
import { thrown } from './fixtures.ts';

const parents = new Map<string, ParentOutcome>([
  ['extract', { status: 'completed', result: { rows: 42, files: ['a.csv', 'b.csv'], meta: { ok: true, note: null }, label: 'x y' }, error: null }],
  ['load', { status: 'failed', result: null, error: { code: 'exit_code', message: 'exit 3' } }],
  ['0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', { status: 'completed', result: 7, error: null }],
]);

describe('renderParentPlaceholders', () => {
  it('a whole-string placeholder becomes the value with its type', () => {
    const out = renderParentPlaceholders(
      {
        n: '{{parents.extract.result.rows}}',
        files: '{{ parents.extract.result.files }}',
        meta: '{{parents.extract.result.meta}}',
        note: '{{parents.extract.result.meta.note}}',
        whole: '{{parents.extract.result}}',
        status: '{{parents.load.status}}',
        code: '{{parents.load.error.code}}',
        byId: '{{parents.0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.result}}',
        first: '{{parents.extract.result.files.0}}',
      },
      parents,
    );
    expect(out).toEqual({
      n: 42,
      files: ['a.csv', 'b.csv'],
      meta: { ok: true, note: null },
      note: null,
      whole: parents.get('extract')!.result,
      status: 'failed',
      code: 'exit_code',
      byId: 7,
      first: 'a.csv',
    });
  });

  it('an embedded placeholder is written into the string, as JSON unless it is a string', () => {
    const out = renderParentPlaceholders(
      { argv: ['load', '--rows={{parents.extract.result.rows}}', 'files={{parents.extract.result.files}}', '{{parents.extract.result.label}}!', 'n={{parents.extract.result.meta.note}}'] },
      parents,
    );
    expect(out.argv).toEqual(['load', '--rows=42', 'files=["a.csv","b.csv"]', 'x y!', 'n=null']);
  });

  it('renders deeply and leaves keys, non-strings and the input alone', () => {
    const input = { a: [{ b: { '{{parents.extract.status}}': '{{parents.extract.status}}' } }, 1, true, null] };
    const copy = structuredClone(input);
    const out = renderParentPlaceholders(input, parents);
    expect(out).toEqual({ a: [{ b: { '{{parents.extract.status}}': 'completed' } }, 1, true, null] });
    expect(input).toEqual(copy);
  });

  it('leaves other braces as plain text, and does not expand substituted values', () => {
    const p = new Map<string, ParentOutcome>([['a', { status: 'completed', result: { t: '{{parents.a.status}}' }, error: null }]]);
    const out = renderParentPlaceholders(
      { script: "docker inspect --format '{{.State.Status}}' x; echo {{ name }} {{}}", t: '{{parents.a.result.t}}', u: 'x {{parents.a.result.t}}' },
      p,
    );
    expect(out).toEqual({ script: "docker inspect --format '{{.State.Status}}' x; echo {{ name }} {{}}", t: '{{parents.a.status}}', u: 'x {{parents.a.status}}' });
  });

  it('names the placeholder and its field when a ref or path is missing', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ x: '{{parents.nope.result}}' }, 'payload.x', /\{\{parents\.nope\.result\}\}.*not a parent/],
      [{ x: ['a', 'n={{parents.extract.result.count}}'] }, 'payload.x[1]', /parents\.extract\.result\.count/],
      [{ x: '{{parents.extract.result.files.2}}' }, 'payload.x', /parents\.extract\.result\.files\.2/],
      [{ x: '{{parents.extract.result.rows.deeper}}' }, 'payload.x', /parents\.extract\.result\.rows\.deeper/],
      [{ x: '{{parents.load.result.y}}' }, 'payload.x', /parents\.load\.result\.y/],
      [{ x: '{{parents.extract.error.code}}' }, 'payload.x', /parents\.extract\.error\.code/],
    ];
    for (const [payload, field, message] of cases) {
      const e = thrown(() => renderParentPlaceholders(payload, parents));
      expect(e.code).toBe('BATON_E_VALIDATION');
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    }
  });

  it('refuses malformed placeholders in the parents namespace', () => {
    for (const bad of ['{{parents}}', '{{parents.extract}}', '{{parents.extract.id}}', '{{parents..result}}', '{{parents.extract.status.x}}', '{{parents.extract.result.}}']) {
      const e = thrown(() => renderParentPlaceholders({ x: bad }, parents));
      expect(e.code, bad).toBe('BATON_E_VALIDATION');
      expect(e.field).toBe('payload.x');
    }
  });

  it('reaches no prototype: __proto__, constructor and prototype segments are refused, inherited keys are missing', () => {
    const p = new Map<string, ParentOutcome>([['a', { status: 'completed', result: JSON.parse('{"__proto__": {"polluted": 1}, "o": {}}'), error: null }]]);
    for (const seg of ['__proto__', 'constructor', 'prototype']) {
      expect(thrown(() => renderParentPlaceholders({ x: `{{parents.a.result.${seg}}}` }, p)).message).toMatch(/may not use the segment/);
    }
    for (const path of ['o.toString', 'o.hasOwnProperty', 'o.valueOf']) {
      expect(thrown(() => renderParentPlaceholders({ x: `{{parents.a.result.${path}}}` }, p)).message).toMatch(/has no/);
    }
    expect(readPath({}, ['toString'])).toEqual({ found: false, at: 0 });
    expect(readPath([1, 2], ['length'])).toEqual({ found: false, at: 0 });
    expect(readPath([1, 2], ['01'])).toEqual({ found: false, at: 0 });
  });

  it('keeps a __proto__ key of the payload as plain data', () => {
    const payload = JSON.parse('{"__proto__": {"polluted": "{{parents.extract.status}}"}}') as Record<string, unknown>;
    const out = renderParentPlaceholders(payload, parents) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: 'completed' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('uses the given field prefix', () => {
    expect(thrown(() => renderParentPlaceholders({ x: '{{parents.q.status}}' }, parents, 'jobs[2].payload')).field).toBe('jobs[2].payload.x');
  });
});

describe('parentOutcomes and depth', () => {
  it('keys each parent by ref and by id', () => {
    const m = parentOutcomes([
      { id: 'id-1', ref: 'extract', status: 'completed', result: { n: 1 }, error: null },
      { id: 'id-2', ref: null, status: 'failed', result: null, error: { code: 'x', message: 'y' } },
    ]);
    expect([...m.keys()].sort()).toEqual(['extract', 'id-1', 'id-2']);
    expect(renderParentPlaceholders({ a: '{{parents.extract.result.n}}', b: '{{parents.id-1.result.n}}', c: '{{parents.id-2.error.code}}' }, m)).toEqual({ a: 1, b: 1, c: 'x' });
  });

  it('refuses payloads nested too deep instead of overflowing the stack', () => {
    let deep: unknown = '{{parents.extract.status}}';
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(thrown(() => renderParentPlaceholders({ deep }, parents)).message).toMatch(new RegExp(`deeper than ${MAX_PLACEHOLDER_DEPTH}`));
    expect(thrown(() => findPlaceholders({ deep })).code).toBe('BATON_E_VALIDATION');
    let ok: unknown = '{{parents.extract.status}}';
    for (let i = 0; i < MAX_PLACEHOLDER_DEPTH - 1; i++) ok = [ok];
    expect(findPlaceholders(ok)).toEqual(['extract']);
  });
});

describe('findPlaceholders and checkParentPlaceholders', () => {
  it('lists the refs read, once each, in order of first use', () => {
    const payload = { a: 'x {{parents.b.status}} {{parents.a.result.k}}', b: ['{{parents.b.result}}', { c: '{{parents.c.error}}' }], d: '{{other}}' };
    expect(findPlaceholders(payload)).toEqual(['b', 'a', 'c']);
    expect(findPlaceholders({ plain: 'no braces', n: 1 })).toEqual([]);
    expect(thrown(() => findPlaceholders({ x: '{{parents.a.bad}}' })).field).toBe('payload.x');
  });

  it('refuses a ref that is not among the job’s dependencies, naming the field', () => {
    const payload = { argv: ['{{parents.a.result}}', '{{parents.z.result}}'] };
    expect(() => checkParentPlaceholders(payload, new Set(['a', 'z']))).not.toThrow();
    const e = thrown(() => checkParentPlaceholders(payload, new Set(['a']), 'jobs[1].payload'));
    expect(e.field).toBe('jobs[1].payload.argv[1]');
    expect(e.message).toMatch(/"z".*not in this job's dependsOn/);
  });
});

describe('placeholder laws', () => {
  const json = fc.jsonValue({ maxDepth: 4 });

  it('a payload without placeholders renders to an equal copy', () => {
    fc.assert(
      fc.property(json, (v) => {
        const payload = { v };
        const text = JSON.stringify(payload);
        if (text.includes('{{')) return;
        expect(renderParentPlaceholders(payload, new Map())).toEqual(payload);
      }),
      { numRuns: 200 },
    );
  });

  it('a whole placeholder returns the exact value, an embedded one its JSON text', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }).filter((k) => /^[A-Za-z0-9_-]+$/.test(k) && !['__proto__', 'constructor', 'prototype'].includes(k)), json, { minKeys: 1, maxKeys: 5 }), (result) => {
        const p = new Map<string, ParentOutcome>([['p', { status: 'completed', result, error: null }]]);
        for (const [k, v] of Object.entries(result)) {
          const out = renderParentPlaceholders({ whole: `{{parents.p.result.${k}}}`, part: `<{{parents.p.result.${k}}}>` }, p);
          expect(out.whole).toEqual(v);
          expect(out.part).toBe(`<${typeof v === 'string' ? v : JSON.stringify(v)}>`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
