/**
 * Leader election in the SQLite store: a lease row per duty. With one server per SQLite file
 * it always elects that server, but the same code path (and fencing) runs as on PostgreSQL.
 */
import { BatonError } from '../../core/errors.ts';
import type { Fence, Leadership } from '../types.ts';
import type { Sql } from './db.ts';

interface LeaderRow {
  name: string;
  holder: string;
  term: number;
  expires_at: number;
}

const fromRow = (r: LeaderRow): Leadership => ({ name: r.name, holder: r.holder, term: r.term, expiresAt: r.expires_at });

/** Takes, renews or reads the leadership `name`; see Store.leaderAcquire. */
export function leaderAcquire(sql: Sql, p: { name: string; holder: string; ttlMs: number; now: number }): Leadership {
  return sql.write(() => {
    const row = sql.stmt('SELECT * FROM leaders WHERE name = ?').get(p.name) as LeaderRow | undefined;
    const expiresAt = p.now + p.ttlMs;
    if (row === undefined) {
      sql.stmt('INSERT INTO leaders (name, holder, term, expires_at) VALUES (?, ?, 1, ?)').run(p.name, p.holder, expiresAt);
      return { name: p.name, holder: p.holder, term: 1, expiresAt };
    }
    if (row.holder === p.holder && row.expires_at >= p.now) {
      sql.stmt('UPDATE leaders SET expires_at = ? WHERE name = ?').run(expiresAt, p.name);
      return { ...fromRow(row), expiresAt };
    }
    if (row.expires_at < p.now) {
      // Expired: whoever asks first takes it, in a new term, so the old holder's fenced writes fail.
      sql.stmt('UPDATE leaders SET holder = ?, term = term + 1, expires_at = ? WHERE name = ?').run(p.holder, expiresAt, p.name);
      return { name: p.name, holder: p.holder, term: row.term + 1, expiresAt };
    }
    return fromRow(row);
  });
}

/** Gives up the leadership if `holder` has it (expires it now); see Store.leaderRelease. */
export function leaderRelease(sql: Sql, p: { name: string; holder: string; now: number }): void {
  sql.write(() => {
    sql.stmt('UPDATE leaders SET expires_at = ? WHERE name = ? AND holder = ?').run(p.now - 1, p.name, p.holder);
  });
}

/**
 * Throws BATON_E_NOT_LEADER unless `fence` is the current, unexpired leadership at `now`.
 * Call inside the write transaction of the fenced change.
 */
export function checkFence(sql: Sql, fence: Fence | undefined, now: number): void {
  if (!fence) return;
  const row = sql.stmt('SELECT * FROM leaders WHERE name = ?').get(fence.name) as LeaderRow | undefined;
  if (!row || row.holder !== fence.holder || row.term !== fence.term || row.expires_at < now) {
    throw new BatonError('BATON_E_NOT_LEADER', `${fence.holder} is no longer the ${fence.name} leader of term ${fence.term}; the write was refused`);
  }
}
