/**
 * The SSE reader on byte streams split at awkward places: events must come out the same
 * however the network chunks them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from '../../src/client/sse.ts';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(enc.encode(c));
      controller.close();
    },
  });
}

async function all(chunks: string[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of readSse(streamOf(chunks))) out.push(e);
  return out;
}

const TEXT = ': comment\n\nevent: log\ndata: {"seq":1}\n\nevent: log\r\nid: 7\r\ndata: line one\r\ndata: line two\r\n\r\ndata:no space\n\nevent: end\ndata: {"status":"completed"}\n\n';
const EXPECTED: SseEvent[] = [
  { event: 'log', data: '{"seq":1}', id: undefined },
  { event: 'log', data: 'line one\nline two', id: '7' },
  { event: 'message', data: 'no space', id: '7' },
  { event: 'end', data: '{"status":"completed"}', id: '7' },
];

describe('readSse', () => {
  it('parses events, comments, CRLF and multi-line data', async () => {
    expect(await all([TEXT])).toEqual(EXPECTED);
  });

  it('gives the same events however the bytes are chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: TEXT.length }), { maxLength: 12 }), async (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const p of [...points, TEXT.length]) {
          chunks.push(TEXT.slice(prev, p));
          prev = p;
        }
        expect(await all(chunks)).toEqual(EXPECTED);
      }),
      { numRuns: 200 },
    );
  });

  it('drops an event the stream cut off before its blank line', async () => {
    expect(await all(['event: log\ndata: {"seq":1}\n\nevent: log\ndata: half'])).toEqual([{ event: 'log', data: '{"seq":1}', id: undefined }]);
  });

  it('decodes a multi-byte character split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: héllo ✓\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const out: SseEvent[] = [];
    for await (const e of readSse(stream)) out.push(e);
    expect(out).toEqual([{ event: 'message', data: 'héllo ✓', id: undefined }]);
  });
});
