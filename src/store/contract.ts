/**
 * The store contract: one vitest suite that every Store implementation must pass, written
 * against the interface only (no SQL), so the SQLite and PostgreSQL stores are held to the same
 * behaviour. Use it from a test file:
 *
 *   describeStoreContract('sqlite', async () => ({ store, cleanup }));
 *
 * `makeStore` is called before each test and must return an empty, migrated store; `cleanup`
 * runs after the test (close the store, remove its file or schema).
 */
import { afterEach, beforeEach, describe } from 'vitest';
import { adminContract } from './contract/admin.ts';
import { dispatchContract } from './contract/dispatch.ts';
import type { ContractContext } from './contract/fixtures.ts';
import { jobsContract } from './contract/jobs.ts';
import { leadersContract } from './contract/leaders.ts';
import { propertiesContract } from './contract/properties.ts';
import { reportsContract } from './contract/reports.ts';
import { schedulesContract } from './contract/schedules.ts';
import { workflowsContract } from './contract/workflows.ts';
import type { Store } from './types.ts';

/** What a contract run needs from an implementation: a fresh store and a way to discard it. */
export type MakeStore = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

/** Declares the full store contract suite under `describe('store contract: <name>')`. */
export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`store contract: ${name}`, () => {
    let current: { store: Store; cleanup: () => Promise<void> } | null = null;
    const ctx: ContractContext = {
      store() {
        if (current === null) throw new Error('no store: the contract suite creates one before each test');
        return current.store;
      },
    };
    beforeEach(async () => {
      current = await makeStore();
    });
    afterEach(async () => {
      const c = current;
      current = null;
      if (c !== null) await c.cleanup();
    });
    jobsContract(ctx);
    dispatchContract(ctx);
    reportsContract(ctx);
    adminContract(ctx);
    leadersContract(ctx);
    propertiesContract(ctx);
    workflowsContract(ctx);
    schedulesContract(ctx);
  });
}
