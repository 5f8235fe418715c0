// The Fetch "Body" mixin shared by Request and Response. A body whose bytes are known (a string, a buffer,
// a Blob, bytes from the bridge) keeps them and makes a ReadableStream only if someone asks for `.body`, so
// the common handler (`new Response("text")`) never builds a stream on its way back to the emulator.
import { Blob, blobBytes } from "./blob.js";
import { FormData, parseFormData, serializeFormData } from "./formdata.js";
import { ReadableStream, isDisturbed } from "./streams.js";
import { encodeUtf8, utf8ToString } from "./utf8.js";

export const kBody = Symbol("body");

export const BODY_USED =
  "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";

// source: Uint8Array | null (known bytes); stream: ReadableStream | null; used: consumed through a method.
export class BodyState {
  constructor(source, stream) {
    this.source = source;
    this.stream = stream;
    this.used = false;
  }

  get length() {
    return this.source === null ? null : this.source.byteLength;
  }
}

// Fetch "extract a body": returns [BodyState, contentType | null].
export function extractBody(init) {
  if (init === null || init === undefined) return [null, null];
  if (typeof init === "string") return [new BodyState(encodeUtf8(init), null), "text/plain;charset=UTF-8"];
  if (init instanceof ReadableStream) {
    if (isDisturbed(init) || init.locked) {
      throw new TypeError("This ReadableStream is disturbed (has already been read from), and cannot be used as a body.");
    }
    return [new BodyState(null, init), null];
  }
  if (init instanceof ArrayBuffer) return [new BodyState(new Uint8Array(init).slice(), null), null];
  if (ArrayBuffer.isView(init)) {
    return [new BodyState(new Uint8Array(init.buffer, init.byteOffset, init.byteLength).slice(), null), null];
  }
  if (init instanceof Blob) return [new BodyState(blobBytes(init).slice(), null), init.type === "" ? null : init.type];
  if (init instanceof URLSearchParams) {
    return [new BodyState(encodeUtf8(init.toString()), null), "application/x-www-form-urlencoded;charset=UTF-8"];
  }
  if (init instanceof FormData) {
    const [bytes, boundary] = serializeFormData(init);
    return [new BodyState(bytes, null), `multipart/form-data; boundary=${boundary}`];
  }
  return [new BodyState(encodeUtf8(String(init)), null), "text/plain;charset=UTF-8"];
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
    const used = state.used;
    state.stream = new ReadableStream({
      type: "bytes",
      start(controller) {
        if (!used && bytes.byteLength) controller.enqueue(bytes);
        controller.close();
      },
    });
    if (used) state.stream._disturbed = true;
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
  if (state.stream.locked) throw new TypeError("This ReadableStream is currently locked to a reader.");
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

// Body chunks must be bytes, as in workerd; a string chunk is a handler bug worth a clear message.
export function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError(
    "This ReadableStream did not return bytes. A Request or Response body stream must produce Uint8Array or ArrayBuffer chunks (use TextEncoderStream to turn strings into bytes)."
  );
}

// Splits a body for clone(): both owners end up with independent readers of the same bytes.
export function cloneBody(owner) {
  const state = owner[kBody];
  if (state === null) return null;
  if (bodyUsed(owner)) throw new TypeError(BODY_USED);
  if (state.stream === null) return new BodyState(state.source.slice(), null);
  const [mine, theirs] = state.stream.tee();
  state.stream = mine;
  return new BodyState(null, theirs);
}

export function mixinBody(Class) {
  const methods = {
    get body() {
      return bodyStream(this);
    },
    get bodyUsed() {
      return bodyUsed(this);
    },
    async arrayBuffer() {
      const bytes = await consumeBody(this);
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
    },
    async bytes() {
      return consumeBody(this);
    },
    async text() {
      return stripBom(utf8ToString(await consumeBody(this)));
    },
    async json() {
      return JSON.parse(await this.text());
    },
    async blob() {
      const bytes = await consumeBody(this);
      return new Blob([bytes], { type: this.headers.get("content-type") ?? "" });
    },
    async formData() {
      const contentType = this.headers.get("content-type") ?? "";
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
