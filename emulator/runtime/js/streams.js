// WHATWG Streams from web-streams-polyfill (the reference implementation's port), plus the stream classes
// only Workers has and the helpers the body code needs. The polyfill keeps the spec's [[disturbed]] slot
// as `_disturbed`; package.json pins the version and tests/webapi guard the coupling.
//
// Workers' own transforms (IdentityTransformStream, FixedLengthStream, CompressionStream,
// DecompressionStream) are C++ in workerd, and the shape they share is what `bytePipe` reproduces: the
// writable side takes bytes (strings as UTF-8, since workerd 2026-05), the readable side is a byte stream
// (BYOB readers and readAtLeast work on it), and every write is copied. TextEncoderStream and
// TextDecoderStream are plain TransformStreams in workerd too. Compression runs in Python's zlib through
// the host functions zlibOpen/zlibWrite/zlibClose (emulator/runtime/host/compression.py).
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from "web-streams-polyfill";
import { fromHost, host } from "./host.js";
import { encodeUtf8 } from "./utf8.js";

export {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
};

export function isDisturbed(stream) {
  return stream._disturbed === true;
}

// The declared length of a FixedLengthStream's readable side, so that a body made from it knows its
// Content-Length as workerd's does (identity-transform-stream.c++, tryGetLength). null for other streams.
const declaredLengths = new WeakMap();

export function expectedLength(stream) {
  return declaredLengths.get(stream) ?? null;
}

// --- workerd's messages, verbatim ---------------------------------------------------------------------
// internal.c++, WritableStreamInternalController::write
const NOT_BYTES =
  "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.";
// identity-transform-stream.c++
const TOO_MANY_BYTES = "Attempt to write too many bytes through a FixedLengthStream.";
const TOO_FEW_BYTES = "FixedLengthStream did not see all expected bytes before close().";
const LENGTH_TOO_BIG = "FixedLengthStream requires an integer expected length less than 2^53.";
// jsg/value.h, uint64_t conversion
const NOT_AN_INTEGER = "The value cannot be converted because it is not an integer.";
const NEGATIVE = "The value cannot be converted because it is negative and this API expects a positive bigint.";
const BIGINT_LOSSY =
  "The value cannot be converted because it is either negative and this API expects a positive bigint, or the value would be truncated.";
// encoding.c++, TextDecoderStream
const NOT_BUFFER_SOURCE = "This TransformStream is being used as a byte stream, but received a value that is not a BufferSource.";
const DECODE_FAILED = "Failed to decode input.";
// compression.c++ (strict_compression_checks, the default since 2023-08-01)
const BAD_FORMAT = "The compression format must be either 'deflate', 'deflate-raw' or 'gzip'.";
const DECOMPRESSION_FAILED = "Decompression failed.";
const TRAILING_BYTES = "Trailing bytes after end of compressed data";
const INCOMPLETE_DATA = "Called close() on a decompression stream with incomplete data";

// --- ReadableStreamBYOBReader.prototype.readAtLeast (a workerd extension) ---------------------------
// readAtLeast(minElements, view) is read(view, { min: minElements }) with workerd's checks and messages
// (readable.c++, ReaderImpl::read). Like read(), it rejects rather than throws.
function readAtLeast(minElements, view) {
  if (!ArrayBuffer.isView(view)) {
    return Promise.reject(
      new TypeError("Failed to execute 'readAtLeast' on 'ReadableStreamBYOBReader': parameter 2 is not of type 'ArrayBufferView'.")
    );
  }
  const byteLength = view.byteLength;
  const elementSize = view.BYTES_PER_ELEMENT ?? 1;
  const min = Math.trunc(Number(minElements)) || 0;
  if (byteLength === 0) {
    return Promise.reject(new TypeError('You must call read() on a "byob" reader with a positive-sized TypedArray object.'));
  }
  if (min === 0) return Promise.reject(new TypeError("Requested invalid minimum number of bytes to read (0)."));
  // workerd takes the count as a C++ int widened to size_t: a negative one shows as a huge number.
  const shown = min < 0 ? BigInt.asUintN(64, BigInt(min)).toString() : String(min);
  if (min < 0 || min * elementSize > byteLength) {
    const bytes = min < 0 || min > byteLength ? shown : String(min * elementSize);
    return Promise.reject(new TypeError(`Minimum bytes to read (${bytes}) exceeds size of buffer (${byteLength}).`));
  }
  return this.read(view, { min });
}
Object.defineProperty(ReadableStreamBYOBReader.prototype, "readAtLeast", {
  value: readAtLeast,
  writable: true,
  enumerable: true,
  configurable: true,
});

// --- the byte pipe under workerd's C++ transforms -----------------------------------------------------

// A chunk written to a byte writable, as a Uint8Array view (not a copy), or null for an empty one (a
// no-op). Strings are written as UTF-8 (workerd commit 4b81488e, "Allow writing strings ... to internal
// streams"); any other value is workerd's TypeError.
function chunkBytes(chunk) {
  let bytes;
  if (typeof chunk === "string") bytes = encodeUtf8(chunk);
  else if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk);
  else if (ArrayBuffer.isView(chunk) || chunk instanceof Uint8Array) {
    bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  } else throw new TypeError(NOT_BYTES);
  return bytes.byteLength === 0 ? null : bytes;
}

// Writable strategy of workerd's internal writables: without a highWaterMark workerd never signals
// backpressure; one chunk in flight keeps pipeTo() from reading a whole source into the queue. With one,
// the mark counts bytes (internal.c++, adjustWriteBufferSize).
function byteStrategy(highWaterMark) {
  if (highWaterMark === undefined) return { highWaterMark: 1 };
  return { highWaterMark: Number(highWaterMark), size: (chunk) => (typeof chunk === "string" ? chunk.length * 3 : chunk?.byteLength ?? 1) };
}

// Builds { readable, writable } joined by `engine`:
//   engine.rendezvous          true: a write waits until a reader asks for bytes
//   engine.admit(bytes)        checks a chunk before any waiting; a throw errors both sides
//   engine.write(bytes, port)  takes one non-empty chunk; may return a promise; a throw errors both sides
//   engine.close(port)         the writable was closed (may port.error() instead of letting it close);
//                              may return a promise
//   engine.release()           called once when the pipe is done for any reason (close, cancel, abort, error)
// port.enqueue(bytes) hands bytes (owned by the pipe: the readable transfers them) to the reader;
// port.demand() resolves once a reader is waiting (the rendezvous of workerd's identity pipe);
// port.error(reason) errors the readable side.
function bytePipe(engine, writableStrategy) {
  let readableController;
  let writableController;
  let pendingPull = null; // resolves the readable's pull() once bytes were handed over
  let waitingWrite = null; // { resolve, reject } of a write waiting for a reader
  let open = true; // the readable side can still take bytes
  let released = false;

  const release = () => {
    if (!released) {
      released = true;
      engine.release?.();
    }
  };
  const settlePull = () => {
    const resolve = pendingPull;
    pendingPull = null;
    resolve?.();
  };
  const stopWaiting = (reason) => {
    const waiter = waitingWrite;
    waitingWrite = null;
    waiter?.reject(reason);
  };
  // Every way the pipe ends goes through cancel (reader side), port.error, or close; each releases.
  const port = {
    enqueue(bytes) {
      if (!open) return;
      readableController.enqueue(bytes);
      settlePull();
    },
    demand() {
      if (pendingPull !== null || !open) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waitingWrite = { resolve, reject };
      });
    },
    error(reason) {
      if (!open) return;
      open = false;
      readableController.error(reason);
      settlePull();
      release();
    },
  };

  const readable = new ReadableStream(
    {
      type: "bytes",
      start(controller) {
        readableController = controller;
      },
      pull() {
        if (!engine.rendezvous) return undefined;
        return new Promise((resolve) => {
          pendingPull = resolve;
          const waiter = waitingWrite;
          waitingWrite = null;
          waiter?.resolve();
        });
      },
      cancel(reason) {
        open = false;
        writableController.error(reason);
        stopWaiting(reason);
        release();
      },
    },
    { highWaterMark: 0 }
  );

  const writable = new WritableStream(
    {
      start(controller) {
        writableController = controller;
      },
      async write(chunk, controller) {
        try {
          const bytes = chunkBytes(chunk);
          if (bytes === null) return;
          engine.admit?.(bytes);
          if (engine.rendezvous && pendingPull === null) {
            const onAbort = () => stopWaiting(controller.signal.reason);
            controller.signal.addEventListener("abort", onAbort);
            try {
              await port.demand();
            } finally {
              controller.signal.removeEventListener("abort", onAbort);
            }
          }
          await engine.write(bytes, port);
        } catch (error) {
          port.error(error);
          throw error;
        }
      },
      async close() {
        try {
          await engine.close?.(port);
        } catch (error) {
          port.error(error);
          throw error;
        }
        if (open) {
          open = false;
          readableController.close();
          // A BYOB read still waiting ends only when told that no byte will come (the spec's way).
          readableController.byobRequest?.respond(0);
          settlePull();
        }
        release();
      },
      abort(reason) {
        port.error(reason);
      },
    },
    writableStrategy
  );
  return { readable, writable };
}

// A TransformStream (instanceof holds, as in workerd) whose two sides are a bytePipe rather than the
// standard transform machinery the constructor builds and this class leaves unused.
class ByteTransformStream extends TransformStream {
  #readable;
  #writable;

  constructor(engine, writableStrategy) {
    super();
    const { readable, writable } = bytePipe(engine, writableStrategy);
    this.#readable = readable;
    this.#writable = writable;
  }

  get readable() {
    return this.#readable;
  }

  get writable() {
    return this.#writable;
  }
}

// --- IdentityTransformStream and FixedLengthStream ----------------------------------------------------

// workerd's identity pipe is a rendezvous: a write completes only when a read takes its bytes, so
// `await writer.write(x)` with no read pending waits (as on Cloudflare; see identity-transform-stream.c++).
function identityEngine(limit) {
  let remaining = limit;
  return {
    rendezvous: true,
    // Checked before the rendezvous, so that an oversized write fails without waiting for a reader.
    admit(bytes) {
      if (remaining === null) return;
      if (bytes.byteLength > remaining) throw new TypeError(TOO_MANY_BYTES);
      remaining -= bytes.byteLength;
    },
    write(bytes, port) {
      port.enqueue(bytes.slice()); // a copy: the caller keeps its buffer, the readable transfers ours
    },
    close(port) {
      // workerd resolves close() and errors the reader (tryReadInternal sees EOF with bytes missing).
      if (remaining !== null && remaining > 0) port.error(new TypeError(TOO_FEW_BYTES));
    },
  };
}

const kFixedLength = Symbol("FixedLengthStream");

export class IdentityTransformStream extends ByteTransformStream {
  // (token, limit) are FixedLengthStream's way in; user code cannot pass the token.
  constructor(strategy = undefined, token = undefined, limit = null) {
    super(identityEngine(token === kFixedLength ? limit : null), byteStrategy(strategy?.highWaterMark));
  }

  get [Symbol.toStringTag]() {
    return "IdentityTransformStream";
  }
}

// jsg's uint64_t conversion (jsg/value.h) followed by FixedLengthStream's own 2^53 check.
function toExpectedLength(value) {
  let length;
  if (typeof value === "bigint") {
    if (value < 0n || value >= 2n ** 64n) throw new TypeError(BIGINT_LOSSY);
    length = value;
  } else {
    const number = Number(value);
    if (!Number.isFinite(number)) throw new TypeError(NOT_AN_INTEGER);
    if (number < 0) throw new TypeError(NEGATIVE);
    if (number > 2 ** 64 - 1) throw new TypeError("Value out of range. Must be less than or equal to 18446744073709551615.");
    length = Math.trunc(number);
  }
  if (length > Number.MAX_SAFE_INTEGER) throw new TypeError(LENGTH_TOO_BIG);
  return Number(length);
}

export class FixedLengthStream extends IdentityTransformStream {
  constructor(length, strategy = undefined) {
    const expected = toExpectedLength(length);
    // A highWaterMark above the expected length buys nothing (identity-transform-stream.c++).
    const highWaterMark = strategy?.highWaterMark === undefined ? undefined : Math.min(expected, Number(strategy.highWaterMark));
    super({ highWaterMark }, kFixedLength, expected);
    declaredLengths.set(this.readable, expected);
  }

  get [Symbol.toStringTag]() {
    return "FixedLengthStream";
  }
}

// --- CompressionStream and DecompressionStream ---------------------------------------------------------

const COMPRESS = 0;
const DECOMPRESS = 1;
const FORMATS = new Map([["gzip", 0], ["deflate", 1], ["deflate-raw", 2]]);

// A zlib stream that JS dropped without finishing (never read to the end, never cancelled) is released
// when the garbage collector finds it, so the worker's handle table (bounded in compression.py) drains.
const abandoned = new FinalizationRegistry((handle) => {
  try {
    host.zlibClose(handle);
  } catch {
    // truncated input: nobody is left to tell
  }
});

// Python's exceptions arrive as Error("Python CorruptStream: <message>\nTraceback …"): keep workerd's
// TypeError for bad compressed data, and the first line of anything else.
function hostError(error) {
  const text = String(error?.message ?? error);
  for (const message of [TRAILING_BYTES, INCOMPLETE_DATA, DECOMPRESSION_FAILED]) {
    if (text.includes(message)) return new TypeError(message);
  }
  return new Error(text.split("\n")[0].replace(/^Python \w+: /, ""));
}

// One zlib stream in the host, opened on first use, so that a stream constructed and never used
// costs no handle. A full handle table has just run the garbage collector (compression.py), so the
// open is tried once more after the FinalizationRegistry callbacks it queued have had their turn.
class ZlibStream {
  #mode;
  #format;
  #handle = 0;
  #done = false;

  constructor(mode, format) {
    this.#mode = mode;
    this.#format = format;
  }

  // true once open; false if released meanwhile; a promise of either when the table was full.
  open() {
    if (this.#handle !== 0) return true;
    if (this.#done) return false;
    try {
      this.#handle = host.zlibOpen(this.#mode, this.#format);
    } catch {
      return this.#openLater();
    }
    abandoned.register(this, this.#handle, this);
    return true;
  }

  async #openLater() {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.#done) return false;
    try {
      this.#handle = host.zlibOpen(this.#mode, this.#format);
    } catch (error) {
      this.#done = true;
      throw hostError(error);
    }
    abandoned.register(this, this.#handle, this);
    return true;
  }

  // write() and end() need open() to have returned true.
  write(bytes) {
    const handle = this.#handle;
    try {
      return fromHost(host.zlibWrite(handle, bytes));
    } catch (error) {
      this.#forget(); // a failed write released the handle in Python
      throw hostError(error);
    }
  }

  end() {
    const handle = this.#handle;
    this.#forget();
    try {
      return fromHost(host.zlibClose(handle));
    } catch (error) {
      throw hostError(error);
    }
  }

  release() {
    if (this.#handle === 0) return;
    const handle = this.#handle;
    this.#forget();
    try {
      host.zlibClose(handle);
    } catch {
      // the stream was cancelled or aborted: its data, complete or not, no longer matters
    }
  }

  #forget() {
    if (this.#handle !== 0) abandoned.unregister(this);
    this.#handle = 0;
    this.#done = true;
  }
}

// workerd compresses each write as it comes and buffers the output until read (compression.c++ has no
// backpressure), so `await writer.write(data)` before reading completes there, and here.
function zlibEngine(mode, format) {
  const zlib = new ZlibStream(mode, format);
  const whenOpen = (then) => {
    const opened = zlib.open();
    if (opened === true) return then();
    return opened === false ? undefined : opened.then((ok) => (ok ? then() : undefined));
  };
  const emit = (out, port) => {
    if (out.byteLength > 0) port.enqueue(out);
  };
  return {
    rendezvous: false,
    write(bytes, port) {
      return whenOpen(() => emit(zlib.write(bytes), port));
    },
    close(port) {
      return whenOpen(() => emit(zlib.end(), port));
    },
    release() {
      zlib.release();
    },
  };
}

function zlibFormat(format) {
  const code = FORMATS.get(String(format));
  if (code === undefined) throw new TypeError(BAD_FORMAT);
  return code;
}

export class CompressionStream extends ByteTransformStream {
  constructor(format) {
    super(zlibEngine(COMPRESS, zlibFormat(format)), byteStrategy(undefined));
  }

  get [Symbol.toStringTag]() {
    return "CompressionStream";
  }
}

export class DecompressionStream extends ByteTransformStream {
  constructor(format) {
    super(zlibEngine(DECOMPRESS, zlibFormat(format)), byteStrategy(undefined));
  }

  get [Symbol.toStringTag]() {
    return "DecompressionStream";
  }
}

// --- TextEncoderStream and TextDecoderStream (encoding.c++) ---------------------------------------------
// Standard TransformStreams (readable highWaterMark 0 since encoder_stream_spec_compliant_backpressure,
// 2026-03-24), using whatever TextEncoder / TextDecoder the global scope has when one is constructed.

const REPLACEMENT_UTF8 = [0xef, 0xbf, 0xbd];

export class TextEncoderStream extends TransformStream {
  constructor() {
    const encoder = new globalThis.TextEncoder();
    let pending = ""; // a high surrogate that ended the previous chunk, waiting for its low half
    super({
      transform(chunk, controller) {
        const string = String(chunk);
        if (string.length === 0) return;
        let text = pending + string;
        pending = "";
        const last = text.charCodeAt(text.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pending = text[text.length - 1];
          text = text.slice(0, -1);
        }
        if (text.length > 0) controller.enqueue(encoder.encode(text));
      },
      flush(controller) {
        if (pending !== "") controller.enqueue(new Uint8Array(REPLACEMENT_UTF8));
      },
    });
  }

  get encoding() {
    return "utf-8";
  }

  get [Symbol.toStringTag]() {
    return "TextEncoderStream";
  }
}

export class TextDecoderStream extends TransformStream {
  #decoder;

  // workerd's quirk (encoding.c++): given an options object, `fatal` defaults to true (without the
  // pedantic_wpt flag); given none, the TextDecoder's own default (false) holds.
  constructor(label = undefined, options = undefined) {
    const decoderOptions =
      options === undefined ? undefined : { fatal: options.fatal === undefined ? true : Boolean(options.fatal), ignoreBOM: Boolean(options.ignoreBOM) };
    const decoder = new globalThis.TextDecoder(label === undefined ? "utf-8" : label, decoderOptions);
    const decode = (bytes, stream) => {
      try {
        return decoder.decode(bytes, { stream });
      } catch {
        throw new TypeError(DECODE_FAILED);
      }
    };
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk))) throw new TypeError(NOT_BUFFER_SOURCE);
        const text = decode(chunk, true);
        if (text.length > 0) controller.enqueue(text);
      },
      flush(controller) {
        const text = decode(undefined, false);
        if (text.length > 0) controller.enqueue(text);
      },
    });
    this.#decoder = decoder;
  }

  get encoding() {
    return this.#decoder.encoding;
  }

  get fatal() {
    return this.#decoder.fatal;
  }

  get ignoreBOM() {
    return this.#decoder.ignoreBOM;
  }

  get [Symbol.toStringTag]() {
    return "TextDecoderStream";
  }
}

// Every stream class a Worker sees as a global (js/index.js installs them).
export const STREAM_GLOBALS = {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  ReadableStreamBYOBRequest,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  IdentityTransformStream,
  FixedLengthStream,
  CompressionStream,
  DecompressionStream,
  TextEncoderStream,
  TextDecoderStream,
};
