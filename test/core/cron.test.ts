/**
 * Cron math by example: parsing and its errors, strictness of "after", windows, and the exact
 * instants of every 2026 daylight-saving change in America/New_York, Europe/London and
 * Australia/Lord_Howe (a 30-minute shift).
 */
import { describe, expect, it } from 'vitest';
import {
  CRON_NICKNAMES,
  firesBetween,
  formatInstant,
  latestFires,
  matchesWallClock,
  nextFire,
  nextFires,
  parseCron,
  zoneOffsetMs,
} from '../../src/core/cron.ts';
import { thrown } from './fixtures.ts';

const at = (iso: string) => Date.parse(iso);
const fires = (expr: string, tz: string, from: string, n: number) =>
  nextFires(parseCron(expr, tz), at(from), n).map((ms) => formatInstant(ms, tz));

describe('parseCron', () => {
  it('accepts 5 fields, 6 with seconds, and reads them in UTC by default', () => {
    const five = parseCron('*/15 9-17 * * 1-5');
    expect(five).toMatchObject({ pattern: '*/15 9-17 * * 1-5', timezone: 'UTC', hasSeconds: false, everyHour: false });
    const six = parseCron('  30   */5 * * * *  ', 'Europe/London');
    expect(six).toMatchObject({ expr: '30   */5 * * * *', pattern: '30 */5 * * * *', hasSeconds: true, everyHour: true });
    expect(nextFire(six, at('2026-01-01T00:00:00Z'))).toBe(at('2026-01-01T00:00:30Z'));
  });

  it('expands every nickname', () => {
    expect(Object.keys(CRON_NICKNAMES).sort()).toEqual(['@annually', '@daily', '@hourly', '@midnight', '@monthly', '@weekly', '@yearly']);
    const from = '2026-01-01T00:30:00Z';
    expect(fires('@hourly', 'UTC', from, 1)).toEqual(['2026-01-01T01:00:00+00:00']);
    expect(fires('@daily', 'UTC', from, 1)).toEqual(['2026-01-02T00:00:00+00:00']);
    expect(fires('@midnight', 'UTC', from, 1)).toEqual(['2026-01-02T00:00:00+00:00']);
    expect(fires('@weekly', 'UTC', from, 1)).toEqual(['2026-01-04T00:00:00+00:00']); // a Sunday
    expect(fires('@monthly', 'UTC', from, 1)).toEqual(['2026-02-01T00:00:00+00:00']);
    expect(fires('@yearly', 'UTC', from, 1)).toEqual(['2027-01-01T00:00:00+00:00']);
    expect(fires('@ANNUALLY', 'UTC', from, 1)).toEqual(['2027-01-01T00:00:00+00:00']);
  });

  it('reads a day-of-month and a weekday together as either one (Vixie cron)', () => {
    // 13th of the month or any Friday, January 2026: Fri 2, Fri 9, Tue 13, Fri 16.
    expect(fires('0 0 13 * 5', 'UTC', '2026-01-01T00:00:00Z', 4).map((s) => s.slice(0, 10))).toEqual([
      '2026-01-02',
      '2026-01-09',
      '2026-01-13',
      '2026-01-16',
    ]);
  });

  it('canonicalises the zone name', () => {
    expect(parseCron('* * * * *', 'utc').timezone).toBe('UTC');
    expect(parseCron('* * * * *', 'america/new_york').timezone).toBe('America/New_York');
    // ICU would say Asia/Calcutta; the name the user gave is the current IANA one.
    expect(parseCron('* * * * *', 'Asia/Kolkata').timezone).toBe('Asia/Kolkata');
    expect(parseCron('* * * * *', 'Europe/Kyiv').timezone).toBe('Europe/Kyiv');
  });

  it('refuses bad expressions with field cron', () => {
    for (const bad of ['', '   ', '* * * *', '* * * * * * *', '61 * * * *', '* 24 * * *', 'a b c d e', '*/0 * * * *', '@reboot', '@every 5m', 'x'.repeat(201)]) {
      const r = thrown(() => parseCron(bad, 'UTC'));
      expect(r, bad).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'cron' });
    }
    expect(thrown(() => parseCron('* * * *')).message).toMatch(/4 fields; give 5/);
  });

  it('refuses an expression that can never fire, and keeps one that fires rarely', () => {
    for (const never of ['0 0 30 2 *', '0 0 31 4,6,9,11 *', '0 0 0 31 2 *']) {
      const r = thrown(() => parseCron(never, 'UTC'));
      expect(r, never).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'cron' });
      expect(r.message).toMatch(/can never fire/);
    }
    expect(fires('0 0 29 2 *', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2028-02-29T00:00:00+00:00', '2032-02-29T00:00:00+00:00']);
    // 2100 is not a leap year.
    expect(fires('0 0 29 2 *', 'UTC', '2097-01-01T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00+00:00']);
  });

  it('refuses unknown zones and raw offsets with field timezone', () => {
    for (const bad of ['Mars/Olympus', '', '+05:00', 'America/New York', 'EST5EDT; drop']) {
      expect(thrown(() => parseCron('* * * * *', bad)), bad).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'timezone' });
    }
  });

  it('names the fields as the caller asks', () => {
    expect(thrown(() => parseCron('nope', 'UTC', { cron: 'expr' })).field).toBe('expr');
    expect(thrown(() => parseCron('* * * * *', 'Nope/Zone', { timezone: 'tz' })).field).toBe('tz');
  });
});

describe('nextFire and windows', () => {
  const everyFive = parseCron('*/5 * * * *', 'UTC');

  it('is strictly after from, to the millisecond', () => {
    expect(nextFire(everyFive, at('2026-01-01T00:05:00Z'))).toBe(at('2026-01-01T00:10:00Z'));
    expect(nextFire(everyFive, at('2026-01-01T00:05:00Z') - 1)).toBe(at('2026-01-01T00:05:00Z'));
    expect(nextFire(everyFive, at('2026-01-01T00:04:59.999Z') + 0.5)).toBe(at('2026-01-01T00:05:00Z'));
    expect(nextFire(everyFive, at('2026-01-01T00:05:00.001Z'))).toBe(at('2026-01-01T00:10:00Z'));
  });

  it('firesBetween is (from, to], oldest first, at most max', () => {
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2026-01-01T00:20:00Z');
    expect(firesBetween(everyFive, from, to, 100)).toEqual([5, 10, 15, 20].map((m) => from + m * 60_000));
    expect(firesBetween(everyFive, from, to, 2)).toEqual([5, 10].map((m) => from + m * 60_000));
    expect(firesBetween(everyFive, from, from, 10)).toEqual([]);
    expect(firesBetween(everyFive, to, from, 10)).toEqual([]);
  });

  it('latestFires gives the newest ones, oldest first, and never reaches before from', () => {
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2026-01-11T00:00:00Z');
    expect(latestFires(everyFive, from, to, 3)).toEqual([to - 10 * 60_000, to - 5 * 60_000, to]);
    expect(latestFires(everyFive, from, from + 12 * 60_000, 10)).toEqual([from + 5 * 60_000, from + 10 * 60_000]);
    expect(latestFires(everyFive, from, to, 0)).toEqual([]);
    // Ten days of every-second fires: the newest 100 without walking all 864,000.
    const everySecond = parseCron('* * * * * *', 'UTC');
    const newest = latestFires(everySecond, from, to, 100);
    expect(newest).toHaveLength(100);
    expect(newest[0]).toBe(to - 99_000);
    expect(newest[99]).toBe(to);
  });

  it('matchesWallClock reads the wall clock of the zone', () => {
    const c = parseCron('30 9 * * *', 'Asia/Kolkata');
    expect(matchesWallClock(c, at('2026-05-01T04:00:00Z'))).toBe(true); // 09:30 IST
    expect(matchesWallClock(c, at('2026-05-01T09:30:00Z'))).toBe(false);
  });
});

describe('daylight saving, 2026', () => {
  describe('America/New_York (EST -05:00 / EDT -04:00)', () => {
    const tz = 'America/New_York';
    it('a skipped time fires once, at the end of the gap (03:00 EDT)', () => {
      expect(fires('30 2 * * *', tz, '2026-03-07T12:00:00Z', 3)).toEqual([
        '2026-03-08T03:00:00-04:00',
        '2026-03-09T02:30:00-04:00',
        '2026-03-10T02:30:00-04:00',
      ]);
      // Several skipped times, and a time named at the gap's end, collapse into one fire.
      expect(fires('0,30 2,3 * * *', tz, '2026-03-08T00:00:00-05:00', 3)).toEqual([
        '2026-03-08T03:00:00-04:00',
        '2026-03-08T03:30:00-04:00',
        '2026-03-09T02:00:00-04:00',
      ]);
      expect(fires('30 * * * *', tz, '2026-03-08T01:00:00-05:00', 3)).toEqual([
        '2026-03-08T01:30:00-05:00',
        '2026-03-08T03:00:00-04:00',
        '2026-03-08T03:30:00-04:00',
      ]);
    });

    it('a repeated time fires once, on its first occurrence (01:30 EDT)', () => {
      expect(fires('30 1 * * *', tz, '2026-10-31T12:00:00Z', 2)).toEqual(['2026-11-01T01:30:00-04:00', '2026-11-02T01:30:00-05:00']);
      // Searching from inside the repeated hour, before or after 01:30 the second time round.
      expect(fires('30 1 * * *', tz, '2026-11-01T01:10:00-05:00', 1)).toEqual(['2026-11-02T01:30:00-05:00']);
      expect(fires('30 1 * * *', tz, '2026-11-01T01:45:00-04:00', 1)).toEqual(['2026-11-02T01:30:00-05:00']);
      expect(fires('*/20 1 * * *', tz, '2026-11-01T00:50:00-04:00', 4)).toEqual([
        '2026-11-01T01:00:00-04:00',
        '2026-11-01T01:20:00-04:00',
        '2026-11-01T01:40:00-04:00',
        '2026-11-02T01:00:00-05:00',
      ]);
    });

    it('an every-hour schedule fires on both occurrences of the repeated hour', () => {
      expect(fires('0 * * * *', tz, '2026-11-01T00:30:00-04:00', 3)).toEqual([
        '2026-11-01T01:00:00-04:00',
        '2026-11-01T01:00:00-05:00',
        '2026-11-01T02:00:00-05:00',
      ]);
    });
  });

  describe('Europe/London (GMT +00:00 / BST +01:00)', () => {
    const tz = 'Europe/London';
    it('a skipped time fires once, at the end of the gap (02:00 BST)', () => {
      expect(fires('30 1 * * *', tz, '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T02:00:00+01:00', '2026-03-30T01:30:00+01:00']);
      expect(fires('0 1 * * *', tz, '2026-03-28T12:00:00Z', 1)).toEqual(['2026-03-29T02:00:00+01:00']);
    });
    it('a repeated time fires once, on its first occurrence (01:30 BST)', () => {
      expect(fires('30 1 * * *', tz, '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T01:30:00+01:00', '2026-10-26T01:30:00+00:00']);
    });
  });

  describe('Australia/Lord_Howe (LHST +10:30 / LHDT +11:00, a 30-minute shift)', () => {
    const tz = 'Australia/Lord_Howe';
    it('a skipped time fires once, at the end of the gap (02:30 LHDT)', () => {
      expect(fires('15 2 * * *', tz, '2026-10-03T12:00:00Z', 2)).toEqual(['2026-10-04T02:30:00+11:00', '2026-10-05T02:15:00+11:00']);
      expect(fires('0 * * * *', tz, '2026-10-04T00:30:00+10:30', 3)).toEqual([
        '2026-10-04T01:00:00+10:30',
        '2026-10-04T02:30:00+11:00',
        '2026-10-04T03:00:00+11:00',
      ]);
    });
    it('a repeated time fires once, on its first occurrence (01:45 LHDT)', () => {
      expect(fires('45 1 * * *', tz, '2026-04-04T12:00:00Z', 2)).toEqual(['2026-04-05T01:45:00+11:00', '2026-04-06T01:45:00+10:30']);
      // 01:15 is not repeated (only 01:30–01:59 is), so it fires once as on any day.
      expect(fires('15 1 * * *', tz, '2026-04-04T12:00:00Z', 1)).toEqual(['2026-04-05T01:15:00+11:00']);
    });
    it('an every-hour schedule fires on both occurrences of the repeated half hour', () => {
      expect(fires('45 * * * *', tz, '2026-04-05T01:00:00+11:00', 3)).toEqual([
        '2026-04-05T01:45:00+11:00',
        '2026-04-05T01:45:00+10:30',
        '2026-04-05T02:45:00+10:30',
      ]);
    });
  });

  // Each 2026 change, as the instant it happens.
  const changes: Array<[string, string]> = [
    ['America/New_York', '2026-03-08T07:00:00Z'],
    ['America/New_York', '2026-11-01T06:00:00Z'],
    ['Europe/London', '2026-03-29T01:00:00Z'],
    ['Europe/London', '2026-10-25T01:00:00Z'],
    ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'],
    ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
  ];

  it.each(changes)('%s %s: the offset really changes there', (tz, iso) => {
    expect(zoneOffsetMs(tz, at(iso) - 1)).not.toBe(zoneOffsetMs(tz, at(iso)));
  });

  it.each(changes)('%s %s: * * * * * fires every minute straight through', (tz, iso) => {
    const from = at(iso) - 2 * 3_600_000;
    const got = nextFires(parseCron('* * * * *', tz), from, 240);
    expect(got).toEqual(Array.from({ length: 240 }, (_, i) => from + (i + 1) * 60_000));
  });

  it.each(changes)('%s %s: */1 * * * * * fires every second straight through', (tz, iso) => {
    const from = at(iso) - 300_000;
    const got = nextFires(parseCron('*/1 * * * * *', tz), from, 600);
    expect(got).toEqual(Array.from({ length: 600 }, (_, i) => from + (i + 1) * 1000));
  });
});

describe('formatInstant', () => {
  it('writes the offset of the zone at that instant', () => {
    expect(formatInstant(at('2026-03-08T07:00:00Z'), 'America/New_York')).toBe('2026-03-08T03:00:00-04:00');
    expect(formatInstant(at('2026-03-08T06:59:59Z'), 'America/New_York')).toBe('2026-03-08T01:59:59-05:00');
    expect(formatInstant(at('2026-10-03T15:30:00Z'), 'Australia/Lord_Howe')).toBe('2026-10-04T02:30:00+11:00');
    expect(formatInstant(at('2026-06-01T12:00:00Z'), 'UTC')).toBe('2026-06-01T12:00:00+00:00');
    expect(formatInstant(at('2026-06-01T12:00:00.250Z'), 'Asia/Kolkata')).toBe('2026-06-01T17:30:00.250+05:30');
  });

  it('round-trips through Date.parse', () => {
    for (const tz of ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Kiritimati']) {
      const ms = at('2026-10-04T01:23:45Z');
      expect(Date.parse(formatInstant(ms, tz)), tz).toBe(ms);
    }
  });
});
