/**
 * Benchmark: lateness of cron fires. Starts a real Baton server (in this process, on a fresh
 * SQLite file or PostgreSQL schema), creates N schedules that all fire every minute on the same
 * instant (`* * * * *`, the worst case: every schedule is due on one tick), lets them fire for
 * M minutes, and reports how late each fire was made: the tick that wrote the fire's run (and
 * its job) minus the fire's nominal instant, p50/p99/max in ms.
 *
 *   npx tsx scripts/bench-cron.ts [--schedules 1000] [--minutes 2] [--store sqlite|postgres] [--pg-url URL]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { pino } from 'pino';
import { BatonClient } from '../src/client/index.ts';
import { startServer } from '../src/server/app.ts';
import { percentiles } from '../src/bench/stats.ts';

const { values } = parseArgs({
  options: {
    schedules: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '2' },
    store: { type: 'string', default: 'sqlite' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const N = Number(values.schedules);
const MINUTES = Number(values.minutes);
const kind = values.store === 'postgres' ? 'postgres' : 'sqlite';

const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-cron-'));
const schema = `baton_bench_cron_${process.pid}`;
const store = kind === 'postgres' ? `${values['pg-url']}?schema=${schema}` : `sqlite:${path.join(dir, 'baton.db')}`;
const server = await startServer({ port: 0, dataDir: dir, store, logger: pino({ level: 'warn' }) });
try {
  const client = new BatonClient({ url: server.url, token: server.adminToken! });
  const job = { type: 'command' as const, payload: { argv: ['true'] } };
  for (let i = 0; i < N; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => client.createSchedule({ name: `bench-${i + k}`, cron: '* * * * *', catchUp: 'none', job })));
  }
  // Measure only whole minutes after the schedules exist.
  const firstFire = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
  const lastFire = firstFire + (MINUTES - 1) * 60_000;
  process.stderr.write(`${N} schedules on ${kind}; measuring fires ${new Date(firstFire).toISOString()} .. ${new Date(lastFire).toISOString()}\n`);
  await new Promise((r) => setTimeout(r, lastFire - Date.now() + 15_000));
  const lateness: number[] = [];
  const all = await client.listSchedules();
  for (const s of all) {
    const { runs } = await client.scheduleRuns(s.id, { limit: 1000 });
    for (const r of runs) {
      const fire = Date.parse(r.fireAt);
      if (fire >= firstFire && fire <= lastFire) lateness.push(Date.parse(r.createdAt) - fire);
    }
  }
  const p = percentiles(lateness);
  const expected = N * MINUTES;
  process.stdout.write(
    `${JSON.stringify({ store: kind, schedules: N, minutes: MINUTES, fires: lateness.length, expected, latenessMs: p }, null, 2)}\n`,
  );
  if (lateness.length !== expected) process.exitCode = 1;
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  if (kind === 'postgres') {
    const sql = postgres(values['pg-url']!, { max: 1, onnotice: () => undefined });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  }
}
