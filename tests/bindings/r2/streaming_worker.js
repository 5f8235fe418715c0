// A Worker that puts a large object from a ReadableStream and reads it back as a stream, for
// tests/bindings/r2/test_streaming.py. Chunk i of the object is 1 MiB of the byte i & 0xff.
// env.PROGRESS (the test's) says how many body bytes have crossed the bridge so far: {written, read}.
import { env } from "cloudflare:workers";

const CHUNK = 1 << 20;

export const big = {
  // Produces chunk i only when the one before it was taken, and notes how far the emulator's side was
  // behind each time: a put that buffered the stream would show the whole object missing at the end.
  async put({ key, mib }) {
    const { readable, writable } = new FixedLengthStream(mib * CHUNK);
    const writer = writable.getWriter();
    let mostBehind = 0;
    const writing = (async () => {
      const start = (await env.PROGRESS.now()).written;
      for (let i = 0; i < mib; i++) {
        const arrived = (await env.PROGRESS.now()).written - start;
        mostBehind = Math.max(mostBehind, i * CHUNK - arrived);
        await writer.write(new Uint8Array(CHUNK).fill(i & 0xff));
      }
      await writer.close();
    })();
    const object = await env.R2.put(key, readable);
    await writing;
    return { size: object.size, etag: object.etag, mostBehind };
  },

  // Reads a chunk at a time and notes how far the emulator's side was ahead of what had been read.
  async get({ key }) {
    const start = (await env.PROGRESS.now()).read;
    const object = await env.R2.get(key);
    const reader = object.body.getReader();
    let total = 0;
    let chunks = 0;
    let wrong = 0;
    let mostAhead = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value[0] !== (Math.floor(total / CHUNK) & 0xff)) wrong += 1;
      if (value[value.length - 1] !== (Math.floor((total + value.length - 1) / CHUNK) & 0xff)) wrong += 1;
      total += value.byteLength;
      chunks += 1;
      const sent = (await env.PROGRESS.now()).read - start;
      mostAhead = Math.max(mostAhead, sent - total);
    }
    return { total, chunks, wrong, size: object.size, mostAhead };
  },
};
