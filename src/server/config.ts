/**
 * Server settings: defaults, then BATON_* environment variables, then explicit overrides (flags).
 * Validated once here so that the rest of the server can trust them.
 */
import path from 'node:path';
import { BatonError } from '../core/errors.ts';
import type { ServerConfig } from './context.ts';

/** Environment variable of each numeric or string setting. */
const ENV: Record<keyof ServerConfig, string> = {
  host: 'BATON_HOST',
  port: 'BATON_PORT',
  dataDir: 'BATON_DATA_DIR',
  store: 'BATON_STORE',
  leaseMs: 'BATON_LEASE_MS',
  heartbeatMs: 'BATON_HEARTBEAT_MS',
  reapIntervalMs: 'BATON_REAP_INTERVAL_MS',
  maxResultBytes: 'BATON_MAX_RESULT_BYTES',
  bodyLimitBytes: 'BATON_BODY_LIMIT_BYTES',
  leaderTtlMs: 'BATON_LEADER_TTL_MS',
  idempotencyRetentionMs: 'BATON_IDEMPOTENCY_RETENTION_MS',
  agingIntervalMs: 'BATON_AGING_INTERVAL_MS',
  dispatchTickMs: 'BATON_DISPATCH_TICK_MS',
  logLevel: 'BATON_LOG_LEVEL',
  adminTokenFile: 'BATON_ADMIN_TOKEN_FILE',
};

const NUMERIC = new Set<keyof ServerConfig>(['port', 'leaseMs', 'heartbeatMs', 'reapIntervalMs', 'maxResultBytes', 'bodyLimitBytes', 'leaderTtlMs', 'idempotencyRetentionMs', 'agingIntervalMs', 'dispatchTickMs']);

/** Builds a complete, checked ServerConfig. Throws BATON_E_CONFIG naming the bad setting. */
export function loadServerConfig(overrides: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromEnv: Partial<Record<keyof ServerConfig, string | number>> = {};
  for (const [key, name] of Object.entries(ENV) as [keyof ServerConfig, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (NUMERIC.has(key)) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new BatonError('BATON_E_CONFIG', `${name} must be a non-negative integer, got "${raw}"`, { field: name });
      fromEnv[key] = n;
    } else {
      fromEnv[key] = raw;
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<ServerConfig>;
  const dataDir = path.resolve(String(defined.dataDir ?? fromEnv.dataDir ?? './data'));
  const cfg: ServerConfig = {
    host: '127.0.0.1',
    port: 7070,
    leaseMs: 8000,
    heartbeatMs: 2000,
    reapIntervalMs: 1000,
    maxResultBytes: 1024 * 1024,
    bodyLimitBytes: 64 * 1024 * 1024,
    leaderTtlMs: 5000,
    idempotencyRetentionMs: 24 * 3_600_000,
    agingIntervalMs: 60_000,
    dispatchTickMs: 1000,
    logLevel: 'info',
    store: `sqlite:${path.join(dataDir, 'baton.db')}`,
    adminTokenFile: path.join(dataDir, 'admin-token'),
    ...(fromEnv as Partial<ServerConfig>),
    ...defined,
    dataDir,
  };
  check(cfg.port <= 65535, 'port', 'must be 0–65535');
  check(cfg.heartbeatMs >= 50, 'heartbeatMs', 'must be at least 50');
  check(cfg.leaseMs >= 2 * cfg.heartbeatMs, 'leaseMs', `must be at least twice heartbeatMs (${cfg.heartbeatMs}) so one late heartbeat does not lose a lease`);
  check(cfg.reapIntervalMs >= 10, 'reapIntervalMs', 'must be at least 10');
  check((cfg.dispatchTickMs ?? 1000) >= 10, 'dispatchTickMs', 'must be at least 10');
  check(cfg.maxResultBytes >= 1024, 'maxResultBytes', 'must be at least 1024');
  check(cfg.bodyLimitBytes >= 1024, 'bodyLimitBytes', 'must be at least 1024');
  check(cfg.leaderTtlMs >= 300, 'leaderTtlMs', 'must be at least 300');
  return cfg;
}

function check(ok: boolean, key: keyof ServerConfig, message: string): void {
  if (!ok) throw new BatonError('BATON_E_CONFIG', `${key} (${ENV[key]}) ${message}`, { field: key });
}
