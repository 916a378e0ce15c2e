/**
 * What every part of a running server shares: its settings, the store, the clock, id and random
 * sources, the logger, and handles on the background services. Routes and services receive a
 * ServerContext instead of reaching for globals, so tests can build one with real parts.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { NewJob } from '../core/spec.ts';
import type { Job } from '../core/types.ts';
import type { AssignmentInput, Store } from '../store/types.ts';

/** Settings of one server process; see config.ts for defaults and BATON_* variables. */
export interface ServerConfig {
  /** Address to listen on. Default 127.0.0.1. */
  host: string;
  /** Port to listen on; 0 picks a free one. Default 7070. */
  port: number;
  /** Directory for the embedded store and the admin token file. Default ./data. */
  dataDir: string;
  /** `sqlite:PATH` or a file path for the embedded store. Default `<dataDir>/baton.db`. */
  store: string;
  /** How long a lease lasts without a heartbeat, ms. Default 8000. */
  leaseMs: number;
  /** How often workers heartbeat, ms. Default 2000. */
  heartbeatMs: number;
  /** How often the reaper looks for expired leases, ms. Default 1000. */
  reapIntervalMs: number;
  /** Largest inline job result, bytes. Default 1 MiB. */
  maxResultBytes: number;
  /** Largest request body, bytes. Default 64 MiB (a full batch of 10,000 jobs). */
  bodyLimitBytes: number;
  /** How long a leadership lasts without renewal, ms; a dead leader is replaced after this. Default 5000. */
  leaderTtlMs: number;
  /** How long an idempotencyKey keeps matching its job, ms; after it the key creates a new job. Default 24 h. */
  idempotencyRetentionMs?: number;
  /** Wait that raises a ready job's effective priority by one (aging), ms; 0 turns aging off. Default 60000. */
  agingIntervalMs?: number;
  /**
   * How often the dispatcher looks for work without being woken, ms: a safety net, since every
   * change that makes work wakes it at once (submits, freed slots, releases, promotions, other
   * servers' notifications). Default 1000.
   */
  dispatchTickMs?: number;
  /** pino level. Default info. */
  logLevel: string;
  /** Write the first system admin token here (and print it). Default `<dataDir>/admin-token`. */
  adminTokenFile: string;
}

/** Notifications between routes, gateway and services inside one server process. */
export interface JobEvents extends EventEmitter {
  /** A job changed status (or got progress). */
  emit(event: 'job', jobId: string): boolean;
  /** New log lines exist for a job. */
  emit(event: 'log', jobId: string): boolean;
  on(event: 'job' | 'log', listener: (jobId: string) => void): this;
  off(event: 'job' | 'log', listener: (jobId: string) => void): this;
}

/**
 * Assignments planned for jobs about to be inserted (the dispatcher's fast path, see
 * Dispatcher.planInsert): passed as JobInsertOptions.assign, then `settle` must be called once
 * with the jobs the insert assigned, or null when the insert failed.
 */
export interface InsertPlan {
  assign: { assignments: AssignmentInput[]; now: number };
  settle(assigned: Job[] | null): void;
}

/** Plans the fast path of a group of new jobs (see Services.planInsert). */
export type PlanInsert = (jobs: readonly NewJob[]) => InsertPlan | null | Promise<InsertPlan | null>;

/** Handles on background services that routes may poke. */
export interface Services {
  /**
   * Plans free worker slots for new plain jobs that nothing ready is ahead of, to be assigned in
   * their insert's transaction; null when that does not apply now (see Dispatcher.planInsert).
   */
  planInsert?: PlanInsert;
  /** Wakes the dispatcher: there may be new ready work or free capacity. */
  wakeDispatcher(): void;
  /** A job was scheduled for `runAt`; the promoter re-arms its timer if that is sooner. */
  scheduledAt(runAt: number): void;
  /**
   * Tells the worker running an attempt to stop it (cancel). Best effort: a worker connected to
   * another server learns it from its next heartbeat, whose lease extension fails.
   */
  cancelAttempt(p: { workerId: string; jobId: string; attempt: number; reason: string }): void;
  /** Asks a connected worker to drain. Returns false if it is not connected to this server. */
  drainWorker(workerId: string): boolean;
  /** Ids of the workers connected to this server right now. */
  connectedWorkers(): ReadonlySet<string>;
  /** A schedule may fire (or a deadline pass) at `at`: the cron service re-arms its timer if that is sooner. */
  cronDueAt?(at: number | null): void;
}

export interface ServerContext {
  config: ServerConfig;
  /** This server process's id (leader election, logs). */
  serverId: string;
  store: Store;
  /** The clock, epoch ms. Injected so services are testable. */
  now(): number;
  /** A new time-ordered unique id (UUIDv7). */
  newId(): string;
  /** A number in [0, 1) for jitter. */
  random(): number;
  log: Logger;
  events: JobEvents;
  services: Services;
}

export function createJobEvents(): JobEvents {
  const e = new EventEmitter() as JobEvents;
  // Every SSE follower adds a listener; the default cap of 10 would warn on a busy server.
  e.setMaxListeners(0);
  return e;
}
