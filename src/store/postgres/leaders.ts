/**
 * Leader election in the PostgreSQL store: a lease row per duty, taken or renewed by one atomic
 * upsert, so many servers asking at once elect exactly one. Fenced writes lock the row FOR SHARE,
 * so a takeover waits until a write of the old term has committed (or been refused).
 */
import { BatonError } from '../../core/errors.ts';
import type { Fence, Leadership } from '../types.ts';
import type { Db } from './db.ts';

const fromRow = (r: Record<string, unknown>): Leadership => ({
  name: r.name as string,
  holder: r.holder as string,
  term: r.term as number,
  expiresAt: r.expires_at as number,
});

/** Takes, renews or reads the leadership `name`; see Store.leaderAcquire. */
export async function leaderAcquire(sql: Db, p: { name: string; holder: string; ttlMs: number; now: number }): Promise<Leadership> {
  const expiresAt = p.now + p.ttlMs;
  // Concurrent askers queue on the row: the first one inserts or takes over, the others then see
  // a live leadership of someone else, update nothing, and read it below.
  const [won] = await sql`INSERT INTO leaders AS l (name, holder, term, expires_at) VALUES (${p.name}, ${p.holder}, 1, ${expiresAt}::int8)
    ON CONFLICT (name) DO UPDATE SET
      holder = excluded.holder,
      term = CASE WHEN l.holder = excluded.holder AND l.expires_at >= ${p.now}::int8 THEN l.term ELSE l.term + 1 END,
      expires_at = excluded.expires_at
    WHERE (l.holder = excluded.holder AND l.expires_at >= ${p.now}::int8) OR l.expires_at < ${p.now}::int8
    RETURNING *`;
  if (won !== undefined) return fromRow(won);
  const [row] = await sql`SELECT * FROM leaders WHERE name = ${p.name}`;
  return fromRow(row);
}

/** Gives up the leadership if `holder` has it (expires it now); see Store.leaderRelease. */
export async function leaderRelease(sql: Db, p: { name: string; holder: string; now: number }): Promise<void> {
  await sql`UPDATE leaders SET expires_at = ${p.now - 1}::int8 WHERE name = ${p.name} AND holder = ${p.holder}`;
}

/**
 * Throws BATON_E_NOT_LEADER unless `fence` is the current, unexpired leadership at `now`.
 * Call first inside the transaction of the fenced change.
 */
export async function checkFence(tx: Db, fence: Fence | undefined, now: number): Promise<void> {
  if (!fence) return;
  const [row] = await tx`SELECT holder, term, expires_at FROM leaders WHERE name = ${fence.name} FOR SHARE`;
  if (!row || row.holder !== fence.holder || row.term !== fence.term || row.expires_at < now) {
    throw new BatonError('BATON_E_NOT_LEADER', `${fence.holder} is no longer the ${fence.name} leader of term ${fence.term}; the write was refused`);
  }
}
