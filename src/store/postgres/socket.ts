/**
 * The TCP sockets the PostgreSQL pool runs on, made by us (the client's documented `socket`
 * option) so that the client's pipelining works: it sends the statements queued on a connection
 * back to back, writing one of 1 KiB or more at once and gathering smaller ones for the next
 * setImmediate, and goes on sending while write() answers true.
 *
 * - Nagle's algorithm is off (TCP_NODELAY, as libpq sets it). With it on, the kernel held the
 *   small write that follows a big one (a COMMIT, a NOTIFY) until PostgreSQL acknowledged the big
 *   one, i.e. until it had answered it: the round trip pipelining was meant to save.
 * - The high-water mark is 1 MiB. A stream's write() answers false for any write that takes it
 *   to its high-water mark, even one the kernel accepts at once, and the client takes false for
 *   "send the next statement only after this one's answer": with Node's 16 KiB default, a large
 *   statement (a batch INSERT, the UPDATE of a big report batch) ended the pipeline.
 * - Statements sent together leave in one write (see coalesceWrites): each write to PostgreSQL
 *   wakes its backend, and on this kind of virtual machine a wake-up costs far more than the
 *   bytes; the drain sent 11 writes per round of 64 jobs, most of them parts of one pipeline.
 */
import net from 'node:net';

/** Options net.connect hands on to the socket's stream; its types do not list them. */
const STREAM_OPTIONS: object = { writableHighWaterMark: 1 << 20 };

/** What the client hands a `socket` factory: its parsed hosts, ports and unix socket path. */
export interface SocketTarget {
  host: string[];
  port: number[];
  path: string | false;
}

/**
 * A socket factory for the client's `socket` option. The connect is started here and the socket
 * returned at once: the client buffers its startup message, and its own error, close and
 * connect-timeout handling apply as for the sockets it makes itself. Hosts are tried in turn, one
 * per connection attempt, as the client does; a unix socket path has no Nagle to turn off.
 */
export function socketFactory(): (o: SocketTarget) => net.Socket {
  let next = 0;
  return (o) => {
    if (o.path) return coalesceWrites(net.connect({ path: o.path, ...STREAM_OPTIONS }));
    const i = next++ % o.host.length;
    const host = o.host[i];
    const port = o.port[i] ?? o.port[0];
    const s = coalesceWrites(net.connect({ host, port, noDelay: true, ...STREAM_OPTIONS }));
    // The client names host and port in its connection errors from these.
    return Object.assign(s, { host, port });
  };
}

/**
 * The client's own write threshold: it gathers statements smaller than this for a setImmediate
 * and writes a larger one (with what it gathered) at once, from the call that sent it.
 */
const CLIENT_GATHER_BYTES = 1024;

/**
 * Makes the statements of one pipeline leave in one write. A write of CLIENT_GATHER_BYTES or more
 * comes straight from a statement being sent, and more may follow in the same turn (the UPDATE of
 * jobs, then the INSERT of attempts, then the COMMIT): it corks the socket. A smaller write is the
 * client's gathered tail, flushed on setImmediate once the sending code has run: it ends the burst
 * and uncorks (one writev of all). A lone small write passes straight through; a corked burst
 * with no tail is uncorked on the first setImmediate after its turn, so nothing waits longer.
 */
export function coalesceWrites(s: net.Socket): net.Socket {
  const write = s.write;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    s.uncork();
  };
  s.write = function (this: net.Socket, chunk: Uint8Array | string, ...rest: unknown[]): boolean {
    const small = chunk.length < CLIENT_GATHER_BYTES;
    if (!corked) {
      if (small) return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      corked = true;
      s.cork();
      // nextTick first: its setImmediate then runs after the client's, which the rest of this
      // turn (promise continuations included) may still schedule.
      process.nextTick(() => setImmediate(flush));
    }
    const ok = (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    if (small) flush();
    return ok;
  } as typeof s.write;
  return s;
}
