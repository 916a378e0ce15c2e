/**
 * Example function handlers for `baton worker --handlers examples/handlers.ts`.
 * Submit with: baton submit --function add --args '{"a": 2, "b": 3}'
 */
import { defineHandlers } from 'baton/worker';

export default defineHandlers({
  /** Adds two numbers. */
  async add(args: { a: number; b: number }) {
    return { sum: args.a + args.b };
  },

  /** Counts to `n`, logging and reporting progress; stops when the job is cancelled. */
  async count(args: { n: number; delayMs?: number }, ctx) {
    for (let i = 1; i <= args.n; i++) {
      if (ctx.signal.aborted) throw new Error('cancelled');
      ctx.log(`step ${i} of ${args.n}`);
      ctx.progress((100 * i) / args.n);
      await new Promise((r) => setTimeout(r, args.delayMs ?? 100));
    }
    return { counted: args.n };
  },
});
