/**
 * Job input: defaults, when a job may run, and every payload rule naming the exact field (with
 * a batch prefix such as `jobs[3]`), for a new job and for a patch.
 */
import fc from 'fast-check';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { BatonError } from '../../src/core/errors.ts';
import { DEFAULT_BACKOFF } from '../../src/core/retry.ts';
import { findPlaceholders, MAX_PLACEHOLDER_DEPTH } from '../../src/core/placeholders.ts';
import { JobInput, JobPatchInput, mayHoldPlaceholders, normalizeJobInput, normalizeJobPatch, parseInstant, validatePayload } from '../../src/core/spec.ts';
import { readyStatus } from '../../src/core/transition.ts';
import type { JobType } from '../../src/core/types.ts';
import { T0 } from './fixtures.ts';

const ids = { id: 'job-1', tenant: 'acme' };
const cmd = (over: Partial<JobInput> = {}): JobInput => ({ type: 'command', payload: { argv: ['echo', 'hi'] }, ...over });

/** The field of the BATON_E_VALIDATION error `fn` throws. */
function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BatonError);
    const err = e as BatonError;
    expect(err.code).toBe('BATON_E_VALIDATION');
    expect(err.status).toBe(400);
    expect(err.message.startsWith(`${err.field}: `)).toBe(true);
    return err.field;
  }
  throw new Error('expected a validation error, but the input was accepted');
}

describe('normalizeJobInput', () => {
  it('fills every default', () => {
    const job = normalizeJobInput(cmd(), ids, T0);
    expect(job).toEqual({
      id: 'job-1', tenant: 'acme', type: 'command', payload: { argv: ['echo', 'hi'] }, name: null,
      queue: 'default', priority: 5, maxRetries: 0, backoff: DEFAULT_BACKOFF, timeoutMs: null,
      requirements: { labels: {}, cpu: 0, memoryMb: 0 }, idempotencyKey: null, tags: [], metadata: {},
      status: 'pending', runAt: T0, createdAt: T0,
    });
    expect(job.backoff).not.toBe(DEFAULT_BACKOFF);
  });

  it('keeps what was given, merges a partial backoff and requirements over the defaults', () => {
    const job = normalizeJobInput(
      cmd({
        name: 'nightly', queue: 'reports', priority: 9, maxRetries: 3, timeoutMs: 5000, idempotencyKey: 'k1',
        backoff: { initialMs: 50 }, requirements: { cpu: 0.5 }, metadata: { team: 'data' },
      }),
      ids,
      T0,
    );
    expect(job).toMatchObject({
      name: 'nightly', queue: 'reports', priority: 9, maxRetries: 3, timeoutMs: 5000, idempotencyKey: 'k1',
      backoff: { ...DEFAULT_BACKOFF, initialMs: 50 }, requirements: { labels: {}, cpu: 0.5, memoryMb: 0 }, metadata: { team: 'data' },
    });
  });

  it('de-duplicates tags, keeping the first occurrence order', () => {
    expect(normalizeJobInput(cmd({ tags: ['b', 'a', 'b', 'c', 'a'] }), ids, T0).tags).toEqual(['b', 'a', 'c']);
  });

  it('runAt in the future is scheduled; now or past is pending', () => {
    const at = (iso: string) => normalizeJobInput(cmd({ runAt: iso }), ids, T0);
    expect(at('2025-01-01T00:00:01Z')).toMatchObject({ status: 'scheduled', runAt: T0 + 1000 });
    expect(at('2025-01-01T00:00:00Z')).toMatchObject({ status: 'pending', runAt: T0 });
    expect(at('2024-12-31T23:00:00Z')).toMatchObject({ status: 'pending', runAt: T0 - 3_600_000 });
    expect(at('2025-01-01T01:00:00+01:00')).toMatchObject({ status: 'pending', runAt: T0 });
  });

  it('delayMs counts from now; 0 is pending', () => {
    expect(normalizeJobInput(cmd({ delayMs: 1500 }), ids, T0)).toMatchObject({ status: 'scheduled', runAt: T0 + 1500 });
    expect(normalizeJobInput(cmd({ delayMs: 0 }), ids, T0)).toMatchObject({ status: 'pending', runAt: T0 });
  });

  it('refuses runAt with delayMs, an impossible date and an inverted backoff, naming the field', () => {
    expect(fieldOf(() => normalizeJobInput(cmd({ runAt: '2025-01-01T00:00:00Z', delayMs: 5 }), ids, T0))).toBe('delayMs');
    expect(fieldOf(() => normalizeJobInput(cmd({ runAt: '2025-13-45T00:00:00Z' }), ids, T0))).toBe('runAt');
    expect(fieldOf(() => normalizeJobInput(cmd({ backoff: { initialMs: 5000, maxMs: 10 } }), ids, T0))).toBe('backoff.maxMs');
  });

  it('prefixes every field with the batch position', () => {
    const at = 'jobs[3]';
    expect(fieldOf(() => normalizeJobInput(cmd({ runAt: '2025-01-01T00:00:00Z', delayMs: 5 }), ids, T0, at))).toBe('jobs[3].delayMs');
    expect(fieldOf(() => normalizeJobInput(cmd({ runAt: 'not a date' }), ids, T0, at))).toBe('jobs[3].runAt');
    expect(fieldOf(() => normalizeJobInput(cmd({ backoff: { initialMs: 9, maxMs: 1 } }), ids, T0, at))).toBe('jobs[3].backoff.maxMs');
    expect(fieldOf(() => normalizeJobInput(cmd({ payload: { argv: [] } }), ids, T0, at))).toBe('jobs[3].payload.argv');
    expect(fieldOf(() => normalizeJobInput({ type: 'http', payload: { url: 'nope' } }, ids, T0, at))).toBe('jobs[3].payload.url');
  });

  it('for any valid input: status follows runAt, tags are unique, defaults fill only the gaps', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            priority: fc.integer({ min: 1, max: 10 }),
            delayMs: fc.integer({ min: 0, max: 10_000 }),
            tags: fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 8 }),
            maxRetries: fc.integer({ min: 0, max: 100 }),
            backoff: fc.record({ initialMs: fc.integer({ min: 0, max: 1000 }), jitter: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [] }),
          },
          { requiredKeys: [] },
        ),
        (extra) => {
          const job = normalizeJobInput(cmd(extra), ids, T0);
          expect(job.status).toBe(readyStatus(job.runAt, T0));
          expect(job.runAt).toBe(T0 + (extra.delayMs ?? 0));
          expect(job.priority).toBe(extra.priority ?? 5);
          expect(job.maxRetries).toBe(extra.maxRetries ?? 0);
          expect(new Set(job.tags).size).toBe(job.tags.length);
          expect(new Set(job.tags)).toEqual(new Set(extra.tags ?? []));
          expect(job.backoff.maxMs).toBeGreaterThanOrEqual(job.backoff.initialMs);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('validatePayload: each rule names its field', () => {
  const refused: [JobType, Record<string, unknown>, string][] = [
    ['command', { argv: ['x'], image: 'alpine' }, 'payload.image'],
    ['command', {}, 'payload.argv'],
    ['command', { argv: ['x'], script: 'echo' }, 'payload.script'],
    ['command', { argv: [] }, 'payload.argv'],
    ['command', { argv: [''] }, 'payload.argv'],
    ['command', { argv: 'ls -l' }, 'payload.argv'],
    ['command', { argv: ['ls', 3] }, 'payload.argv'],
    ['command', { script: '' }, 'payload.script'],
    ['command', { script: 42 }, 'payload.script'],
    ['command', { script: 'echo', shell: '' }, 'payload.shell'],
    ['command', { argv: ['x'], env: { A: 1 } }, 'payload.env'],
    ['command', { argv: ['x'], env: ['A=1'] }, 'payload.env'],
    ['command', { argv: ['x'], cwd: '' }, 'payload.cwd'],
    ['http', { url: 'https://x.test', timeout: 5 }, 'payload.timeout'],
    ['http', {}, 'payload.url'],
    ['http', { url: 'not a url' }, 'payload.url'],
    ['http', { url: '/relative/path' }, 'payload.url'],
    ['http', { url: 'ftp://x.test/file' }, 'payload.url'],
    ['http', { url: 'https://x.test', method: 'get' }, 'payload.method'],
    ['http', { url: 'https://x.test', method: 'TRACE' }, 'payload.method'],
    ['http', { url: 'https://x.test', headers: { 'x-n': 1 } }, 'payload.headers'],
    ['http', { url: 'https://x.test', okStatus: [200, 99] }, 'payload.okStatus'],
    ['http', { url: 'https://x.test', okStatus: [200.5] }, 'payload.okStatus'],
    ['http', { url: 'https://x.test', okStatus: 200 }, 'payload.okStatus'],
    ['function', {}, 'payload.handler'],
    ['function', { handler: '' }, 'payload.handler'],
    ['function', { handler: 'has space' }, 'payload.handler'],
    ['function', { handler: 'x'.repeat(201) }, 'payload.handler'],
    ['function', { handler: 'resize', argv: ['x'] }, 'payload.argv'],
    ['container', {}, 'payload.image'],
    ['container', { image: '' }, 'payload.image'],
    ['container', { image: 'alpine', argv: [1] }, 'payload.argv'],
    ['container', { image: 'alpine', url: 'https://x.test' }, 'payload.url'],
  ];
  for (const [type, payload, field] of refused) {
    it(`${type} ${JSON.stringify(payload).slice(0, 60)} → ${field}`, () => {
      expect(fieldOf(() => validatePayload(type, payload, 'payload'))).toBe(field);
      expect(fieldOf(() => validatePayload(type, payload, 'jobs[3].payload'))).toBe(`jobs[3].${field}`);
    });
  }

  const accepted: [JobType, Record<string, unknown>][] = [
    ['command', { argv: ['ls', '-l', ''] }],
    ['command', { script: 'echo hi | wc -c', shell: '/bin/bash', env: { A: '1' }, cwd: '/tmp' }],
    ['http', { url: 'http://127.0.0.1:8080/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body: { a: 1 }, okStatus: [200, 204] }],
    ['http', { url: 'https://x.test' }],
    ['function', { handler: 'images.resize:v2', args: { w: 10 } }],
    ['container', { image: 'alpine:3', argv: ['true'], env: { A: '1' }, memoryMb: 64, cpus: 0.5, network: 'none' }],
  ];
  for (const [type, payload] of accepted) {
    it(`accepts ${type} ${JSON.stringify(payload).slice(0, 60)}`, () => {
      expect(() => validatePayload(type, payload, 'payload')).not.toThrow();
    });
  }
});

describe('normalizeJobPatch', () => {
  const current = { type: 'command' as const, backoff: { ...DEFAULT_BACKOFF }, requirements: { labels: { gpu: 'yes' }, cpu: 1, memoryMb: 256 } };

  it('returns only the fields given', () => {
    expect(normalizeJobPatch({ priority: 8 }, current, T0)).toEqual({ priority: 8 });
    const all = normalizeJobPatch(
      { name: 'n', queue: 'q', maxRetries: 2, timeoutMs: 10, tags: ['x', 'x', 'y'], metadata: { m: 1 }, payload: { script: 'echo' } },
      current,
      T0,
    );
    expect(all).toEqual({ name: 'n', queue: 'q', maxRetries: 2, timeoutMs: 10, tags: ['x', 'y'], metadata: { m: 1 }, payload: { script: 'echo' } });
  });

  it('merges backoff and requirements over the current ones, keeping labels unless given', () => {
    expect(normalizeJobPatch({ backoff: { factor: 3 } }, current, T0).backoff).toEqual({ ...DEFAULT_BACKOFF, factor: 3 });
    expect(normalizeJobPatch({ requirements: { cpu: 2 } }, current, T0).requirements).toEqual({ labels: { gpu: 'yes' }, cpu: 2, memoryMb: 256 });
    expect(normalizeJobPatch({ requirements: { labels: {} } }, current, T0).requirements).toEqual({ labels: {}, cpu: 1, memoryMb: 256 });
  });

  it('turns runAt and delayMs into a runAt', () => {
    expect(normalizeJobPatch({ runAt: '2025-01-01T00:01:00Z' }, current, T0)).toEqual({ runAt: T0 + 60_000 });
    expect(normalizeJobPatch({ delayMs: 250 }, current, T0)).toEqual({ runAt: T0 + 250 });
  });

  it('refuses bad patches naming the field', () => {
    expect(fieldOf(() => normalizeJobPatch({ runAt: '2025-01-01T00:00:00Z', delayMs: 1 }, current, T0))).toBe('delayMs');
    expect(fieldOf(() => normalizeJobPatch({ runAt: '2025-02-30T25:00:00Z' }, current, T0))).toBe('runAt');
    expect(fieldOf(() => normalizeJobPatch({ backoff: { maxMs: 10 } }, current, T0))).toBe('backoff.maxMs');
    expect(fieldOf(() => normalizeJobPatch({ payload: { url: 'https://x.test' } }, current, T0))).toBe('payload.url');
    expect(fieldOf(() => normalizeJobPatch({ payload: { handler: 'x' } }, { ...current, type: 'http' }, T0))).toBe('payload.handler');
    expect(fieldOf(() => normalizeJobPatch({ payload: { method: 'GET' } }, { ...current, type: 'http' }, T0))).toBe('payload.url');
  });
});

describe('schemas and instants', () => {
  it('the input schema refuses out-of-range and unknown fields', () => {
    expect(Value.Check(JobInput, cmd({ priority: 10 }))).toBe(true);
    expect(Value.Check(JobInput, cmd({ priority: 11 }))).toBe(false);
    expect(Value.Check(JobInput, cmd({ priority: 0 }))).toBe(false);
    expect(Value.Check(JobInput, { ...cmd(), colour: 'red' })).toBe(false);
    expect(Value.Check(JobInput, cmd({ queue: '-leading-dash' }))).toBe(false);
    expect(Value.Check(JobInput, cmd({ tags: ['a', ''] }))).toBe(false);
    expect(Value.Check(JobPatchInput, {})).toBe(false);
    expect(Value.Check(JobPatchInput, { type: 'http' })).toBe(false);
    expect(Value.Check(JobPatchInput, { priority: 3 })).toBe(true);
  });

  it('parseInstant reads ISO 8601 with offsets and refuses nonsense', () => {
    expect(parseInstant('2025-01-01T00:00:00.000Z', 'runAt')).toBe(T0);
    expect(parseInstant('2024-12-31T19:00:00-05:00', 'runAt')).toBe(T0);
    expect(fieldOf(() => parseInstant('yesterday', 'jobs[0].runAt'))).toBe('jobs[0].runAt');
  });
});

describe('mayHoldPlaceholders (the cheap check before the placeholder scan)', () => {
  const text = fc.oneof(fc.string(), fc.constantFrom('{{parents.a.result}}', 'x {{parents.b.status}} y', '{{ .Name }}', '{{parents.a.nope}}', '{', '}}{{'));
  const json = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.constant(null), fc.boolean(), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 5 }), tie('v'), { maxKeys: 4 })),
  })).v;

  it('is false only where the full scan finds nothing and throws nothing', () => {
    fc.assert(
      fc.property(json, (v) => {
        if (mayHoldPlaceholders(v)) return;
        expect(findPlaceholders(v)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('is true for any string with {{, however deep, and for values nested as deep as the scan refuses', () => {
    expect(mayHoldPlaceholders({ a: [{ b: 'run {{ .Name }}' }] })).toBe(true);
    expect(mayHoldPlaceholders({ handler: 'noop', args: { n: 1, s: 'x{', t: ['}}'] } })).toBe(false);
    let deep: unknown = {};
    for (let i = 0; i < MAX_PLACEHOLDER_DEPTH + 1; i++) deep = [deep];
    expect(mayHoldPlaceholders(deep)).toBe(true);
    expect(fieldOf(() => findPlaceholders(deep))).toMatch(/^payload/);
  });

  it('lets normalizeJobInput refuse a malformed parents placeholder and a too-deep payload, naming the field', () => {
    expect(fieldOf(() => normalizeJobInput(cmd({ payload: { argv: ['{{parents.a.nope}}'] } }), ids, T0, 'jobs[2]'))).toBe('jobs[2].payload.argv[0]');
    let deep: unknown = 'x';
    for (let i = 0; i < MAX_PLACEHOLDER_DEPTH + 1; i++) deep = { d: deep };
    expect(fieldOf(() => normalizeJobInput({ type: 'function', payload: { handler: 'h', args: deep } }, ids, T0))).toMatch(/^payload\.args(\.d)+$/);
  });
});
