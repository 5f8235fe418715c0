// CompressionStream and DecompressionStream as a handler sees them, against workerd's compression.c++:
// formats, strict decompression errors (the default since 2023-08-01), writes that do not wait for a
// reader, byte-stream readable sides. Python-side checks and handle cleanup: tests/runtime/test_compression.py.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const TEXT = "Hello, Workers!".repeat(3);
// Produced by Python: gzip.compress(TEXT, mtime=0), zlib.compress(TEXT), and raw deflate of TEXT.
const VECTORS = {
  gzip: [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 243, 72, 205, 201, 201, 215, 81, 8, 207, 47, 202, 78, 45, 42, 86, 244, 192, 203, 5, 0, 22, 155, 136, 134, 45, 0, 0, 0],
  deflate: [120, 156, 243, 72, 205, 201, 201, 215, 81, 8, 207, 47, 202, 78, 45, 42, 86, 244, 192, 203, 5, 0, 110, 6, 15, 235],
  "deflate-raw": [243, 72, 205, 201, 201, 215, 81, 8, 207, 47, 202, 78, 45, 42, 86, 244, 192, 203, 5, 0],
};
const FORMATS = Object.keys(VECTORS);

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

async function collect(readable) {
  const chunks = [];
  for await (const chunk of readable) {
    assert.ok(chunk instanceof Uint8Array, "output chunks are Uint8Array");
    chunks.push(chunk);
  }
  return concat(chunks);
}

function through(chunks, transform) {
  return collect(ReadableStream.from(chunks).pipeThrough(transform));
}

async function decompressError(format, data) {
  return through([new Uint8Array(data)], new DecompressionStream(format)).then(
    () => null,
    (error) => error
  );
}

test("both classes are TransformStreams with byte-stream readable sides", async () => {
  for (const Class of [CompressionStream, DecompressionStream]) {
    const stream = new Class("gzip");
    assert.ok(stream instanceof TransformStream);
    assert.equal(Object.prototype.toString.call(stream), `[object ${Class.name}]`);
    stream.readable.getReader({ mode: "byob" }).releaseLock();
  }
});

test("an unknown format is workerd's TypeError", () => {
  for (const format of ["br", "GZIP", undefined, "deflate64"]) {
    assert.throws(() => new CompressionStream(format), {
      name: "TypeError",
      message: "The compression format must be either 'deflate', 'deflate-raw' or 'gzip'.",
    });
    assert.throws(() => new DecompressionStream(format), TypeError);
  }
});

test("data compressed by Python decompresses, in every format", async () => {
  for (const format of FORMATS) {
    const out = await through([new Uint8Array(VECTORS[format])], new DecompressionStream(format));
    assert.equal(dec.decode(out), TEXT, format);
  }
});

test("compressed output has the format's framing and round-trips", async () => {
  for (const format of FORMATS) {
    const packed = await through([enc.encode(TEXT)], new CompressionStream(format));
    if (format === "gzip") assert.deepEqual([...packed.subarray(0, 3)], [0x1f, 0x8b, 8], "gzip magic and method");
    if (format === "deflate") assert.equal(packed[0], 0x78, "zlib header");
    assert.equal(dec.decode(await through([packed], new DecompressionStream(format))), TEXT, format);
  }
});

test("compressed data fed one byte at a time still decompresses", async () => {
  const gz = VECTORS.gzip.map((b) => new Uint8Array([b]));
  assert.equal(dec.decode(await through(gz, new DecompressionStream("gzip"))), TEXT);
});

test("empty input compresses to a valid empty stream", async () => {
  const packed = await through([], new CompressionStream("gzip"));
  assert.ok(packed.byteLength >= 20, "a gzip header and trailer");
  assert.equal((await through([packed], new DecompressionStream("gzip"))).byteLength, 0);
});

test("strings, ArrayBuffers and other views are accepted as bytes; other chunks are TypeError", async () => {
  const packed = await through(["Hel", enc.encode("lo").buffer, new DataView(enc.encode("!!").buffer)], new CompressionStream("deflate"));
  assert.equal(dec.decode(await through([packed], new DecompressionStream("deflate"))), "Hello!!");
  const error = await through([42], new CompressionStream("gzip")).catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side."
  );
});

test("writes complete before anyone reads (workerd buffers compression output)", async () => {
  const cs = new CompressionStream("gzip");
  const writer = cs.writable.getWriter();
  await writer.write(enc.encode(TEXT));
  await writer.write(enc.encode(TEXT));
  await writer.close();
  const text = await new Response(cs.readable.pipeThrough(new DecompressionStream("gzip"))).text();
  assert.equal(text, TEXT + TEXT);
});

test("a BYOB reader can read compressed output into its own buffer", async () => {
  const cs = new CompressionStream("deflate-raw");
  const writer = cs.writable.getWriter();
  writer.write(enc.encode(TEXT));
  writer.close();
  const reader = cs.readable.getReader({ mode: "byob" });
  const parts = [];
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(7));
    if (done) break;
    assert.ok(value.byteLength <= 7);
    parts.push(value);
  }
  assert.deepEqual([...concat(parts)], VECTORS["deflate-raw"]);
});

test("invalid compressed data is workerd's TypeError, for reader and writer", async () => {
  const ds = new DecompressionStream("gzip");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const read = reader.read();
  const error = await writer.write(enc.encode("this is not gzip at all")).catch((e) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "Decompression failed.");
  assert.equal(await read.catch((e) => e), error);
  assert.equal((await decompressError("deflate", [1, 2, 3, 4, 5, 6])).message, "Decompression failed.");
});

test("truncated compressed data fails at close with workerd's message", async () => {
  for (const format of FORMATS) {
    const cut = VECTORS[format].slice(0, -3);
    const error = await decompressError(format, cut);
    assert.ok(error instanceof TypeError, format);
    assert.equal(error.message, "Called close() on a decompression stream with incomplete data", format);
  }
  const ds = new DecompressionStream("gzip");
  const writer = ds.writable.getWriter();
  writer.write(new Uint8Array(VECTORS.gzip.slice(0, 10)));
  const closed = await writer.close().catch((e) => e);
  assert.equal(closed.message, "Called close() on a decompression stream with incomplete data", "close() rejects too");
});

test("empty input is not a compressed stream", async () => {
  const error = await decompressError("gzip", []);
  assert.equal(error?.message, "Called close() on a decompression stream with incomplete data");
});

test("bytes after the end of the compressed data are workerd's TypeError", async () => {
  const error = await decompressError("gzip", [...VECTORS.gzip, 0]);
  assert.ok(error instanceof TypeError);
  assert.equal(error.message, "Trailing bytes after end of compressed data");
  const twoMembers = await decompressError("gzip", [...VECTORS.gzip, ...VECTORS.gzip]);
  assert.equal(twoMembers.message, "Trailing bytes after end of compressed data", "one gzip member only, as zlib");
});

test("cancelling the readable errors the writable with the reason", async () => {
  const cs = new CompressionStream("gzip");
  const writer = cs.writable.getWriter();
  await writer.write(enc.encode(TEXT));
  await cs.readable.cancel("no longer needed");
  assert.equal(await writer.write(enc.encode(TEXT)).catch((e) => e), "no longer needed");
  assert.equal(await writer.closed.catch((e) => e), "no longer needed");
});

test("aborting the writable errors the readable with the reason", async () => {
  const ds = new DecompressionStream("gzip");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  await writer.write(new Uint8Array(VECTORS.gzip.slice(0, 12)));
  await writer.abort("stop");
  assert.equal(await reader.read().catch((e) => e), "stop");
});

// 8 MiB in 64 KiB chunks, compressed and decompressed as streams; checks length and a checksum instead of
// holding the data. Half the chunks are noise (incompressible), half are text.
test("8 MiB through CompressionStream and DecompressionStream in 64 KiB chunks", async () => {
  const CHUNK = 64 * 1024;
  const COUNT = 128;
  let seed = 12345;
  let sent = 0;
  let sentSum = 0;
  const source = new ReadableStream({
    type: "bytes",
    pull(c) {
      if (sent === COUNT) return c.close();
      const chunk = new Uint8Array(CHUNK);
      if (sent % 2 === 0) {
        for (let i = 0; i < CHUNK; i++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          chunk[i] = seed >>> 24;
        }
      } else {
        chunk.set(enc.encode(TEXT.repeat(Math.ceil(CHUNK / TEXT.length)).slice(0, CHUNK)));
      }
      for (let i = 0; i < CHUNK; i += 97) sentSum = (sentSum + chunk[i] * (i + 1)) % 1000000007;
      sent++;
      c.enqueue(chunk);
    },
  });
  let received = 0;
  let receivedSum = 0;
  let chunks = 0;
  const out = source.pipeThrough(new CompressionStream("gzip")).pipeThrough(new DecompressionStream("gzip"));
  let position = 0;
  for await (const chunk of out) {
    chunks++;
    for (let i = 0; i < chunk.byteLength; i++) {
      const offset = (position + i) % CHUNK;
      if (offset % 97 === 0) receivedSum = (receivedSum + chunk[i] * (offset + 1)) % 1000000007;
    }
    position += chunk.byteLength;
    received += chunk.byteLength;
  }
  assert.equal(received, CHUNK * COUNT);
  assert.equal(receivedSum, sentSum);
  assert.ok(chunks > 10, `output arrived as a stream (${chunks} chunks)`);
});
