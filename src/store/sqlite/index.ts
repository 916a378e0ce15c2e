/**
 * Baton's embedded store: one SQLite file in WAL mode, for a single server. better-sqlite3 is
 * synchronous; most methods are async only to match the Store interface (PostgreSQL is async).
 * The hot writes are the exception: they wait for the end of the event-loop turn and commit
 * together (group-commit.ts).
 * Jobs returned by the hot paths (list, ready, assign, reports, reap) carry `attempts: []`; only
 * jobGet and jobApply load the attempts.
 */
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
import { applyMigrations, openDatabase, type Sql, type SyncMode } from './db.ts';
import { GroupCommit } from './group-commit.ts';
import * as jobs from './jobs.ts';
import * as leaders from './leaders.ts';
import * as reports from './reports.ts';
import * as limits from './limits.ts';
import * as ready from './ready.ts';
import * as schedules from './schedules.ts';
import type { FairnessSettings, FireResult, ReadyHead, ScheduleRecord, ScheduleRun } from '../types.ts';

/** Options of openSqliteStore. */
export interface SqliteStoreOptions {
  /** Database file; parent directories are created. `:memory:` for a throwaway store. */
  path: string;
  /** Durability of each commit. Default FULL, so an accepted job survives a power cut. */
  synchronous?: SyncMode;
  /** Apply pending migrations on open. Default true. */
  migrate?: boolean;
}

class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { supportsListen: false, supportsSkipLocked: false, multiServer: false, inlineWrites: true };
  readonly #sql: Sql;
  /** The hot writes (inserts, assignments, reports, lease extensions) of one event-loop turn share a commit. */
  readonly #group: GroupCommit;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#group = new GroupCommit(sql.db, () => sql.rowCache.clear(), (fn) => sql.unwrapped(fn));
  }

  async migrate(): Promise<void> {
    applyMigrations(this.#sql);
  }
  async close(): Promise<void> {
    this.#group.flush();
    if (this.#sql.db.open) this.#sql.db.close();
  }
  async ping(): Promise<void> {
    this.#sql.stmt('SELECT 1').get();
  }

  async tenantCreate(p: { tenant: Tenant; audit?: AuditInput }): Promise<Tenant> {
    return admin.tenantCreate(this.#sql, p);
  }
  async tenantGet(p: { id: string }): Promise<Tenant | null> {
    return admin.tenantGet(this.#sql, p);
  }
  async tenantList(): Promise<Tenant[]> {
    return admin.tenantList(this.#sql);
  }
  async tokenCreate(p: { token: TokenRecord; audit?: AuditInput }): Promise<TokenRecord> {
    return admin.tokenCreate(this.#sql, p);
  }
  async tokenGet(p: { id: string }): Promise<TokenRecord | null> {
    return admin.tokenGet(this.#sql, p);
  }
  async tokenList(p: { tenant: string }): Promise<TokenRecord[]> {
    return admin.tokenList(this.#sql, p);
  }
  async tokenDelete(p: { tenant: string; id: string; audit?: AuditInput }): Promise<boolean> {
    // The interface passes no clock here; the audit row is stamped with the wall clock.
    return admin.tokenDelete(this.#sql, p, Date.now());
  }
  async tokenCountSystem(): Promise<number> {
    return admin.tokenCountSystem(this.#sql);
  }

  async jobInsertMany(p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions): Promise<InsertResult> {
    return this.#group.run(() => jobs.jobInsertMany(this.#sql, p));
  }
  async jobParents(p: { jobIds: string[] }): Promise<Map<string, ParentRecord[]>> {
    return graph.jobParents(this.#sql, p);
  }
  async jobGraph(p: { tenant: string; id: string; limit?: number }): Promise<{ graphId: string | null; nodes: GraphNodeRecord[]; truncated: boolean }> {
    return graph.jobGraph(this.#sql, p);
  }
  async jobBulk(p: Parameters<Store['jobBulk']>[0]): Promise<BulkResult> {
    return bulk.jobBulk(this.#sql, p);
  }
  async templateCreate(p: Parameters<Store['templateCreate']>[0]): Promise<TemplateRecord> {
    return templates.templateCreate(this.#sql, p);
  }
  async templateGet(p: { tenant: string; name: string; version: number | null }): Promise<TemplateRecord | null> {
    return templates.templateGet(this.#sql, p);
  }
  async templateList(p: { tenant: string }): Promise<TemplateRecord[]> {
    return templates.templateList(this.#sql, p);
  }
  async templateVersions(p: { tenant: string; name?: string }): Promise<TemplateRecord[]> {
    return templates.templateVersions(this.#sql, p);
  }
  async templateImport(p: Parameters<Store['templateImport']>[0]): Promise<{ created: number; skipped: number }> {
    return templates.templateImport(this.#sql, p);
  }
  async jobGet(p: { tenant: string; id: string }): Promise<Job | null> {
    return jobs.jobGet(this.#sql, p);
  }
  async jobList(p: JobListFilter): Promise<Page<Job>> {
    return jobs.jobList(this.#sql, p);
  }
  async jobApply(p: { tenant: string; id: string; event: JobEvent; now: number; audit?: AuditInput }): Promise<{ before: Job; after: Job }> {
    return jobs.jobApply(this.#sql, p);
  }
  async jobPromoteDue(p: { now: number; limit: number; fence?: Fence }): Promise<number> {
    return jobs.jobPromoteDue(this.#sql, p);
  }
  async jobNextRunAt(): Promise<number | null> {
    return jobs.jobNextRunAt(this.#sql);
  }
  async jobListReady(p: { tenants: string[]; queues?: string[]; types: JobType[]; limit: number }): Promise<Job[]> {
    return jobs.jobListReady(this.#sql, p);
  }
  async jobAssignMany(p: { assignments: AssignmentInput[]; now: number }): Promise<Job[]> {
    return this.#group.run(() => jobs.jobAssignMany(this.#sql, p));
  }

  async reportApplyMany(p: { workerId: string; reports: Report[]; now: number; random: () => number }): Promise<ReportOutcome[]> {
    return this.#group.run(() => reports.reportApplyMany(this.#sql, p));
  }
  async leaseExtend(p: {
    workerId: string;
    leases: { jobId: string; attempt: number; leaseToken: string }[];
    leaseExpiresAt: number;
    now: number;
  }): Promise<{ lost: { jobId: string; attempt: number; leaseToken: string }[] }> {
    return this.#group.run(() => reports.leaseExtend(this.#sql, p));
  }
  async leaseReapExpired(p: { now: number; limit: number; random: () => number; fence?: Fence }): Promise<Job[]> {
    return reports.leaseReapExpired(this.#sql, p);
  }
  async logList(p: { tenant: string; jobId: string; afterSeq: number; limit: number }): Promise<LogEntry[]> {
    return reports.logList(this.#sql, p);
  }

  async queueList(p: { tenant: string }): Promise<QueueStats[]> {
    return admin.queueList(this.#sql, p);
  }
  async queueSetPaused(p: { tenant: string; name: string; paused: boolean; now: number; audit?: AuditInput }): Promise<QueueStats> {
    return admin.queueSetPaused(this.#sql, p);
  }

  async workerUpsert(p: { worker: WorkerInfo }): Promise<WorkerInfo> {
    return admin.workerUpsert(this.#sql, p);
  }
  async workerGet(p: { tenant: string; id: string }): Promise<WorkerInfo | null> {
    return admin.workerGet(this.#sql, p);
  }
  async workerList(p: { tenant: string }): Promise<WorkerInfo[]> {
    return admin.workerList(this.#sql, p);
  }
  async workerSetStatus(p: { id: string; status: WorkerStatus; now: number; audit?: AuditInput }): Promise<void> {
    admin.workerSetStatus(this.#sql, p);
  }
  async workerTouch(p: { id: string; now: number }): Promise<void> {
    admin.workerTouch(this.#sql, p);
  }

  async leaderAcquire(p: { name: string; holder: string; ttlMs: number; now: number }): Promise<Leadership> {
    return leaders.leaderAcquire(this.#sql, p);
  }
  async leaderRelease(p: { name: string; holder: string; now: number }): Promise<void> {
    leaders.leaderRelease(this.#sql, p);
  }

  async scheduleCreate(p: Parameters<Store['scheduleCreate']>[0]): Promise<ScheduleRecord> {
    return schedules.scheduleCreate(this.#sql, p);
  }
  async scheduleGet(p: { tenant: string; id: string }): Promise<ScheduleRecord | null> {
    return schedules.scheduleGet(this.#sql, p);
  }
  async scheduleList(p: Parameters<Store['scheduleList']>[0]): Promise<Page<ScheduleRecord>> {
    return schedules.scheduleList(this.#sql, p);
  }
  async scheduleUpdate(p: Parameters<Store['scheduleUpdate']>[0]): Promise<ScheduleRecord> {
    return schedules.scheduleUpdate(this.#sql, p);
  }
  async schedulePause(p: Parameters<Store['schedulePause']>[0]): Promise<ScheduleRecord> {
    return schedules.schedulePause(this.#sql, p);
  }
  async scheduleResume(p: Parameters<Store['scheduleResume']>[0]): Promise<ScheduleRecord> {
    return schedules.scheduleResume(this.#sql, p);
  }
  async scheduleDelete(p: Parameters<Store['scheduleDelete']>[0]): Promise<boolean> {
    return schedules.scheduleDelete(this.#sql, p);
  }
  async scheduleListDue(p: { now: number; limit: number }): Promise<ScheduleRecord[]> {
    return schedules.scheduleListDue(this.#sql, p);
  }
  async scheduleNextFireAt(): Promise<number | null> {
    return schedules.scheduleNextFireAt(this.#sql);
  }
  async scheduleFire(p: Parameters<Store['scheduleFire']>[0]): Promise<FireResult> {
    return schedules.scheduleFire(this.#sql, p);
  }
  async scheduleFireMany(p: Parameters<Store['scheduleFireMany']>[0]): Promise<FireResult[]> {
    return schedules.scheduleFireMany(this.#sql, p);
  }
  async scheduleRuns(p: Parameters<Store['scheduleRuns']>[0]): Promise<Page<ScheduleRun>> {
    return schedules.scheduleRuns(this.#sql, p);
  }
  async jobExpireDeadlines(p: { now: number; limit: number; fence?: Fence }): Promise<Job[]> {
    return limits.jobExpireDeadlines(this.#sql, p);
  }
  async jobNextDeadline(): Promise<number | null> {
    return limits.jobNextDeadline(this.#sql);
  }
  async queueSetLimits(p: Parameters<Store['queueSetLimits']>[0]): Promise<QueueStats> {
    return limits.queueSetLimits(this.#sql, p);
  }
  async tenantSetWeight(p: Parameters<Store['tenantSetWeight']>[0]): Promise<Tenant> {
    return limits.tenantSetWeight(this.#sql, p);
  }
  async jobListReadyHeads(p: Parameters<Store['jobListReadyHeads']>[0]): Promise<ReadyHead[]> {
    return ready.jobListReadyHeads(this.#sql, p);
  }
  async fairnessSettings(p: { tenants: string[] }): Promise<FairnessSettings> {
    return limits.fairnessSettings(this.#sql, p);
  }

  async auditWrite(p: { entry: AuditInput; now: number }): Promise<void> {
    admin.auditWrite(this.#sql, p);
  }
  async auditList(p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<AuditEntry>> {
    return admin.auditList(this.#sql, p);
  }
}

/**
 * Opens (creating if needed) the SQLite store at `opts.path` and, unless `migrate: false`,
 * brings its schema up to date.
 */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  const sql = openDatabase(opts.path, opts.synchronous ?? 'FULL');
  try {
    if (opts.migrate !== false) applyMigrations(sql);
  } catch (e) {
    sql.db.close();
    throw e;
  }
  return new SqliteStore(sql);
}
