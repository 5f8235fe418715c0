// The Fetch "Body" mixin shared by Request and Response, with workerd's rules (src/workerd/api/http.c++,
// Body::extractBody and the Body methods). A body whose bytes are known (a string, a buffer, a Blob, bytes
// from the bridge or from fetch()) keeps them and builds a ReadableStream only if someone asks for `.body`, so
// the common handler (`new Response("text")`, `return fetch(request)`) never builds a stream at all.
import { Blob, blobBytes, makeBlob } from "./blob.js";
import { FormData, extractMimeType, parseFormData, serializeFormData, serializeMimeType } from "./formdata.js";
import { ReadableStream, declareLength, expectedLength, isDisturbed } from "./streams.js";
import { encodeUtf8, utf8ToString } from "./utf8.js";

export const kBody = Symbol("body");

export const BODY_USED =
  "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";
export const STREAM_LOCKED = "This ReadableStream is currently locked to a reader.";
const STREAM_DISTURBED = "This ReadableStream is disturbed (has already been read from), and cannot be used as a body.";
const NOT_BYTES = "This ReadableStream did not return bytes.";

export const TEXT_PLAIN = "text/plain;charset=UTF-8";
const FORM_URLENCODED = "application/x-www-form-urlencoded;charset=UTF-8";

// source: Uint8Array | null, the known bytes; stream: ReadableStream | null; used: consumed by a method;
// oneTime: the body came from a stream or an iterable, so fetch() cannot send it again after a redirect.
// (js/bridge.js reads source, stream and used when it sends a handler's Response.)
export class BodyState {
  constructor(source, stream, oneTime = false) {
    this.source = source;
    this.stream = stream;
    this.used = false;
    this.oneTime = oneTime;
  }

  // The body's size when known: the bytes held, or a FixedLengthStream's declared length (workerd tryGetLength).
  get length() {
    if (this.source !== null) return this.source.byteLength;
    return this.stream === null ? null : expectedLength(this.stream);
  }
}

// Fetch "extract a body": returns [BodyState | null, contentType | null]. The order of the checks follows
// workerd's union: a stream, the buffer-like types, then any other iterable (read as a stream of chunks,
// which must be bytes), then anything else as a string.
export function extractBody(init) {
  if (init === null || init === undefined) return [null, null];
  if (typeof init === "string") return [new BodyState(encodeUtf8(init), null), TEXT_PLAIN];
  if (typeof init === "object" || typeof init === "function") {
    if (init instanceof ReadableStream) {
      if (isDisturbed(init)) throw new TypeError(STREAM_DISTURBED);
      if (init.locked) throw new TypeError(STREAM_LOCKED);
      return [new BodyState(null, init, true), null];
    }
    // Buffers are copied, as Fetch requires: later writes to the caller's buffer do not change the body.
    if (init instanceof ArrayBuffer) return [new BodyState(new Uint8Array(init).slice(), null), null];
    if (ArrayBuffer.isView(init)) {
      return [new BodyState(new Uint8Array(init.buffer, init.byteOffset, init.byteLength).slice(), null), null];
    }
    // An empty Blob type sets no Content-Type.
    if (init instanceof Blob) return [new BodyState(blobBytes(init).slice(), null), init.type === "" ? null : init.type];
    if (init instanceof FormData) {
      const [bytes, boundary] = serializeFormData(init);
      return [new BodyState(bytes, null), `multipart/form-data; boundary=${boundary}`];
    }
    if (init instanceof URLSearchParams) return [new BodyState(encodeUtf8(init.toString()), null), FORM_URLENCODED];
    if (typeof init[Symbol.asyncIterator] === "function" || typeof init[Symbol.iterator] === "function") {
      return [new BodyState(null, ReadableStream.from(init), true), null];
    }
  }
  return [new BodyState(encodeUtf8(`${init}`), null), TEXT_PLAIN];
}

export function bodyUsed(owner) {
  const state = owner[kBody];
  if (state === null) return false;
  return state.used || (state.stream !== null && isDisturbed(state.stream));
}

export function bodyStream(owner) {
  const state = owner[kBody];
  if (state === null) return null;
  if (state.stream === null) {
    const bytes = state.source;
    if (state.used) {
      // A consumed body is a stream that is locked and disturbed, as after reading it in workerd.
      state.stream = new ReadableStream({ type: "bytes" });
      state.stream.getReader();
      state.stream._disturbed = true;
    } else {
      state.stream = new ReadableStream({
        type: "bytes",
        start(controller) {
          // enqueue() transfers the chunk's buffer, which may be shared with the bridge payload.
          if (bytes.byteLength) controller.enqueue(bytes.slice());
          controller.close();
        },
      });
      declareLength(state.stream, bytes.byteLength);
    }
    state.source = null;
  }
  return state.stream;
}

// Reads the whole body once. Known bytes are returned without a stream; a stream is drained.
export async function consumeBody(owner) {
  const state = owner[kBody];
  if (bodyUsed(owner)) throw new TypeError(BODY_USED);
  if (state === null) return new Uint8Array(0);
  if (state.stream === null) {
    state.used = true;
    const bytes = state.source;
    state.source = null;
    return bytes;
  }
  if (state.stream.locked) throw new TypeError(STREAM_LOCKED);
  return readAll(state.stream);
}

export async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const chunk = toBytes(value);
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

// Body chunks must be bytes, as in workerd; js/bridge.js uses this for a handler's streamed Response too.
export function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError(NOT_BYTES);
}

// Splits a body for clone(): both owners end up with independent readers of the same bytes.
export function cloneBody(owner) {
  const state = owner[kBody];
  if (state === null) return null;
  if (bodyUsed(owner)) throw new TypeError(state.stream !== null && state.stream.locked ? STREAM_LOCKED : BODY_USED);
  if (state.stream === null) return new BodyState(state.source.slice(), null, state.oneTime);
  if (state.stream.locked) throw new TypeError(STREAM_LOCKED);
  const [mine, theirs] = state.stream.tee();
  state.stream = mine;
  return new BodyState(null, theirs, state.oneTime);
}

// The body handed to a new owner (new Request(request)); the old owner is left used and disturbed.
export function takeBody(owner) {
  const state = owner[kBody];
  if (state === null) return null;
  const taken = new BodyState(state.source, state.stream, state.oneTime);
  state.source = null;
  state.stream = null;
  state.used = true;
  return taken;
}

// A second owner of the same body (new Request(url, otherRequest)): workerd shares the stream itself.
export function shareBody(owner) {
  const state = owner[kBody];
  if (state === null) return null;
  if (bodyUsed(owner)) throw new TypeError(STREAM_DISTURBED);
  if (state.stream === null) return new BodyState(state.source.slice(), null, state.oneTime);
  return new BodyState(null, state.stream, state.oneTime);
}

// The body as a Uint8Array / ArrayBuffer of its own (a view onto a larger buffer is copied out).
export async function consumeBytes(target) {
  const bytes = await consumeBody(target);
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

export async function consumeArrayBuffer(target) {
  return (await consumeBytes(target)).buffer;
}

export function mixinBody(Class) {
  const methods = {
    get body() {
      return bodyStream(this);
    },
    get bodyUsed() {
      return bodyUsed(this);
    },
    arrayBuffer() {
      return consumeArrayBuffer(this);
    },
    bytes() {
      return consumeBytes(this);
    },
    // UTF-8 with replacement; a leading byte order mark is dropped (workerd strip_bom_in_read_all_text).
    async text() {
      return stripBom(utf8ToString(await consumeBody(this)));
    },
    async json() {
      return JSON.parse(await this.text());
    },
    // The Blob's type is the Content-Type as a parsed MIME type (workerd blob_standard_mime_type), or "".
    async blob() {
      const bytes = await consumeBody(this);
      const contentType = this.headers.get("content-type");
      const mime = contentType === null ? null : extractMimeType(contentType);
      return makeBlob(bytes, mime === null ? "" : serializeMimeType(mime));
    },
    async formData() {
      if (bodyUsed(this)) throw new TypeError(BODY_USED);
      const contentType = this.headers.get("content-type");
      if (contentType === null) throw new TypeError("Parsing a Body as FormData requires a Content-Type header.");
      return parseFormData(await consumeBody(this), contentType);
    },
  };
  for (const key of Object.getOwnPropertyNames(methods)) {
    Object.defineProperty(Class.prototype, key, {
      ...Object.getOwnPropertyDescriptor(methods, key),
      enumerable: true,
    });
  }
}

function stripBom(text) {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
