/**
 * Handlers the benchmark's worker processes load with `--handlers`: no-op function jobs, the
 * fair comparison with other queues' no-op jobs. They tell the benchmark what ran over UDP on
 * loopback (port in BATON_BENCH_UDP), so counting never touches the server being measured.
 *
 * - `noop` does nothing; starts are counted and sent in one datagram every 50 ms.
 * - `stamp` sends `{i: job id, t: args.t, s: Date.now()}` at once, for pickup latency.
 */
import { createSocket } from 'node:dgram';
import { defineHandlers } from '../worker/sdk.ts';

const port = Number(process.env.BATON_BENCH_UDP ?? 0);
const socket = port > 0 ? createSocket('udp4') : null;
socket?.unref();
let started = 0;

function send(msg: object): void {
  socket?.send(JSON.stringify(msg), port, '127.0.0.1');
}

if (socket) {
  // Batched so a drain at tens of thousands of jobs a second costs a few datagrams, not one each.
  setInterval(() => {
    if (started === 0) return;
    send({ n: started });
    started = 0;
  }, 50).unref();
}

/** The benchmark's handler module (default export, as `baton worker --handlers` expects). */
export default defineHandlers({
  noop(): null {
    started++;
    return null;
  },
  stamp(args: { t?: number }, ctx): null {
    send({ i: ctx.job.id, t: args.t ?? 0, s: Date.now() });
    return null;
  },
});
