/**
 * Job ids: UUIDv7 strings whose first 48 bits are the clock, strictly increasing within one
 * generator even when many are made in one millisecond or the clock steps back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uuidv7Source } from '../../src/server/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The millisecond clock written in an id's first 48 bits. */
function msOf(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

describe('uuidv7Source', () => {
  it('makes RFC 9562 version 7 ids carrying the clock', () => {
    const at = Date.UTC(2026, 10, 27, 8, 0, 0, 123);
    const newId = uuidv7Source(() => at);
    for (let i = 0; i < 2000; i++) {
      const id = newId();
      expect(id).toMatch(UUID_V7);
      expect(msOf(id)).toBe(at);
    }
  });

  it('stays strictly increasing across pool refills, equal and backward clock readings', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 600 }), (steps) => {
        let now = 1_790_000_000_000;
        let i = 0;
        const newId = uuidv7Source(() => (now += steps[i++ % steps.length]));
        let prev = '';
        for (let k = 0; k < 1500; k++) {
          const id = newId();
          expect(id > prev).toBe(true);
          prev = id;
        }
      }),
      { numRuns: 30 },
    );
  });

  it('gives the random tail fresh bytes, so two generators do not collide', () => {
    const a = uuidv7Source(() => 0);
    const b = uuidv7Source(() => 0);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(a()).add(b());
    expect(seen.size).toBe(10_000);
  });
});
