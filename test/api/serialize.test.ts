/**
 * Times in views: `iso` remembers the instant it formatted last (a batch's jobs share their
 * instants), and must still answer every instant right, in any order of repeats. Large answers
 * built in slices (`jsonOfList`) must be the very bytes JSON.stringify gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iso, isoOrNull, jsonOfList } from '../../src/server/api/serialize.ts';

describe('iso', () => {
  it('equals Date#toISOString for any sequence of instants, repeated or not', () => {
    const instant = fc.integer({ min: -8.64e15, max: 8.64e15 });
    fc.assert(
      fc.property(fc.array(fc.oneof(instant, fc.constantFrom(0, 1_790_000_000_000)), { maxLength: 50 }), (ms) => {
        for (const m of ms) expect(iso(m)).toBe(new Date(m).toISOString());
      }),
    );
  });

  it('still refuses an instant that is no date, even right after a good one', () => {
    expect(iso(5)).toBe('1970-01-01T00:00:00.005Z');
    expect(() => iso(Number.NaN)).toThrow(RangeError);
    expect(isoOrNull(null)).toBeNull();
  });
});

describe('jsonOfList', () => {
  it('gives the bytes of JSON.stringify for any items and trailing fields', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { maxLength: 260 }),
        // Keys that are array indices would come first in a plain object; the answers have none.
        fc.dictionary(fc.string().filter((k) => !/^(0|[1-9][0-9]*)$/.test(k)), fc.oneof(fc.jsonValue(), fc.constant(undefined))),
        (items, rest) => {
          const key = 'jobs';
          const expected = Buffer.from(JSON.stringify({ [key]: items, ...Object.fromEntries(Object.entries(rest).filter(([k]) => k !== key)) }));
          expect(jsonOfList(key, items, Object.fromEntries(Object.entries(rest).filter(([k]) => k !== key))).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps slice edges and text outside ASCII exact', () => {
    for (const n of [0, 1, 99, 100, 101, 200, 201, 1000]) {
      const items = Array.from({ length: n }, (_, i) => ({ i, s: i % 3 ? 'µ — ✓ 🚀' : null, nested: [i, { a: undefined, b: [] }] }));
      const got = jsonOfList('jobs', items, { existed: items.map(() => false), nextCursor: null, skipped: undefined });
      expect(got.toString('utf8')).toBe(JSON.stringify({ jobs: items, existed: items.map(() => false), nextCursor: null }));
    }
  });
});
