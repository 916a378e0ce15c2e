/**
 * Laws of the cron math over random expressions, zones and instants. Expressions are generated
 * with the set of values each field allows, so an oracle written here — reading wall clocks with
 * its own Intl.DateTimeFormat, not the module's — can say which instants must fire, and the DST
 * rules are checked against it exhaustively around every 2026 change.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firesBetween, latestFires, nextFire, nextFires, parseCron, type CompiledCron } from '../../src/core/cron.ts';

const ZONES = ['UTC', 'America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata'];
const CHANGES: Array<[string, number]> = [
  ['America/New_York', Date.parse('2026-03-08T07:00:00Z')],
  ['America/New_York', Date.parse('2026-11-01T06:00:00Z')],
  ['Europe/London', Date.parse('2026-03-29T01:00:00Z')],
  ['Europe/London', Date.parse('2026-10-25T01:00:00Z')],
  ['Australia/Lord_Howe', Date.parse('2026-04-04T15:00:00Z')],
  ['Australia/Lord_Howe', Date.parse('2026-10-03T15:30:00Z')],
];
const MIN = 60_000;

/** One generated field: its text and the values it allows (null: `*`, every value). */
interface Field {
  text: string;
  set: Set<number> | null;
}

const range = (a: number, b: number, step = 1) => Array.from({ length: Math.floor((b - a) / step) + 1 }, (_, i) => a + i * step);

function fieldArb(min: number, max: number, opts: { stars?: boolean } = {}): fc.Arbitrary<Field> {
  const value = fc.integer({ min, max });
  const explicit: fc.Arbitrary<Field>[] = [
    value.map((v) => ({ text: String(v), set: new Set([v]) })),
    fc.uniqueArray(value, { minLength: 2, maxLength: 4 }).map((vs) => ({ text: vs.join(','), set: new Set(vs) })),
    fc.tuple(value, value).map(([a, b]) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      return { text: `${lo}-${hi}`, set: new Set(range(lo, hi)) };
    }),
    fc.tuple(value, value, fc.integer({ min: 1, max: 5 })).map(([a, b, s]) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      return { text: `${lo}-${hi}/${s}`, set: new Set(range(lo, hi, s)) };
    }),
  ];
  const star = fc.constant<Field>({ text: '*', set: null });
  // A stepped star is not "unrestricted" for the day-of-month/weekday OR rule, so those two fields use plain stars.
  const starStep = fc.integer({ min: 1, max: Math.min(15, max - min) }).map((s) => ({ text: `*/${s}`, set: new Set(range(min, max, s)) }));
  return opts.stars === false
    ? fc.oneof({ arbitrary: star, weight: 3 }, ...explicit.map((arbitrary) => ({ arbitrary, weight: 1 })))
    : fc.oneof({ arbitrary: star, weight: 3 }, { arbitrary: starStep, weight: 2 }, ...explicit.map((arbitrary) => ({ arbitrary, weight: 1 })));
}

interface Expr {
  text: string;
  seconds: Field | null;
  minute: Field;
  hour: Field;
  dom: Field;
  month: Field;
  dow: Field;
}

const exprArb = (withSeconds: boolean): fc.Arbitrary<Expr> =>
  fc
    .record({
      seconds: withSeconds ? fieldArb(0, 59) : fc.constant(null),
      minute: fieldArb(0, 59),
      hour: fieldArb(0, 23),
      dom: fieldArb(1, 31, { stars: false }),
      month: fieldArb(1, 12),
      dow: fieldArb(0, 6, { stars: false }),
    })
    .map((e) => ({ ...e, text: [e.seconds?.text, e.minute.text, e.hour.text, e.dom.text, e.month.text, e.dow.text].filter((x) => x !== undefined).join(' ') }));

const star: Field = { text: '*', set: null };
const fixed = (text: string, values: number[]): Field => ({ text, set: new Set(values) });
/**
 * Expressions that hit the changes often: days mostly unrestricted, and hours often naming the
 * hours that DST skips or repeats (01–02), without matching every hour.
 */
const dstExprArb = (withSeconds: boolean): fc.Arbitrary<Expr> =>
  fc
    .record({
      seconds: withSeconds ? fieldArb(0, 59) : fc.constant(null),
      minute: fieldArb(0, 59),
      hour: fc.oneof(
        fieldArb(0, 23),
        fc.constantFrom(fixed('1', [1]), fixed('2', [2]), fixed('0-2', [0, 1, 2]), fixed('1,13', [1, 13]), fixed('1-23/2', range(1, 23, 2)), fixed('0-22/2', range(0, 22, 2))),
      ),
      dom: fc.oneof({ arbitrary: fc.constant(star), weight: 4 }, { arbitrary: fieldArb(1, 31, { stars: false }), weight: 1 }),
      month: fc.oneof({ arbitrary: fc.constant(star), weight: 4 }, { arbitrary: fieldArb(1, 12), weight: 1 }),
      dow: fc.oneof({ arbitrary: fc.constant(star), weight: 4 }, { arbitrary: fieldArb(0, 6, { stars: false }), weight: 1 }),
    })
    .map((e) => ({ ...e, text: [e.seconds?.text, e.minute.text, e.hour.text, e.dom.text, e.month.text, e.dow.text].filter((x) => x !== undefined).join(' ') }));

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Wall-clock fields of `ms` in `tz`, read independently of src/core/cron.ts. */
function wallOf(ms: number, tz: string) {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short' });
    formatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  const n = (k: string) => Number(p[k]);
  const dow = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday);
  return { year: n('year'), month: n('month'), day: n('day'), hour: n('hour'), minute: n('minute'), second: n('second'), dow };
}
const wallKey = (w: ReturnType<typeof wallOf>) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
const has = (f: Field, v: number) => f.set === null || f.set.has(v);

/** The oracle's reading of an expression: does this wall clock match it? */
function matches(e: Expr, w: ReturnType<typeof wallOf>): boolean {
  if (!(has(e.seconds ?? { text: '0', set: new Set([0]) }, w.second) && has(e.minute, w.minute) && has(e.hour, w.hour) && has(e.month, w.month))) return false;
  if (e.dom.set === null && e.dow.set === null) return true;
  if (e.dom.set === null) return has(e.dow, w.dow);
  if (e.dow.set === null) return has(e.dom, w.day);
  return has(e.dom, w.day) || has(e.dow, w.dow);
}

const everyHour = (e: Expr) => e.hour.set === null || e.hour.set.size === 24;

function compile(e: Expr, tz: string): CompiledCron | null {
  try {
    return parseCron(e.text, tz);
  } catch {
    return null; // e.g. 31 February: refused, which cron.test.ts covers
  }
}

/**
 * The fires the rules call for in [lo, hi], instant by instant at `step` resolution:
 * a matching wall clock fires unless it is the second occurrence of a repeated time in a
 * schedule that does not match every hour; the first instant after a gap fires if any
 * wall-clock time skipped by the gap matches.
 */
function oracleFires(e: Expr, tz: string, lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  let prevKey = wallKey(wallOf(lo - step, tz));
  for (let t = lo; t <= hi; t += step) {
    const w = wallOf(t, tz);
    const key = wallKey(w);
    let fire = matches(e, w) && (everyHour(e) || !isSecondOccurrence(t, tz));
    // A jump forward of more than one step is a gap: the skipped wall clocks are (prevKey, key).
    for (let k = prevKey + step; !fire && k < key; k += step) {
      const d = new Date(k);
      const skipped = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), dow: d.getUTCDay() };
      if (matches(e, skipped)) fire = true;
    }
    if (fire) out.push(t);
    prevKey = key;
  }
  return out;
}

/** True when the wall clock of `t` was already shown earlier (a fall-back repeat), found from offsets 3 h apart. */
function isSecondOccurrence(t: number, tz: string): boolean {
  const offset = (x: number) => wallKey(wallOf(x, tz)) - x;
  const o = offset(t);
  const before = offset(t - 3 * 3_600_000);
  if (before <= o) return false;
  return wallKey(wallOf(t - (before - o), tz)) === wallKey(wallOf(t, tz));
}

describe('cron laws', () => {
  const instant = fc.integer({ min: Date.parse('2025-12-01T00:00:00Z'), max: Date.parse('2027-02-01T00:00:00Z') });

  it('the next fire is after from, fires strictly increase, and each matches the expression in its zone (or is a gap end)', () => {
    fc.assert(
      fc.property(fc.boolean().chain(exprArb), fc.constantFrom(...ZONES), instant, (e, tz, from) => {
        const c = compile(e, tz);
        fc.pre(c !== null);
        const got = nextFires(c!, from, 8);
        expect(got.length).toBeGreaterThan(0);
        let prev = from;
        for (const f of got) {
          expect(f).toBeGreaterThan(prev);
          expect(f % 1000).toBe(0);
          const w = wallOf(f, tz);
          if (!matches(e, w)) {
            // The one documented exception: the first instant after a spring-forward gap.
            const before = wallOf(f - 1000, tz);
            expect(wallKey(w) - wallKey(before), `${e.text} ${tz} ${new Date(f).toISOString()}`).toBeGreaterThan(1000);
          }
          prev = f;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('no instant between from and the next fire should have fired (minute level, 6 h windows)', () => {
    fc.assert(
      fc.property(exprArb(false), fc.constantFrom(...ZONES), instant, (e, tz, from0) => {
        const c = compile(e, tz);
        fc.pre(c !== null);
        const from = Math.floor(from0 / MIN) * MIN;
        const next = nextFire(c!, from)!;
        const until = Math.min(next, from + 6 * 3_600_000);
        const expected = oracleFires(e, tz, from + MIN, until, MIN);
        expect(expected.filter((t) => t < next), e.text).toEqual([]);
        if (next <= until) expect(expected, e.text).toContain(next);
      }),
      { numRuns: 150 },
    );
  });

  it('around every 2026 DST change, the fires are exactly those the rules call for (minute level)', () => {
    fc.assert(
      fc.property(dstExprArb(false), fc.constantFrom(...CHANGES), (e, [tz, change]) => {
        const c = compile(e, tz);
        fc.pre(c !== null);
        const lo = change - 3 * 3_600_000;
        const hi = change + 3 * 3_600_000;
        expect(firesBetween(c!, lo - 1, hi, 10_000), e.text).toEqual(oracleFires(e, tz, lo, hi, MIN));
      }),
      { numRuns: 120 },
    );
  });

  it('around every 2026 DST change, the fires are exactly those the rules call for (second level)', () => {
    fc.assert(
      fc.property(dstExprArb(true), fc.constantFrom(...CHANGES), (e, [tz, change]) => {
        const c = compile(e, tz);
        fc.pre(c !== null);
        const lo = change - 4 * MIN;
        const hi = change + 4 * MIN;
        expect(firesBetween(c!, lo - 1, hi, 10_000), e.text).toEqual(oracleFires(e, tz, lo, hi, 1000));
      }),
      { numRuns: 60 },
    );
  });

  it('firesBetween and latestFires agree with nextFires', () => {
    fc.assert(
      fc.property(fc.boolean().chain(exprArb), fc.constantFrom(...ZONES), instant, fc.integer({ min: 1, max: 12 }), (e, tz, from, k) => {
        const c = compile(e, tz);
        fc.pre(c !== null);
        const all = nextFires(c!, from, 12);
        const to = all[all.length - 1];
        expect(firesBetween(c!, from, to, 100)).toEqual(all);
        expect(latestFires(c!, from, to, k)).toEqual(all.slice(-k));
      }),
      { numRuns: 150 },
    );
  });
});
