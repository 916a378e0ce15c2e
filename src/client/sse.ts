/**
 * A reader of Server-Sent Events (text/event-stream) from a fetch body. Only the parts of the
 * format Baton's server uses matter (event, data, id), but comments, CRLF line ends and
 * multi-line data are handled as the spec says so a proxy in between cannot confuse it.
 */

/** One event of an event stream. */
export interface SseEvent {
  /** Event name; `message` when the server sent none. */
  event: string;
  /** Data lines joined with newlines. */
  data: string;
  /** Last event id, if the server sent one. */
  id: string | undefined;
}

/** Yields the events of a text/event-stream body as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buf = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
        if (buf[nl] === '\r' && nl === buf.length - 1 && !done) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      if (done) return;
    }
  } finally {
    // Releasing stops the download when the consumer breaks out early.
    await reader.cancel().catch(() => {});
  }
}
