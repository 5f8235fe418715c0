// WHATWG Streams from web-streams-polyfill (the reference implementation's port), plus the stream classes
// only Workers has and the helpers the body code needs. The polyfill keeps the spec's [[disturbed]] slot
// as `_disturbed`; package.json pins the version and tests/webapi guard the coupling.
//
// Workers' own transforms (IdentityTransformStream, FixedLengthStream, CompressionStream,
// DecompressionStream) are C++ in workerd; the byte pipe they share is bytepipe.js, and compression, which
// runs in Python's zlib, is compression.js. TextEncoderStream and TextDecoderStream are plain
// TransformStreams in workerd too. STREAM_GLOBALS lists every stream class a Worker sees.
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
import { ByteTransformStream, byteStrategy } from "./bytepipe.js";
import { CompressionStream, DecompressionStream } from "./compression.js";

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
export { CompressionStream, DecompressionStream };

export function isDisturbed(stream) {
  return stream._disturbed === true;
}

// The declared length of a FixedLengthStream's readable side, so that a body made from it knows its
// Content-Length as workerd's does (identity-transform-stream.c++, tryGetLength). null for other streams.
const declaredLengths = new WeakMap();

export function expectedLength(stream) {
  return declaredLengths.get(stream) ?? null;
}

// Says that `stream` will produce exactly `length` bytes: a body made from known bytes, a fetch() response
// with a Content-Length, an R2 object's body. workerd knows these lengths too (tryGetLength), which is what
// lets R2 put() take such a stream and a Response send Content-Length.
export function declareLength(stream, length) {
  declaredLengths.set(stream, length);
  return stream;
}

// --- workerd's messages, verbatim ---------------------------------------------------------------------
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
