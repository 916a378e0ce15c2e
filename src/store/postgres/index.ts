/**
 * Baton's shared store: one PostgreSQL database (one schema) used by many servers at once. Claims
 * use FOR UPDATE SKIP LOCKED, so servers never wait on each other's rows; changes that create or
 * free work send NOTIFY on `<schema>_wake` (so `baton_wake` for the default schema), which other
 * servers receive through `listen`. Jobs returned by the hot paths (list, ready, assign, reports,
 * reap) carry `attempts: []`; only jobGet and jobApply load the attempts.
 */
import { randomUUID } from 'node:crypto';
import type { Report } from '../../core/protocol.ts';
import type { NewJob } from '../../core/spec.ts';
import type { JobEvent } from '../../core/transition.ts';
import type { AuditEntry, AuditInput, Job, JobType, LogEntry, QueueStats, Tenant, TokenRecord, WorkerInfo, WorkerStatus } from '../../core/types.ts';
import type { AssignmentInput, Fence, InsertResult, JobListFilter, Leadership, Page, ReportOutcome, Store, StoreCapabilities } from '../types.ts';
import type { ParentRecord } from '../../core/placeholders.ts';
import type { BulkResult, GraphNodeRecord, JobInsertOptions, TemplateRecord } from '../types.ts';
import * as admin from './admin.ts';
import * as bulk from './bulk.ts';
import * as graph from './graph.ts';
import * as templates from './templates.ts';
import { applyMigrations, connect, mapError, parseTarget, type Pool } from './db.ts';
import * as jobs from './jobs.ts';
import * as leaders from './leaders.ts';
import * as reports from './reports.ts';
import * as limits from './limits.ts';
import * as ready from './ready.ts';
import * as schedules from './schedules.ts';
import type { FairnessSettings, FireResult, ReadyHead, ScheduleRecord, ScheduleRun } from '../types.ts';
import type { Ctx } from './write.ts';

/** Options of openPostgresStore. */
export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db`; a `?schema=` parameter names the schema. */
  url: string;
  /** Schema holding Baton's tables, created if missing. Default: the URL's `schema`, else `baton`. */
  schema?: string;
  /** Connections in the pool. Default 10. LISTEN uses one more, opened on first use. */
  max?: number;
  /** Apply pending migrations on open. Default true. */
  migrate?: boolean;
}

type LeaseRef = { jobId: string; attempt: number; leaseToken: string };

class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { supportsListen: true, supportsSkipLocked: true, multiServer: true, inlineWrites: false };
  readonly #sql: Pool;
  readonly #schema: string;
  readonly #c: Ctx;

  constructor(sql: Pool, schema: string) {
    this.#sql = sql;
    this.#schema = schema;
    // NOTIFY channels are database-wide: naming the channel after the schema keeps stores in
    // different schemas of one database from waking each other.
    this.#c = { sql, channel: `${schema}_wake`.slice(0, 63), origin: randomUUID() };
  }

  /** Runs `fn`, turning connection failures into BATON_E_UNAVAILABLE and unique violations into BATON_E_CONFLICT. */
  async #do<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapError(e);
    }
  }

  async migrate(): Promise<void> {
    await this.#do(() => applyMigrations(this.#sql, this.#schema));
  }
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
  async ping(): Promise<void> {
    await this.#do(() => this.#sql`SELECT 1`);
  }

  /**
   * Calls `onNotify` whenever another store instance (another server's) commits a change that
   * creates or frees work; this instance's own commits are not echoed. Resolves once listening;
   * the returned function stops it.
   */
  async listen(channel: 'wake', onNotify: () => void): Promise<() => Promise<void>> {
    if (channel !== 'wake') throw new Error(`unknown listen channel ${String(channel)}`);
    // This store's own notifications are skipped: its server wakes its services directly, and
    // an echo of every commit cost a dispatch round, a promoter query and a cron check each.
    // Payloads from servers of an older version carry no origin and are never skipped.
    const own = `${this.#c.origin}:`;
    const meta = await this.#do(() => this.#sql.listen(this.#c.channel, (payload) => !payload.startsWith(own) && onNotify()));
    return async () => {
      await meta.unlisten();
    };
  }

  async tenantCreate(p: { tenant: Tenant; audit?: AuditInput }): Promise<Tenant> {
    return this.#do(() => admin.tenantCreate(this.#sql, p));
  }
  async tenantGet(p: { id: string }): Promise<Tenant | null> {
    return this.#do(() => admin.tenantGet(this.#sql, p));
  }
  async tenantList(): Promise<Tenant[]> {
    return this.#do(() => admin.tenantList(this.#sql));
  }
  async tokenCreate(p: { token: TokenRecord; audit?: AuditInput }): Promise<TokenRecord> {
    return this.#do(() => admin.tokenCreate(this.#sql, p));
  }
  async tokenGet(p: { id: string }): Promise<TokenRecord | null> {
    return this.#do(() => admin.tokenGet(this.#sql, p));
  }
  async tokenList(p: { tenant: string }): Promise<TokenRecord[]> {
    return this.#do(() => admin.tokenList(this.#sql, p));
  }
  async tokenDelete(p: { tenant: string; id: string; audit?: AuditInput }): Promise<boolean> {
    // The interface passes no clock here; the audit row is stamped with the wall clock.
    return this.#do(() => admin.tokenDelete(this.#sql, p, Date.now()));
  }
  async tokenCountSystem(): Promise<number> {
    return this.#do(() => admin.tokenCountSystem(this.#sql));
  }

  async jobInsertMany(p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions): Promise<InsertResult> {
    return this.#do(() => jobs.jobInsertMany(this.#c, p));
  }
  async jobParents(p: { jobIds: string[] }): Promise<Map<string, ParentRecord[]>> {
    return this.#do(() => graph.jobParents(this.#sql, p));
  }
  async jobGraph(p: { tenant: string; id: string; limit?: number }): Promise<{ graphId: string | null; nodes: GraphNodeRecord[]; truncated: boolean }> {
    return this.#do(() => graph.jobGraph(this.#sql, p));
  }
  async jobBulk(p: Parameters<Store['jobBulk']>[0]): Promise<BulkResult> {
    return this.#do(() => bulk.jobBulk(this.#c, p));
  }
  async templateCreate(p: Parameters<Store['templateCreate']>[0]): Promise<TemplateRecord> {
    return this.#do(() => templates.templateCreate(this.#sql, p));
  }
  async templateGet(p: { tenant: string; name: string; version: number | null }): Promise<TemplateRecord | null> {
    return this.#do(() => templates.templateGet(this.#sql, p));
  }
  async templateList(p: { tenant: string }): Promise<TemplateRecord[]> {
    return this.#do(() => templates.templateList(this.#sql, p));
  }
  async templateVersions(p: { tenant: string; name?: string }): Promise<TemplateRecord[]> {
    return this.#do(() => templates.templateVersions(this.#sql, p));
  }
  async templateImport(p: Parameters<Store['templateImport']>[0]): Promise<{ created: number; skipped: number }> {
    return this.#do(() => templates.templateImport(this.#sql, p));
  }

  async jobGet(p: { tenant: string; id: string }): Promise<Job | null> {
    return this.#do(() => jobs.jobGet(this.#sql, p));
  }
  async jobList(p: JobListFilter): Promise<Page<Job>> {
    return this.#do(() => jobs.jobList(this.#sql, p));
  }
  async jobApply(p: { tenant: string; id: string; event: JobEvent; now: number; audit?: AuditInput }): Promise<{ before: Job; after: Job }> {
    return this.#do(() => jobs.jobApply(this.#c, p));
  }
  async jobPromoteDue(p: { now: number; limit: number; fence?: Fence }): Promise<number> {
    return this.#do(() => jobs.jobPromoteDue(this.#c, p));
  }
  async jobNextRunAt(): Promise<number | null> {
    return this.#do(() => jobs.jobNextRunAt(this.#sql));
  }
  async jobListReady(p: { tenants: string[]; queues?: string[]; types: JobType[]; limit: number }): Promise<Job[]> {
    return this.#do(() => jobs.jobListReady(this.#sql, p));
  }
  async jobAssignMany(p: { assignments: AssignmentInput[]; now: number }): Promise<Job[]> {
    return this.#do(() => jobs.jobAssignMany(this.#c, p));
  }

  async reportApplyMany(p: { workerId: string; reports: Report[]; now: number; random: () => number }): Promise<ReportOutcome[]> {
    return this.#do(() => reports.reportApplyMany(this.#c, p));
  }
  async leaseExtend(p: { workerId: string; leases: LeaseRef[]; leaseExpiresAt: number; now: number }): Promise<{ lost: LeaseRef[] }> {
    return this.#do(() => reports.leaseExtend(this.#c, p));
  }
  async leaseReapExpired(p: { now: number; limit: number; random: () => number; fence?: Fence }): Promise<Job[]> {
    return this.#do(() => reports.leaseReapExpired(this.#c, p));
  }
  async logList(p: { tenant: string; jobId: string; afterSeq: number; limit: number }): Promise<LogEntry[]> {
    return this.#do(() => reports.logList(this.#sql, p));
  }

  async queueList(p: { tenant: string }): Promise<QueueStats[]> {
    return this.#do(() => admin.queueList(this.#sql, p));
  }
  async queueSetPaused(p: { tenant: string; name: string; paused: boolean; now: number; audit?: AuditInput }): Promise<QueueStats> {
    return this.#do(() => admin.queueSetPaused(this.#c, p));
  }

  async workerUpsert(p: { worker: WorkerInfo }): Promise<WorkerInfo> {
    return this.#do(() => admin.workerUpsert(this.#sql, p));
  }
  async workerGet(p: { tenant: string; id: string }): Promise<WorkerInfo | null> {
    return this.#do(() => admin.workerGet(this.#sql, p));
  }
  async workerList(p: { tenant: string }): Promise<WorkerInfo[]> {
    return this.#do(() => admin.workerList(this.#sql, p));
  }
  async workerSetStatus(p: { id: string; status: WorkerStatus; now: number; audit?: AuditInput }): Promise<void> {
    return this.#do(() => admin.workerSetStatus(this.#sql, p));
  }
  async workerTouch(p: { id: string; now: number }): Promise<void> {
    return this.#do(() => admin.workerTouch(this.#sql, p));
  }

  async leaderAcquire(p: { name: string; holder: string; ttlMs: number; now: number }): Promise<Leadership> {
    return this.#do(() => leaders.leaderAcquire(this.#sql, p));
  }
  async leaderRelease(p: { name: string; holder: string; now: number }): Promise<void> {
    return this.#do(() => leaders.leaderRelease(this.#sql, p));
  }

  async scheduleCreate(p: Parameters<Store['scheduleCreate']>[0]): Promise<ScheduleRecord> {
    return this.#do(() => schedules.scheduleCreate(this.#c, p));
  }
  async scheduleGet(p: { tenant: string; id: string }): Promise<ScheduleRecord | null> {
    return this.#do(() => schedules.scheduleGet(this.#sql, p));
  }
  async scheduleList(p: Parameters<Store['scheduleList']>[0]): Promise<Page<ScheduleRecord>> {
    return this.#do(() => schedules.scheduleList(this.#sql, p));
  }
  async scheduleUpdate(p: Parameters<Store['scheduleUpdate']>[0]): Promise<ScheduleRecord> {
    return this.#do(() => schedules.scheduleUpdate(this.#c, p));
  }
  async schedulePause(p: Parameters<Store['schedulePause']>[0]): Promise<ScheduleRecord> {
    return this.#do(() => schedules.schedulePause(this.#c, p));
  }
  async scheduleResume(p: Parameters<Store['scheduleResume']>[0]): Promise<ScheduleRecord> {
    return this.#do(() => schedules.scheduleResume(this.#c, p));
  }
  async scheduleDelete(p: Parameters<Store['scheduleDelete']>[0]): Promise<boolean> {
    return this.#do(() => schedules.scheduleDelete(this.#c, p));
  }
  async scheduleListDue(p: { now: number; limit: number }): Promise<ScheduleRecord[]> {
    return this.#do(() => schedules.scheduleListDue(this.#sql, p));
  }
  async scheduleNextFireAt(): Promise<number | null> {
    return this.#do(() => schedules.scheduleNextFireAt(this.#sql));
  }
  async scheduleFire(p: Parameters<Store['scheduleFire']>[0]): Promise<FireResult> {
    return this.#do(() => schedules.scheduleFire(this.#c, p));
  }
  async scheduleFireMany(p: Parameters<Store['scheduleFireMany']>[0]): Promise<FireResult[]> {
    return this.#do(() => schedules.scheduleFireMany(this.#c, p));
  }
  async scheduleRuns(p: Parameters<Store['scheduleRuns']>[0]): Promise<Page<ScheduleRun>> {
    return this.#do(() => schedules.scheduleRuns(this.#sql, p));
  }
  async jobExpireDeadlines(p: { now: number; limit: number; fence?: Fence }): Promise<Job[]> {
    return this.#do(() => limits.jobExpireDeadlines(this.#c, p));
  }
  async jobNextDeadline(): Promise<number | null> {
    return this.#do(() => limits.jobNextDeadline(this.#sql));
  }
  async queueSetLimits(p: Parameters<Store['queueSetLimits']>[0]): Promise<QueueStats> {
    return this.#do(() => limits.queueSetLimits(this.#c, p));
  }
  async tenantSetWeight(p: Parameters<Store['tenantSetWeight']>[0]): Promise<Tenant> {
    return this.#do(() => limits.tenantSetWeight(this.#c, p));
  }
  async jobListReadyHeads(p: Parameters<Store['jobListReadyHeads']>[0]): Promise<ReadyHead[]> {
    return this.#do(() => ready.jobListReadyHeads(this.#sql, p));
  }
  async fairnessSettings(p: { tenants: string[] }): Promise<FairnessSettings> {
    return this.#do(() => limits.fairnessSettings(this.#sql, p));
  }

  async auditWrite(p: { entry: AuditInput; now: number }): Promise<void> {
    return this.#do(() => admin.auditWrite(this.#sql, p));
  }
  async auditList(p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<AuditEntry>> {
    return this.#do(() => admin.auditList(this.#sql, p));
  }
}

/**
 * Opens a pool on the PostgreSQL store at `opts.url` and, unless `migrate: false`, creates its
 * schema and applies pending migrations (safe when several servers start at once). Throws
 * BATON_E_CONFIG for a bad URL or schema name, BATON_E_UNAVAILABLE when the database cannot be
 * reached.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const target = parseTarget(opts.url, opts.schema);
  const sql = connect(target, opts.max ?? 10);
  const store = new PostgresStore(sql, target.schema);
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw e;
    }
  }
  return store;
}
