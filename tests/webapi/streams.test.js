// Streams as a handler sees them: the WHATWG classes (cases after WPT's streams/ tests) and Workers'
// additions (IdentityTransformStream, FixedLengthStream, readAtLeast, TextEncoderStream,
// TextDecoderStream), checked against workerd's behaviour and messages.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function bytes(...values) {
  return new Uint8Array(values);
}

async function readAllChunks(readable) {
  const chunks = [];
  for await (const chunk of readable) chunks.push(chunk);
  return chunks;
}

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

// Resolves after pending promise jobs and one timer turn have run.
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

function recordingWritable(log = [], strategy = undefined) {
  return new WritableStream(
    {
      write(chunk) {
        log.push(["write", chunk]);
      },
      close() {
        log.push(["close"]);
      },
      abort(reason) {
        log.push(["abort", reason]);
      },
    },
    strategy
  );
}

// --- globals -----------------------------------------------------------------------------------------

test("every stream class is a global, and Workers' transforms are TransformStreams", () => {
  const names = [
    "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamDefaultController",
    "ReadableByteStreamController", "ReadableStreamBYOBRequest", "WritableStream", "WritableStreamDefaultWriter",
    "WritableStreamDefaultController", "TransformStream", "TransformStreamDefaultController",
    "ByteLengthQueuingStrategy", "CountQueuingStrategy", "IdentityTransformStream", "FixedLengthStream",
    "CompressionStream", "DecompressionStream", "TextEncoderStream", "TextDecoderStream",
  ];
  for (const name of names) assert.equal(typeof globalThis[name], "function", name);
  assert.ok(!Object.keys(globalThis).includes("ReadableStream"), "globals are not enumerable");
  for (const stream of [new IdentityTransformStream(), new FixedLengthStream(1), new TextEncoderStream(), new TextDecoderStream()]) {
    assert.ok(stream instanceof TransformStream, stream.constructor.name);
    assert.ok(stream.readable instanceof ReadableStream);
    assert.ok(stream.writable instanceof WritableStream);
  }
  assert.ok(new FixedLengthStream(1) instanceof IdentityTransformStream);
  assert.equal(Object.prototype.toString.call(new FixedLengthStream(1)), "[object FixedLengthStream]");
  assert.equal(Object.prototype.toString.call(new IdentityTransformStream()), "[object IdentityTransformStream]");
});

// --- ReadableStream ----------------------------------------------------------------------------------

test("ReadableStream: chunks enqueued in start() are read in order, then done", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
      c.close();
    },
  });
  const reader = rs.getReader();
  assert.deepEqual(await reader.read(), { value: "a", done: false });
  assert.deepEqual(await reader.read(), { value: "b", done: false });
  assert.deepEqual(await reader.read(), { value: undefined, done: true });
  await reader.closed;
});

test("ReadableStream: pull() fills to the highWaterMark and desiredSize follows the queue", async () => {
  let pulls = 0;
  let controller;
  const rs = new ReadableStream(
    {
      start(c) {
        controller = c;
      },
      pull(c) {
        pulls++;
        c.enqueue(pulls);
      },
    },
    new CountQueuingStrategy({ highWaterMark: 2 })
  );
  await settle();
  assert.equal(pulls, 2, "pulled up to the high-water mark before any read");
  assert.equal(controller.desiredSize, 0);
  const reader = rs.getReader();
  assert.deepEqual(await reader.read(), { value: 1, done: false });
  await settle();
  assert.equal(pulls, 3);
});

test("ReadableStream: cancel() reaches the source with its reason and closes the reader", async () => {
  let cancelled;
  const rs = new ReadableStream({
    cancel(reason) {
      cancelled = reason;
    },
  });
  const reader = rs.getReader();
  const read = reader.read();
  await reader.cancel("enough");
  assert.equal(cancelled, "enough");
  assert.deepEqual(await read, { value: undefined, done: true });
  await reader.closed;
});

test("ReadableStream: controller.error() rejects pending and later reads with that error", async () => {
  const boom = new Error("boom");
  let controller;
  const rs = new ReadableStream({
    start(c) {
      controller = c;
    },
  });
  const reader = rs.getReader();
  const read = reader.read();
  controller.error(boom);
  assert.equal(await read.catch((e) => e), boom);
  assert.equal(await reader.read().catch((e) => e), boom);
  assert.equal(await reader.closed.catch((e) => e), boom);
});

test("ReadableStream: a locked stream refuses a second reader; releaseLock unlocks it", () => {
  const rs = new ReadableStream();
  const reader = rs.getReader();
  assert.ok(rs.locked);
  assert.throws(() => rs.getReader(), TypeError);
  reader.releaseLock();
  assert.ok(!rs.locked);
  rs.getReader();
});

test("ReadableStream: async iteration yields every chunk; break cancels the stream", async () => {
  assert.deepEqual(await readAllChunks(ReadableStream.from([1, 2, 3])), [1, 2, 3]);
  let cancelled = false;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue(1);
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const chunk of rs) {
    assert.equal(chunk, 1);
    break;
  }
  assert.ok(cancelled, "return() cancelled the source");
  assert.ok(!rs.locked);
});

test("ReadableStream: values({ preventCancel: true }) leaves the stream readable after break", async () => {
  const rs = ReadableStream.from(["a", "b"]);
  for await (const chunk of rs.values({ preventCancel: true })) {
    assert.equal(chunk, "a");
    break;
  }
  assert.deepEqual(await rs.getReader().read(), { value: "b", done: false });
});

test("ReadableStream.from takes arrays, generators and async generators", async () => {
  function* sync() {
    yield 1;
    yield 2;
  }
  async function* asyncGen() {
    yield "x";
    await null;
    yield "y";
  }
  assert.deepEqual(await readAllChunks(ReadableStream.from(sync())), [1, 2]);
  assert.deepEqual(await readAllChunks(ReadableStream.from(asyncGen())), ["x", "y"]);
  assert.throws(() => ReadableStream.from(42), TypeError);
});

test("ReadableStream: tee() gives both branches every chunk; cancelling both cancels the source", async () => {
  const [a, b] = ReadableStream.from(["1", "2", "3"]).tee();
  const [ca, cb] = await Promise.all([readAllChunks(a), readAllChunks(b)]);
  assert.deepEqual(ca, ["1", "2", "3"]);
  assert.deepEqual(cb, ["1", "2", "3"]);

  let reason;
  const [x, y] = new ReadableStream({
    cancel(r) {
      reason = r;
    },
  }).tee();
  const first = x.cancel("r1");
  assert.equal(reason, undefined, "one branch alone does not cancel the source");
  await y.cancel("r2");
  await first;
  assert.deepEqual(reason, ["r1", "r2"]);
});

// --- byte streams ------------------------------------------------------------------------------------

test("byte stream: a BYOB reader fills the caller's view and detaches the buffer it passed", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    pull(c) {
      const view = c.byobRequest.view;
      view[0] = 7;
      view[1] = 8;
      c.byobRequest.respond(2);
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  assert.ok(reader instanceof ReadableStreamBYOBReader);
  const buffer = new ArrayBuffer(4);
  const { value, done } = await reader.read(new Uint8Array(buffer));
  assert.equal(done, false);
  assert.deepEqual([...value], [7, 8]);
  assert.equal(value.buffer.byteLength, 4);
  assert.equal(buffer.byteLength, 0, "the view's buffer was transferred");
});

test("byte stream: enqueued chunks split across small BYOB reads and read({ min }) waits for min", async () => {
  let controller;
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  controller.enqueue(bytes(1, 2, 3, 4, 5));
  const first = await reader.read(new Uint8Array(2));
  assert.deepEqual([...first.value], [1, 2]);
  let resolved = false;
  const atLeast = reader.read(new Uint8Array(6), { min: 6 });
  atLeast.then(() => {
    resolved = true;
  });
  controller.enqueue(bytes(6, 7));
  await settle();
  assert.ok(!resolved, "5 bytes are fewer than min");
  controller.enqueue(bytes(8));
  const second = await atLeast;
  assert.deepEqual([...second.value], [3, 4, 5, 6, 7, 8]);
  controller.close();
  const end = await reader.read(new Uint8Array(1));
  assert.equal(end.done, true);
  assert.equal(end.value.byteLength, 0);
});

test("byte stream: a default reader gets autoAllocateChunkSize views from pull()", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 16,
    pull(c) {
      c.byobRequest.view[0] = 42;
      c.byobRequest.respond(1);
      c.close();
    },
  });
  const { value } = await rs.getReader().read();
  assert.ok(value instanceof Uint8Array);
  assert.deepEqual([...value], [42]);
});

test("byte stream: getReader({ mode: 'byob' }) on a default stream throws TypeError", () => {
  assert.throws(() => new ReadableStream().getReader({ mode: "byob" }), TypeError);
});

// --- WritableStream ----------------------------------------------------------------------------------

test("WritableStream: writes reach the sink in order, then close", async () => {
  const log = [];
  const writer = recordingWritable(log).getWriter();
  writer.write("a");
  writer.write("b");
  await writer.close();
  assert.deepEqual(log, [["write", "a"], ["write", "b"], ["close"]]);
  await writer.closed;
});

test("WritableStream: desiredSize and ready reflect the queue against the high-water mark", async () => {
  let release;
  const ws = new WritableStream(
    {
      write() {
        return new Promise((resolve) => {
          release = resolve;
        });
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 4 })
  );
  const writer = ws.getWriter();
  assert.equal(writer.desiredSize, 4);
  writer.write(bytes(1, 2, 3));
  assert.equal(writer.desiredSize, 1);
  writer.write(bytes(4, 5));
  assert.equal(writer.desiredSize, -1);
  let ready = false;
  writer.ready.then(() => {
    ready = true;
  });
  await settle();
  assert.ok(!ready, "ready waits while the queue is over the mark");
  release();
  await settle();
  assert.ok(ready, "ready resolves once the sink caught up");
});

test("WritableStream: abort() hands its reason to the sink and errors the writer", async () => {
  const log = [];
  const writer = recordingWritable(log).getWriter();
  await writer.abort("stop");
  assert.deepEqual(log, [["abort", "stop"]]);
  assert.equal(await writer.closed.catch((e) => e), "stop");
  assert.equal(await writer.write("late").catch((e) => e), "stop");
});

test("WritableStream: a sink error rejects the write and errors the stream", async () => {
  const boom = new Error("sink failed");
  const writer = new WritableStream({
    write() {
      throw boom;
    },
  }).getWriter();
  assert.equal(await writer.write("x").catch((e) => e), boom);
  assert.equal(await writer.closed.catch((e) => e), boom);
});

test("queuing strategies: size functions and highWaterMark", () => {
  const bytesStrategy = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
  assert.equal(bytesStrategy.highWaterMark, 16);
  assert.equal(bytesStrategy.size(new Uint8Array(5)), 5);
  const count = new CountQueuingStrategy({ highWaterMark: 3 });
  assert.equal(count.highWaterMark, 3);
  assert.equal(count.size("anything"), 1);
  assert.throws(() => new CountQueuingStrategy(), TypeError);
});

// --- TransformStream, pipes ----------------------------------------------------------------------------

test("TransformStream: transform and flush run in order through pipeThrough", async () => {
  const upper = new TransformStream({
    transform(chunk, c) {
      c.enqueue(chunk.toUpperCase());
    },
    flush(c) {
      c.enqueue("!");
    },
  });
  assert.deepEqual(await readAllChunks(ReadableStream.from(["a", "b"]).pipeThrough(upper)), ["A", "B", "!"]);
});

test("TransformStream: a write waits for a reader (writable HWM 1, readable HWM 0)", async () => {
  const ts = new TransformStream();
  const writer = ts.writable.getWriter();
  let written = false;
  writer.write("x").then(() => {
    written = true;
  });
  await settle();
  assert.ok(!written, "the identity transform holds the chunk until read");
  const reader = ts.readable.getReader();
  assert.deepEqual(await reader.read(), { value: "x", done: false });
  await settle();
  assert.ok(written);
});

test("TransformStream: terminate() closes the readable and errors the writable", async () => {
  const ts = new TransformStream({
    transform(chunk, c) {
      c.enqueue(chunk);
      c.terminate();
    },
  });
  const writer = ts.writable.getWriter();
  const reader = ts.readable.getReader();
  writer.write("only");
  assert.deepEqual(await reader.read(), { value: "only", done: false });
  assert.deepEqual(await reader.read(), { value: undefined, done: true });
  assert.ok((await writer.closed.catch((e) => e)) instanceof TypeError);
});

test("TransformStream: an error thrown by transform() errors both sides", async () => {
  const boom = new Error("transform failed");
  const ts = new TransformStream({
    transform() {
      throw boom;
    },
  });
  const writer = ts.writable.getWriter();
  const reader = ts.readable.getReader();
  const read = reader.read();
  assert.equal(await writer.write("x").catch((e) => e), boom);
  assert.equal(await read.catch((e) => e), boom);
});

test("pipeTo: every chunk arrives and close propagates; preventClose keeps the destination open", async () => {
  const log = [];
  await ReadableStream.from(["a", "b"]).pipeTo(recordingWritable(log));
  assert.deepEqual(log, [["write", "a"], ["write", "b"], ["close"]]);

  const kept = [];
  const ws = recordingWritable(kept);
  await ReadableStream.from(["c"]).pipeTo(ws, { preventClose: true });
  assert.deepEqual(kept, [["write", "c"]]);
  assert.ok(!ws.locked, "the pipe released the destination");
  await ws.getWriter().close();
  assert.deepEqual(kept, [["write", "c"], ["close"]]);
});

test("pipeTo: a source error aborts the destination unless preventAbort", async () => {
  const boom = new Error("source failed");
  const failing = () =>
    new ReadableStream({
      start(c) {
        c.error(boom);
      },
    });
  const log = [];
  assert.equal(await failing().pipeTo(recordingWritable(log)).catch((e) => e), boom);
  assert.deepEqual(log, [["abort", boom]]);

  const kept = [];
  assert.equal(await failing().pipeTo(recordingWritable(kept), { preventAbort: true }).catch((e) => e), boom);
  assert.deepEqual(kept, []);
});

test("pipeTo: a destination error cancels the source unless preventCancel", async () => {
  const boom = new Error("sink failed");
  const sink = () =>
    new WritableStream({
      write() {
        throw boom;
      },
    });
  let cancelled;
  const source = () =>
    new ReadableStream({
      pull(c) {
        c.enqueue("x");
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
  assert.equal(await source().pipeTo(sink()).catch((e) => e), boom);
  assert.equal(cancelled, boom);

  cancelled = undefined;
  const kept = source();
  assert.equal(await kept.pipeTo(sink(), { preventCancel: true }).catch((e) => e), boom);
  assert.equal(cancelled, undefined);
  assert.ok(!kept.locked);
});

test("pipeTo: an AbortSignal stops the pipe, aborting the destination and cancelling the source", async () => {
  const controller = new AbortController();
  let cancelled;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue("tick");
      return new Promise((resolve) => setTimeout(resolve, 1));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const log = [];
  const piped = rs.pipeTo(recordingWritable(log), { signal: controller.signal });
  await settle();
  controller.abort(new Error("client went away"));
  const error = await piped.catch((e) => e);
  assert.equal(error.message, "client went away");
  assert.equal(cancelled.message, "client went away");
  assert.equal(log.at(-1)[0], "abort");

  const already = new AbortController();
  already.abort();
  const error2 = await ReadableStream.from(["x"]).pipeTo(new WritableStream(), { signal: already.signal }).catch((e) => e);
  assert.equal(error2.name, "AbortError");
});

test("a Response made from a stream that was read from is refused (isDisturbed)", async () => {
  const rs = ReadableStream.from([enc.encode("x")]);
  const reader = rs.getReader();
  await reader.read();
  reader.releaseLock();
  assert.throws(() => new Response(rs), TypeError);
});

// --- IdentityTransformStream ----------------------------------------------------------------------------

test("IdentityTransformStream: bytes pass through unchanged, as copies", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const chunk = bytes(1, 2, 3);
  const read = readable.getReader().read();
  await writer.write(chunk);
  chunk[0] = 99;
  const { value } = await read;
  assert.deepEqual([...value], [1, 2, 3]);
  assert.equal(chunk.buffer.byteLength, 3, "the caller's buffer is not detached");
});

test("IdentityTransformStream: ArrayBuffer, DataView and typed-array chunks are accepted as bytes", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  writer.write(bytes(1, 2).buffer);
  writer.write(new DataView(bytes(0, 3, 4, 0).buffer, 1, 2));
  writer.write(new Uint16Array([0x0605]));
  writer.write(new Uint8Array(0));
  writer.close();
  const out = concat(await readAllChunks(readable));
  assert.deepEqual([...out], [1, 2, 3, 4, 5, 6]);
});

test("IdentityTransformStream: strings are written as UTF-8 (workerd since 2026-05)", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  writer.write("héllo");
  writer.close();
  assert.equal(dec.decode(concat(await readAllChunks(readable))), "héllo");
});

test("IdentityTransformStream: other chunk types are workerd's TypeError", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const reader = readable.getReader();
  const read = reader.read();
  const error = await writable.getWriter().write({ not: "bytes" }).catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side."
  );
  assert.equal(await read.catch((e) => e), error, "the reader sees the same error");
});

test("IdentityTransformStream: a write completes only when a read takes it (workerd's rendezvous)", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  let written = false;
  writer.write(bytes(1)).then(() => {
    written = true;
  });
  await settle();
  assert.ok(!written, "no reader yet, so the write is still pending");
  const reader = readable.getReader();
  assert.deepEqual([...(await reader.read()).value], [1]);
  await settle();
  assert.ok(written);
  // Writes issued without awaiting queue up and are all delivered.
  writer.write(bytes(2));
  writer.write(bytes(3));
  writer.close();
  assert.deepEqual([...(await reader.read()).value], [2]);
  assert.deepEqual([...(await reader.read()).value], [3]);
  assert.equal((await reader.read()).done, true);
});

test("IdentityTransformStream: the readable side is a byte stream (BYOB reads split a write)", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const reader = readable.getReader({ mode: "byob" });
  writer.write(bytes(1, 2, 3, 4, 5));
  writer.close();
  assert.deepEqual([...(await reader.read(new Uint8Array(2))).value], [1, 2]);
  assert.deepEqual([...(await reader.read(new Uint8Array(8))).value], [3, 4, 5]);
  assert.equal((await reader.read(new Uint8Array(8))).done, true);
});

test("IdentityTransformStream: cancelling the readable errors the writable with the reason", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const pending = writer.write(bytes(1));
  await readable.cancel("gone");
  assert.equal(await pending.catch((e) => e), "gone");
  assert.equal(await writer.closed.catch((e) => e), "gone");
});

test("IdentityTransformStream: aborting the writable errors a pending read (workerd streams-test)", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const reader = readable.getReader();
  const read = reader.read();
  const reason = new Error("Some arbitrary, capricious reason.");
  await writer.abort(reason);
  assert.equal(await read.catch((e) => e), reason);
  assert.equal(await reader.closed.catch((e) => e), reason);
  assert.equal(await writer.closed.catch((e) => e), reason);
});

test("IdentityTransformStream: a writer aborted while its write waits for a reader does not hang", async () => {
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const pending = writer.write(bytes(1));
  await writer.abort("stop");
  assert.equal(await pending.catch((e) => e), "stop");
  assert.equal(await readable.getReader().read().catch((e) => e), "stop");
});

test("IdentityTransformStream: pipeThrough carries a byte source to the end", async () => {
  const source = ReadableStream.from([enc.encode("ab"), enc.encode("cd")]);
  const out = concat(await readAllChunks(source.pipeThrough(new IdentityTransformStream())));
  assert.equal(dec.decode(out), "abcd");
});

test("IdentityTransformStream: { highWaterMark } counts bytes on the writable side", () => {
  const writer = new IdentityTransformStream({ highWaterMark: 10 }).writable.getWriter();
  assert.equal(writer.desiredSize, 10);
  writer.write(bytes(1, 2, 3, 4));
  assert.equal(writer.desiredSize, 6);
});

// --- readAtLeast --------------------------------------------------------------------------------------

test("readAtLeast: small writes are gathered until the minimum (workerd streams-r2-patterns-test)", async () => {
  const { readable, writable } = new FixedLengthStream(12);
  const reader = readable.getReader({ mode: "byob" });
  const writer = writable.getWriter();
  for (let n = 0; n < 8; n++) writer.write(new Uint8Array(1));
  writer.write(bytes(1));
  writer.write(bytes(2));
  writer.write(bytes(3));
  writer.write(bytes(4));
  const first = await reader.readAtLeast(8, new Uint8Array(8));
  assert.equal(first.value.byteLength, 8);
  const second = await reader.readAtLeast(2, new Uint8Array(4));
  assert.deepEqual([...second.value], [1, 2]);
  const third = await reader.readAtLeast(2, new Uint8Array(4));
  assert.deepEqual([...third.value], [3, 4]);
});

test("readAtLeast: counts elements of the view, and returns what is left at the end", async () => {
  const rs = ReadableStream.from([bytes(1, 2, 3)]).pipeThrough(new IdentityTransformStream());
  const reader = rs.getReader({ mode: "byob" });
  const { value, done } = await reader.readAtLeast(2, new Uint8Array(8));
  assert.equal(done, false);
  assert.deepEqual([...value], [1, 2, 3]);
  const last = await reader.readAtLeast(1, new Uint8Array(8));
  assert.equal(last.done, true);
});

test("readAtLeast: invalid arguments reject with workerd's messages", async () => {
  const reader = new IdentityTransformStream().readable.getReader({ mode: "byob" });
  const cases = [
    [0, new Uint8Array(4), "Requested invalid minimum number of bytes to read (0)."],
    [5, new Uint8Array(4), "Minimum bytes to read (5) exceeds size of buffer (4)."],
    [3, new Uint16Array(2), "Minimum bytes to read (6) exceeds size of buffer (4)."],
    [1, new Uint8Array(0), 'You must call read() on a "byob" reader with a positive-sized TypedArray object.'],
  ];
  for (const [min, view, message] of cases) {
    const error = await reader.readAtLeast(min, view).catch((e) => e);
    assert.ok(error instanceof TypeError, message);
    assert.equal(error.message, message);
  }
  assert.ok((await reader.readAtLeast(1, "nope").catch((e) => e)) instanceof TypeError);
});

test("readAtLeast exists only on BYOB readers", () => {
  const reader = new ReadableStream({ type: "bytes" }).getReader();
  assert.throws(() => reader.readAtLeast(1, new Uint8Array(1)), TypeError);
});

// --- FixedLengthStream ----------------------------------------------------------------------------------

test("FixedLengthStream: exactly the declared bytes pass", async () => {
  const { readable, writable } = new FixedLengthStream(5);
  const writer = writable.getWriter();
  writer.write(enc.encode("he"));
  writer.write(enc.encode("llo"));
  const closed = writer.close();
  assert.equal(dec.decode(concat(await readAllChunks(readable))), "hello");
  await closed;
});

test("FixedLengthStream: a Response body of one has the declared bytes", async () => {
  const { readable, writable } = new FixedLengthStream(3);
  const writer = writable.getWriter();
  writer.write(bytes(1, 2, 3));
  writer.close();
  const body = new Uint8Array(await new Response(readable).arrayBuffer());
  assert.deepEqual([...body], [1, 2, 3]);
});

test("FixedLengthStream: writing more than declared is workerd's TypeError, for writer and reader", async () => {
  const { readable, writable } = new FixedLengthStream(3);
  const writer = writable.getWriter();
  const reader = readable.getReader();
  const read = reader.read();
  writer.write(bytes(1, 2));
  assert.deepEqual([...(await read).value], [1, 2]);
  const error = await writer.write(bytes(3, 4)).catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "Attempt to write too many bytes through a FixedLengthStream.");
  assert.equal(await reader.read().catch((e) => e), error);
});

test("FixedLengthStream: closing early resolves close() but errors the reader (as workerd)", async () => {
  const { readable, writable } = new FixedLengthStream(4);
  const writer = writable.getWriter();
  const reader = readable.getReader();
  const read = reader.read();
  writer.write(bytes(1, 2));
  assert.deepEqual([...(await read).value], [1, 2]);
  const next = reader.read();
  await writer.close();
  const error = await next.catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "FixedLengthStream did not see all expected bytes before close().");
});

test("FixedLengthStream: constructor preconditions (workerd streams-test)", () => {
  new FixedLengthStream(-0.0);
  new FixedLengthStream(0.00001);
  new FixedLengthStream(Number.MAX_SAFE_INTEGER);
  new FixedLengthStream(10n);
  assert.throws(() => new FixedLengthStream(Number.MAX_SAFE_INTEGER + 1), {
    name: "TypeError",
    message: "FixedLengthStream requires an integer expected length less than 2^53.",
  });
  assert.throws(() => new FixedLengthStream(-1), {
    name: "TypeError",
    message: "The value cannot be converted because it is negative and this API expects a positive bigint.",
  });
  assert.throws(() => new FixedLengthStream(NaN), {
    name: "TypeError",
    message: "The value cannot be converted because it is not an integer.",
  });
});

test("FixedLengthStream(0): closing at once is fine", async () => {
  const { readable, writable } = new FixedLengthStream(0);
  await writable.getWriter().close();
  assert.deepEqual(await readAllChunks(readable), []);
});

test("FixedLengthStream: highWaterMark is capped at the declared length", () => {
  const writer = new FixedLengthStream(10, { highWaterMark: 100 }).writable.getWriter();
  assert.equal(writer.desiredSize, 10);
});

// --- TextEncoderStream / TextDecoderStream ----------------------------------------------------------------

test("TextEncoderStream: strings become UTF-8, surrogate pairs may straddle chunks", async () => {
  const ts = new TextEncoderStream();
  assert.equal(ts.encoding, "utf-8");
  const out = ReadableStream.from(["a", "\uD83D", "\uDE00b", 1]).pipeThrough(ts);
  assert.deepEqual([...concat(await readAllChunks(out))], [0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62, 0x31]);
});

test("TextEncoderStream: lone surrogates become U+FFFD, also a high one left at the end", async () => {
  const out = ReadableStream.from(["\uDE00x", "\uD83D"]).pipeThrough(new TextEncoderStream());
  assert.deepEqual([...concat(await readAllChunks(out))], [0xef, 0xbf, 0xbd, 0x78, 0xef, 0xbf, 0xbd]);
});

test("TextDecoderStream: multi-byte sequences may straddle chunks; BOM is stripped", async () => {
  const ts = new TextDecoderStream();
  assert.equal(ts.encoding, "utf-8");
  assert.equal(ts.fatal, false, "no options: the TextDecoder default");
  assert.equal(new TextDecoderStream("utf-8", {}).fatal, true, "an options object: workerd defaults fatal to true");
  assert.equal(ts.ignoreBOM, false);
  const source = ReadableStream.from([bytes(0xef, 0xbb, 0xbf, 0x68, 0xc3), bytes(0xa9, 0xe2, 0x82), bytes(0xac).buffer]);
  assert.equal((await readAllChunks(source.pipeThrough(ts))).join(""), "hé€");
});

test("TextDecoderStream: invalid UTF-8 is workerd's TypeError when fatal, U+FFFD when not", async () => {
  const reader = ReadableStream.from([bytes(0x61, 0xff)]).pipeThrough(new TextDecoderStream("utf-8", {})).getReader();
  const error = await reader.read().catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "Failed to decode input.");

  const truncated = ReadableStream.from([bytes(0x61, 0xe2, 0x82)]).pipeThrough(new TextDecoderStream("utf-8", { fatal: false }));
  assert.equal((await readAllChunks(truncated)).join(""), "a\uFFFD");
  const lenient = ReadableStream.from([bytes(0x62, 0xff)]).pipeThrough(new TextDecoderStream());
  assert.equal((await readAllChunks(lenient)).join(""), "b\uFFFD");
});

test("TextDecoderStream: non-buffer chunks are workerd's TypeError", async () => {
  const error = await ReadableStream.from(["text"]).pipeThrough(new TextDecoderStream()).getReader().read().catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "This TransformStream is being used as a byte stream, but received a value that is not a BufferSource.");
});

test("a body made from a FixedLengthStream knows its length", async () => {
  const { readable, writable } = new FixedLengthStream(5);
  const response = new Response(readable);
  const writer = writable.getWriter();
  writer.write(new TextEncoder().encode("hello"));
  writer.close();
  assert.equal(await response.text(), "hello");
  const other = new FixedLengthStream(3);
  assert.equal(new Request("http://x/", { method: "POST", body: other.readable, duplex: "half" }).method, "POST");
});
