/**
 * Times in views: `iso` remembers the instant it formatted last (a batch's jobs share their
 * instants), and must still answer every instant right, in any order of repeats.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iso, isoOrNull } from '../../src/server/api/serialize.ts';

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
