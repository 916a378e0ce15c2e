/**
 * Cron math: when a schedule fires. Pure — every function takes the instant it reasons about.
 *
 * croner parses and matches the expression, but only on a DST-free "wall-clock timeline" (croner
 * runs at UTC offset 0 on wall-clock milliseconds). Mapping wall-clock fires to real instants in
 * the schedule's IANA zone is done here, so that Baton's daylight-saving rules hold exactly:
 *
 * 1. **Gap (spring forward).** A wall-clock time the expression names that a zone skips fires
 *    once, at the first instant after the gap (02:30 America/New_York on 2026-03-08 fires at
 *    03:00 EDT). Several skipped times collapse into that one fire, and so does a fire named at
 *    the gap's end, so nothing fires twice and no named time is lost.
 * 2. **Repeat (fall back).** A wall-clock time that occurs twice fires once, on its first
 *    occurrence (01:30 America/New_York on 2026-11-01 fires at 01:30 EDT, not again at 01:30 EST).
 * 3. **Every-hour schedules follow elapsed time.** When the hour field matches all 24 hours (`*`,
 *    `?`, `0-23`, a step of 1) — e.g. `* * * * *`, `0 * * * *`, the every-second `*\/1 * * * * *`
 *    — the repeated hour is just more hours of the schedule: it fires on both occurrences, so an
 *    every-minute schedule fires every minute straight through both changes (no gap, no
 *    duplicate). In a gap such a schedule loses nothing either: its skipped fires collapse into
 *    the one at the gap's end (rule 1).
 *
 * croner's own zone handling (its "fixed-time" vs "interval" jobs) differs from rule 1 for
 * expressions such as `30 * * * *` or `30 2,14 * * *`, whose skipped time it drops, which is why
 * it is only used for the zone-free part. Fires are whole seconds.
 */
import { Cron, CronPattern } from 'croner';
import { invalid } from './errors.ts';

/** Nicknames accepted in place of an expression, and what they stand for. */
export const CRON_NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Longest cron expression accepted, in characters. */
export const MAX_CRON_LENGTH = 200;

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Zone transitions are looked for at most this far apart; tzdata has none closer than weeks. */
const PROBE_MS = DAY;
/** Each step of the fire search crosses one zone transition; 2,000 is centuries of them. */
const MAX_SEARCH_STEPS = 2000;

/** A parsed, validated cron expression bound to its time zone. Build it with {@link parseCron}. */
export interface CompiledCron {
  /** The expression as given (trimmed). */
  readonly expr: string;
  /** The 5- or 6-field form matched (nicknames expanded). */
  readonly pattern: string;
  /** IANA name of the zone the expression is read in (e.g. `America/New_York`), see {@link canonicalTimezone}. */
  readonly timezone: string;
  /** True for a 6-field expression (the first field is seconds). */
  readonly hasSeconds: boolean;
  /** True when the hour field matches all 24 hours: such a schedule fires on both occurrences of a repeated hour (rule 3). */
  readonly everyHour: boolean;
  /** croner at offset 0, matching on the wall-clock timeline. Internal to this module. */
  readonly wall: Cron;
}

/** Field names used in validation errors; the API may name them after its own inputs. */
export interface CronFieldNames {
  /** Default `cron`. */
  cron?: string;
  /** Default `timezone`. */
  timezone?: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter giving the wall-clock fields of an instant in `timezone` (cached: building one is slow). */
function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/**
 * `timezone` as an IANA name the runtime knows, with its usual capitalisation (`utc` → `UTC`,
 * `america/new_york` → `America/New_York`), or null when it is unknown. A link keeps the name
 * given: ICU would turn `Asia/Kolkata` into the older `Asia/Calcutta`. Offsets such as `+05:00`
 * are refused: a fixed offset has no daylight saving and is spelt `Etc/GMT-5`.
 */
export function canonicalTimezone(timezone: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(timezone)) return null;
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
    return resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
  } catch {
    return null;
  }
}

/** Offset of `timezone` from UTC at instant `t`, in ms (New York in winter: -18,000,000). */
export function zoneOffsetMs(timezone: string, t: number): number {
  const parts = formatterFor(timezone).formatToParts(t);
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const era = parts.find((p) => p.type === 'era')?.value;
  const year = era === 'BC' || era === 'B' ? 1 - get('year') : get('year');
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.
  const d = new Date(0);
  d.setUTCFullYear(year, get('month') - 1, get('day'));
  d.setUTCHours(get('hour'), get('minute'), get('second'), 0);
  return d.getTime() - (t - mod(t, SECOND));
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** The first instant in (`from`, `to`] where the zone's offset differs from its offset at `from`, or null. */
function nextTransition(timezone: string, from: number, to: number): number | null {
  const o = zoneOffsetMs(timezone, from);
  let lo = from;
  while (lo < to) {
    const hi = Math.min(lo + PROBE_MS, to);
    if (zoneOffsetMs(timezone, hi) !== o) {
      // Invariant: offset(lo) === o, offset(hi) !== o; narrow to the millisecond.
      let a = lo;
      let b = hi;
      while (b - a > 1) {
        const m = Math.floor((a + b) / 2);
        if (zoneOffsetMs(timezone, m) === o) a = m;
        else b = m;
      }
      return b;
    }
    lo = hi;
  }
  return null;
}

/**
 * Parses and checks a cron expression and a time zone. Accepts 5 fields (minute hour day month
 * weekday), 6 with seconds first, and the nicknames in {@link CRON_NICKNAMES}; day-of-month and
 * weekday combine with OR when both are restricted, as in Vixie cron.
 *
 * @throws BatonError BATON_E_VALIDATION with field `cron` for a bad expression or one that can
 *   never fire (e.g. `0 0 30 2 *`), field `timezone` for an unknown IANA zone.
 */
export function parseCron(expr: string, timezone = 'UTC', fields: CronFieldNames = {}): CompiledCron {
  const cronField = fields.cron ?? 'cron';
  const tzField = fields.timezone ?? 'timezone';
  const trimmed = typeof expr === 'string' ? expr.trim() : '';
  if (trimmed === '') throw invalid(cronField, 'must be a cron expression, e.g. "*/5 * * * *"');
  if (trimmed.length > MAX_CRON_LENGTH) throw invalid(cronField, `must be at most ${MAX_CRON_LENGTH} characters`);
  const zone = typeof timezone === 'string' ? canonicalTimezone(timezone) : null;
  if (zone === null) throw invalid(tzField, `unknown time zone ${JSON.stringify(timezone)}; use an IANA name such as "UTC" or "Europe/London"`);
  let pattern = trimmed;
  if (trimmed.startsWith('@')) {
    const expanded = CRON_NICKNAMES[trimmed.toLowerCase()];
    if (expanded === undefined) throw invalid(cronField, `unknown nickname ${trimmed}; use one of ${Object.keys(CRON_NICKNAMES).join(' ')}`);
    pattern = expanded;
  }
  const parts = pattern.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw invalid(cronField, `has ${parts.length} fields; give 5 (minute hour day month weekday) or 6 (second first)`);
  }
  pattern = parts.join(' ');
  let wall: Cron;
  let parsed: CronPattern;
  try {
    parsed = new CronPattern(pattern, undefined, { mode: '5-or-6-parts' });
    wall = new Cron(pattern, { utcOffset: 0, mode: '5-or-6-parts' });
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).replace(/^CronPattern:\s*/, '');
    throw invalid(cronField, `is not a valid cron expression: ${reason}`);
  }
  const compiled: CompiledCron = {
    expr: trimmed,
    pattern,
    timezone: zone,
    hasSeconds: parts.length === 6,
    everyHour: parsed.hour.length === 24 && parsed.hour.every((h) => h === 1),
    wall,
  };
  // With years wildcarded, an expression that fires at all fires within 8 years (29 Feb skips
  // 2100), so croner finding nothing from 2000 on means never.
  if (wallAtOrAfter(compiled, Date.UTC(2000, 0, 1)) === null) {
    throw invalid(cronField, `"${trimmed}" can never fire (no date matches it, e.g. 30 February)`);
  }
  return compiled;
}

/** The first wall-clock fire at or after wall-clock time `w` (ms on the zone-free timeline), or null. */
function wallAtOrAfter(c: CompiledCron, w: number): number | null {
  // croner's nextRun is strictly after its argument, to the whole second.
  const next = c.wall.nextRun(new Date(w - 1));
  return next === null ? null : next.getTime();
}

/**
 * For an expression that does not match every hour: the wall-clock time before which wall-clock
 * fires are second occurrences of a repeated time when the search starts at `t`, or -Infinity.
 */
function repeatEndWall(c: CompiledCron, t: number): number {
  if (c.everyHour) return -Infinity;
  const o = zoneOffsetMs(c.timezone, t);
  if (zoneOffsetMs(c.timezone, t - DAY) === o) return -Infinity;
  const b = nextTransition(c.timezone, t - DAY, t);
  if (b === null) return -Infinity;
  const before = zoneOffsetMs(c.timezone, b - 1);
  return before > o ? b + before : -Infinity;
}

/** The first fire at or after instant `t`, or null. The heart of the DST rules in the module doc. */
function fireAtOrAfter(c: CompiledCron, start: number): number | null {
  let t = start;
  let repeatEnd = repeatEndWall(c, t);
  for (let step = 0; step < MAX_SEARCH_STEPS; step++) {
    const o = zoneOffsetMs(c.timezone, t);
    const w = wallAtOrAfter(c, Math.max(t + o, repeatEnd));
    if (w === null) return null;
    const inst = w - o;
    // Offsets hold still between transitions, so the wall fire maps straight to an instant
    // unless a transition comes first.
    const b = nextTransition(c.timezone, t, inst);
    if (b === null) return inst;
    const after = zoneOffsetMs(c.timezone, b);
    // inst >= b means w >= b + o: w is in the gap [b + o, b + after) or beyond it.
    if (after > o && w < b + after) return b;
    // Fall back: walls in [b + after, b + o) come again; rule 2 keeps only their first time.
    repeatEnd = after < o && !c.everyHour ? b + o : -Infinity;
    t = b;
  }
  return null;
}

/**
 * The first fire strictly after `fromMs` (epoch ms), or null when there is none (croner looks
 * a few centuries ahead). Follows the DST rules in the module doc.
 */
export function nextFire(c: CompiledCron, fromMs: number): number | null {
  return fireAtOrAfter(c, Math.floor(fromMs) + 1);
}

/** The next `count` fires strictly after `fromMs`, oldest first (fewer when the schedule ends). */
export function nextFires(c: CompiledCron, fromMs: number, count: number): number[] {
  const out: number[] = [];
  let t = fromMs;
  while (out.length < count) {
    const n = nextFire(c, t);
    if (n === null) break;
    out.push(n);
    t = n;
  }
  return out;
}

/**
 * The fires in (`fromMs`, `toMs`] — after `fromMs`, at or before `toMs` — oldest first, at most
 * `max` of them (the oldest `max`). Use {@link latestFires} for the newest ones.
 */
export function firesBetween(c: CompiledCron, fromMs: number, toMs: number, max: number): number[] {
  const out: number[] = [];
  let t = fromMs;
  while (out.length < max) {
    const n = nextFire(c, t);
    if (n === null || n > toMs) break;
    out.push(n);
    t = n;
  }
  return out;
}

/**
 * The newest `count` fires in (`fromMs`, `toMs`], oldest first. Catch-up uses it after long
 * downtime: the window is searched backwards from `toMs` in doubling spans, so the work depends
 * on `count`, not on how many fires the window holds.
 */
export function latestFires(c: CompiledCron, fromMs: number, toMs: number, count: number): number[] {
  if (count <= 0 || toMs <= fromMs) return [];
  for (let span = SECOND; ; span *= 2) {
    const lo = Math.max(fromMs, toMs - span);
    const found: number[] = [];
    // Only the newest `count` of this span are kept, in a ring, so memory stays at `count`.
    let t = lo;
    let n = nextFire(c, t);
    while (n !== null && n <= toMs) {
      found.push(n);
      if (found.length > count) found.shift();
      t = n;
      n = nextFire(c, t);
    }
    if (found.length >= count || lo === fromMs) return found;
  }
}

/** True when instant `ms` matches the expression's wall-clock fields in its zone (no DST rules applied). */
export function matchesWallClock(c: CompiledCron, ms: number): boolean {
  const w = Math.floor(ms / SECOND) * SECOND + zoneOffsetMs(c.timezone, ms);
  return wallAtOrAfter(c, w) === w;
}

/**
 * `ms` as ISO 8601 with the offset `timezone` has at that instant, e.g.
 * `2026-03-08T03:00:00-04:00`; milliseconds appear only when not zero. A historic offset with
 * seconds (local mean time) cannot be written as ±HH:MM, so such an instant is given in UTC (`Z`).
 */
export function formatInstant(ms: number, timezone: string): string {
  const o = zoneOffsetMs(timezone, ms);
  const strip = (iso: string) => (ms % SECOND === 0 ? iso.replace(/\.000Z$/, 'Z') : iso);
  if (o % 60_000 !== 0) return strip(new Date(ms).toISOString());
  const sign = o < 0 ? '-' : '+';
  const abs = Math.abs(o);
  const hh = String(Math.floor(abs / HOUR)).padStart(2, '0');
  const mm = String(Math.floor((abs % HOUR) / 60_000)).padStart(2, '0');
  return strip(new Date(ms + o).toISOString()).replace(/Z$/, `${sign}${hh}:${mm}`);
}
