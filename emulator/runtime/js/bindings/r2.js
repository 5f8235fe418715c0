// R2Bucket: env.<binding> for r2_buckets. The bucket lives in the emulator (bindings/r2, served by
// emulator/runtime/env/r2.py); this file is workerd's client half (src/workerd/api/r2-bucket.c++,
// r2-multipart.c++): it checks and converts options as workerd does, with workerd's TypeError/RangeError
// texts where they depend on JS types, and builds R2Object / R2ObjectBody / R2MultipartUpload from replies.
//
// Bodies: a put value up to INLINE_BYTES rides in the call; a larger one, or any stream, is pushed in chunks
// of about CHUNK_BYTES through an upload ("write"/"finish"/"abort"), so no value is ever whole in memory
// twice. A get body comes back whole when small, else as a stream pulled a chunk at a time.
import { callBinding, pulledBody } from "./rpc.js";
import {
  BodyState,
  STREAM_LOCKED,
  bodyStream,
  bodyUsed,
  consumeArrayBuffer,
  consumeBody,
  consumeBytes,
  kBody,
  toBytes,
} from "../body.js";
import { Blob, blobBytes, makeBlob } from "../blob.js";
import { Headers } from "../headers.js";
import { ReadableStream, declareLength, expectedLength, isDisturbed } from "../streams.js";
import { encodeUtf8, utf8ToString } from "../utf8.js";

const INLINE_BYTES = 1 << 20;
const CHUNK_BYTES = 1 << 20;
const GATHER_BYTES = 256 << 10; // small stream chunks are gathered up to this before a write

// --- workerd's messages, verbatim (r2-rpc.c++, r2-bucket.c++, r2-multipart.c++) ---------------------------
const UNKNOWN_LENGTH =
  "Provided readable stream must have a known length (request/response body or readable half of FixedLengthStream)";
const STREAM_DISTURBED = "This ReadableStream is disturbed (has already been read from), and cannot be used as a body.";
const MULTIPLE_HASHES = "You cannot specify multiple hashing algorithms.";
const HASHES = [
  ["md5", "MD5", 16],
  ["sha1", "SHA-1", 20],
  ["sha256", "SHA-256", 32],
  ["sha384", "SHA-384", 48],
  ["sha512", "SHA-512", 64],
];
const INCLUDE_FIELDS = ["httpMetadata", "customMetadata"];
const HTTP_FIELDS = ["contentType", "contentLanguage", "contentDisposition", "contentEncoding", "cacheControl"];

const kCreate = Symbol("R2 internal");
const kBinding = Symbol("R2 binding");
const kHex = Symbol("R2 checksums");

// A pulled body nobody reads to the end is closed on the emulator's side once it is garbage.
const unread = new FinalizationRegistry(({ binding, id }) => {
  try {
    callBinding(binding, "close", { s: id }).catch(() => {});
  } catch {
    // the worker is shutting down
  }
});

// --- R2Bucket --------------------------------------------------------------------------------------------

export class R2Bucket {
  constructor(name) {
    Object.defineProperty(this, kBinding, { value: name });
  }

  async head(key) {
    const [reply] = await callBinding(this[kBinding], "head", { k: keyString(key) });
    return reply.o === null ? null : new R2Object(kCreate, reply.o);
  }

  async get(key, options = undefined) {
    const args = { k: keyString(key) };
    if (options !== undefined && options !== null) {
      if (options.onlyIf !== undefined) args.c = conditional(options.onlyIf);
      if (options.range !== undefined) {
        if (options.range instanceof Headers) {
          const header = options.range.get("range");
          if (header !== null) args.rh = header;
        } else {
          args.r = rangeOption(options.range);
        }
      }
    }
    const binding = this[kBinding];
    const [reply, bytes] = await callBinding(binding, "get", args);
    if (reply.o === null) return null;
    if (reply.s !== undefined) return new R2ObjectBody(kCreate, reply.o, pulled(binding, reply.s, reply.o.range.length));
    if (reply.b !== undefined) return new R2ObjectBody(kCreate, reply.o, new BodyState(bytes, null));
    return new R2Object(kCreate, reply.o); // onlyIf did not hold
  }

  async put(key, value, options = undefined) {
    const args = { k: keyString(key) };
    if (options !== undefined && options !== null) {
      if (options.onlyIf !== undefined) args.c = conditional(options.onlyIf);
      if (options.customMetadata !== undefined) args.cm = customMetadata(options.customMetadata);
      if (options.httpMetadata !== undefined) args.hm = httpMetadata(options.httpMetadata);
      const checksum = checksumOption(options);
      if (checksum !== null) args.ck = checksum;
      if (options.storageClass !== undefined) args.sc = String(options.storageClass);
    }
    const body = putValue(value, "put", "R2Bucket", true);
    const [reply] = await send(this[kBinding], "put", args, body);
    return reply.o === null ? null : new R2Object(kCreate, reply.o);
  }

  async delete(keys) {
    const k = Array.isArray(keys) ? keys.map(keyString) : keyString(keys);
    await callBinding(this[kBinding], "delete", { k });
  }

  async list(options = undefined) {
    const args = {};
    if (options !== undefined && options !== null) {
      if (options.limit !== undefined) args.limit = Number(options.limit) | 0;
      for (const name of ["prefix", "cursor", "delimiter", "startAfter"]) {
        if (options[name] !== undefined) args[name] = stringField(options[name], name, "R2ListOptions");
      }
      if (options.include !== undefined) {
        args.include = [...options.include].map((field) => {
          if (!INCLUDE_FIELDS.includes(field)) throw new RangeError(`Unsupported include value ${field}`);
          return field;
        });
      }
    }
    const [reply] = await callBinding(this[kBinding], "list", args);
    const result = {
      objects: reply.objects.map((o) => new R2Object(kCreate, o)),
      truncated: reply.truncated,
    };
    if (reply.cursor !== undefined) result.cursor = reply.cursor;
    result.delimitedPrefixes = reply.delimitedPrefixes;
    return result;
  }

  async createMultipartUpload(key, options = undefined) {
    const args = { k: keyString(key) };
    if (options !== undefined && options !== null) {
      if (options.customMetadata !== undefined) args.cm = customMetadata(options.customMetadata);
      if (options.httpMetadata !== undefined) args.hm = httpMetadata(options.httpMetadata);
      if (options.storageClass !== undefined) args.sc = String(options.storageClass);
    }
    const [reply] = await callBinding(this[kBinding], "createMultipartUpload", args);
    return new R2MultipartUpload(kCreate, this[kBinding], args.k, reply.uploadId);
  }

  resumeMultipartUpload(key, uploadId) {
    return new R2MultipartUpload(kCreate, this[kBinding], keyString(key), String(uploadId));
  }

  get [Symbol.toStringTag]() {
    return "R2Bucket";
  }
}

// --- R2MultipartUpload -----------------------------------------------------------------------------------

export class R2MultipartUpload {
  constructor(token, binding, key, uploadId) {
    if (token !== kCreate) throw new TypeError("Illegal constructor");
    Object.defineProperty(this, kBinding, { value: binding });
    Object.defineProperties(this, {
      key: { value: key, enumerable: true },
      uploadId: { value: uploadId, enumerable: true },
    });
  }

  async uploadPart(partNumber, value, options = undefined) {
    const number = partNumberOf(partNumber);
    const body = putValue(value, "uploadPart", "R2MultipartUpload", false);
    const args = { k: this.key, id: this.uploadId, n: number };
    const [reply] = await send(this[kBinding], "uploadPart", args, body);
    return { partNumber: number, etag: reply.etag };
  }

  async abort() {
    await callBinding(this[kBinding], "abortMultipartUpload", { k: this.key, id: this.uploadId });
  }

  async complete(uploadedParts) {
    const parts = [...uploadedParts].map((part) => [partNumberOf(part.partNumber), String(part.etag)]);
    const [reply] = await callBinding(this[kBinding], "completeMultipartUpload", { k: this.key, id: this.uploadId, parts });
    return new R2Object(kCreate, reply.o);
  }

  get [Symbol.toStringTag]() {
    return "R2MultipartUpload";
  }
}

// --- R2Object, R2ObjectBody, R2Checksums ---------------------------------------------------------------

export class R2Checksums {
  constructor(token, hex) {
    if (token !== kCreate) throw new TypeError("Illegal constructor");
    Object.defineProperty(this, kHex, { value: hex });
    for (const [field] of HASHES) {
      if (hex[field] !== undefined) {
        Object.defineProperty(this, field, { value: hexToBytes(hex[field]).buffer, enumerable: true });
      }
    }
  }

  // Lowercase hex of each checksum the object has (an object put without one has its MD5).
  toJSON() {
    const out = {};
    for (const [field] of HASHES) if (this[kHex][field] !== undefined) out[field] = this[kHex][field];
    return out;
  }
}

export class R2Object {
  constructor(token, wire) {
    if (token !== kCreate) throw new TypeError("Illegal constructor");
    Object.defineProperties(this, {
      key: { value: wire.key, enumerable: true },
      version: { value: wire.version, enumerable: true },
      size: { value: wire.size, enumerable: true },
      etag: { value: wire.etag, enumerable: true },
      httpEtag: { value: `"${wire.etag}"`, enumerable: true },
      checksums: { value: new R2Checksums(kCreate, wire.checksums), enumerable: true },
      uploaded: { value: new Date(wire.uploaded), enumerable: true },
      httpMetadata: { value: wire.httpMetadata === undefined ? undefined : httpMetadataOf(wire.httpMetadata), enumerable: true },
      customMetadata: { value: wire.customMetadata === undefined ? undefined : { ...wire.customMetadata }, enumerable: true },
      range: { value: wire.range === undefined ? undefined : { offset: wire.range.offset, length: wire.range.length }, enumerable: true },
      storageClass: { value: wire.storageClass, enumerable: true },
      ssecKeyMd5: { value: undefined, enumerable: true },
    });
  }

  writeHttpMetadata(headers) {
    if (!(headers instanceof Headers)) {
      throw new TypeError("Failed to execute 'writeHttpMetadata' on 'R2Object': parameter 1 is not of type 'Headers'.");
    }
    const m = this.httpMetadata;
    if (m === undefined) {
      throw new TypeError(`HTTP metadata unknown for key \`${this.key}\`. Did you forget to add 'httpMetadata' to \`include\` when listing?`);
    }
    if (m.contentType !== undefined) headers.set("content-type", m.contentType);
    if (m.contentLanguage !== undefined) headers.set("content-language", m.contentLanguage);
    if (m.contentDisposition !== undefined) headers.set("content-disposition", m.contentDisposition);
    if (m.contentEncoding !== undefined) headers.set("content-encoding", m.contentEncoding);
    if (m.cacheControl !== undefined) headers.set("cache-control", m.cacheControl);
    if (m.cacheExpiry !== undefined) headers.set("expires", m.cacheExpiry.toUTCString());
  }

  get [Symbol.toStringTag]() {
    return "R2Object";
  }
}

export class R2ObjectBody extends R2Object {
  constructor(token, wire, body) {
    super(token, wire);
    Object.defineProperty(this, kBody, { value: body });
  }

  // The same stream every time (workerd's body.addRef()); it knows its length, so it can be put again.
  get body() {
    return bodyStream(this);
  }

  get bodyUsed() {
    return bodyUsed(this);
  }

  arrayBuffer() {
    return consumeArrayBuffer(this);
  }

  bytes() {
    return consumeBytes(this);
  }

  async text() {
    return utf8ToString(await consumeBody(this));
  }

  async json() {
    return JSON.parse(await this.text());
  }

  // The Blob's type is the stored Content-Type as it is (r2-bucket.c++ GetResult::blob), or "".
  async blob() {
    const bytes = await consumeBody(this);
    return makeBlob(bytes.slice(), this.httpMetadata?.contentType ?? "");
  }

  get [Symbol.toStringTag]() {
    return "R2ObjectBody";
  }
}

function pulled(binding, id, length) {
  // An R2 body knows its length, as in workerd: it can be put again, and a Response sends Content-Length.
  const stream = declareLength(pulledBody(binding, id), length);
  unread.register(stream, { binding, id });
  return new BodyState(null, stream, true);
}

// --- sending values ----------------------------------------------------------------------------------------

// workerd's R2PutValue: ReadableStream | ArrayBuffer | ArrayBufferView | string | Blob (and, for put, null).
// Returns { bytes } or { stream, length }.
function putValue(value, method, owner, nullable) {
  if ((value === null || value === undefined) && nullable) return { bytes: new Uint8Array(0) };
  if (typeof value === "string") return { bytes: encodeUtf8(value) };
  if (value instanceof ReadableStream) {
    if (value.locked) throw new TypeError(STREAM_LOCKED);
    if (isDisturbed(value)) throw new TypeError(STREAM_DISTURBED);
    const length = expectedLength(value);
    if (length === null) throw new TypeError(UNKNOWN_LENGTH);
    return { stream: value, length };
  }
  // Buffers are taken as they are now: workerd copies them before put() returns.
  if (value instanceof ArrayBuffer) return { bytes: copied(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { bytes: copied(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  if (value instanceof Blob) return { bytes: blobBytes(value) };
  throw new TypeError(
    `Failed to execute '${method}' on '${owner}': parameter 2 is not of type 'ReadableStream or ArrayBuffer or ArrayBufferView or string or Blob'.`,
  );
}

// A small value is packed into the call right away; only a large one is sent after an await.
function copied(bytes) {
  return bytes.byteLength <= INLINE_BYTES ? bytes : bytes.slice();
}

async function send(binding, operation, args, body) {
  if (body.bytes !== undefined && body.bytes.byteLength <= INLINE_BYTES) {
    return callBinding(binding, operation, { ...args, size: body.bytes.byteLength }, body.bytes);
  }
  const size = body.bytes !== undefined ? body.bytes.byteLength : body.length;
  const [{ u }] = await callBinding(binding, operation, { ...args, size, u: 1 });
  const write = (chunk) => callBinding(binding, "write", { u }, chunk);
  try {
    if (body.bytes !== undefined) {
      for (let at = 0; at < size; at += CHUNK_BYTES) await write(body.bytes.subarray(at, at + CHUNK_BYTES));
    } else {
      await pump(body.stream, write);
    }
  } catch (error) {
    await callBinding(binding, "abort", { u }).catch(() => {});
    throw error;
  }
  return callBinding(binding, "finish", { u });
}

// Reads a stream to its end, writing chunks of GATHER_BYTES..CHUNK_BYTES. If a write fails (the operation
// failed), the stream is cancelled with that error, as workerd cancels a put's stream.
async function pump(stream, write) {
  const reader = stream.getReader();
  let pending = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = pending.length === 1 ? pending[0] : concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await write(chunk);
  };
  let sending = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const bytes = toBytes(value);
      sending = true;
      if (bytes.byteLength >= GATHER_BYTES) {
        await flush();
        for (let at = 0; at < bytes.byteLength; at += CHUNK_BYTES) await write(bytes.subarray(at, at + CHUNK_BYTES));
      } else if (bytes.byteLength > 0) {
        pending.push(bytes.slice());
        pendingBytes += bytes.byteLength;
        if (pendingBytes >= GATHER_BYTES) await flush();
      }
      sending = false;
    }
    await flush();
  } catch (error) {
    if (sending) reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

// --- options ----------------------------------------------------------------------------------------------

// Keys and other strings go to the emulator as UTF-8 does: a lone surrogate becomes U+FFFD (kj::String).
function keyString(key) {
  return String(key).toWellFormed();
}

function stringField(value, field, struct) {
  if (typeof value !== "string") {
    throw new TypeError(`Incorrect type for the '${field}' field on '${struct}': the provided value is not of type 'string'.`);
  }
  return value.toWellFormed();
}

function dateMs(value, field, struct) {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "number") return value;
  throw new TypeError(`Incorrect type for the '${field}' field on '${struct}': the provided value is not of type 'Date'.`);
}

// onlyIf: an R2Conditional, or Headers (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since),
// whose etag lists the emulator parses (bindings/r2/conditionals.py) and whose dates JS parses, as workerd does.
function conditional(onlyIf) {
  if (onlyIf instanceof Headers) {
    const headers = {};
    const ifMatch = onlyIf.get("if-match");
    const ifNoneMatch = onlyIf.get("if-none-match");
    const ifModifiedSince = onlyIf.get("if-modified-since");
    const ifUnmodifiedSince = onlyIf.get("if-unmodified-since");
    if (ifMatch !== null) headers.ifMatch = ifMatch;
    if (ifNoneMatch !== null) headers.ifNoneMatch = ifNoneMatch;
    if (ifModifiedSince !== null) headers.ifModifiedSince = Date.parse(ifModifiedSince);
    if (ifUnmodifiedSince !== null) headers.ifUnmodifiedSince = Date.parse(ifUnmodifiedSince);
    return { headers };
  }
  const out = {};
  for (const field of ["etagMatches", "etagDoesNotMatch"]) {
    if (onlyIf[field] === undefined) continue;
    const etag = stringField(onlyIf[field], field, "R2Conditional");
    if (etag.startsWith('"') && etag.endsWith('"')) {
      throw new TypeError(`Conditional ETag should not be wrapped in quotes (${etag}).`);
    }
    out[field] = etag;
  }
  if (onlyIf.uploadedBefore !== undefined) out.uploadedBefore = dateMs(onlyIf.uploadedBefore, "uploadedBefore", "R2Conditional");
  if (onlyIf.uploadedAfter !== undefined) out.uploadedAfter = dateMs(onlyIf.uploadedAfter, "uploadedAfter", "R2Conditional");
  if (onlyIf.secondsGranularity !== undefined) out.secondsGranularity = Boolean(onlyIf.secondsGranularity);
  return out;
}

function isWholeNumber(x) {
  return Number.isFinite(x) && Math.trunc(x) === x;
}

// workerd initGetOptions: offset, then length, then suffix (which excludes both).
function rangeOption(range) {
  const out = {};
  if (range.offset !== undefined) {
    const offset = Number(range.offset);
    if (!(offset >= 0)) throw new RangeError(`Invalid range. Starting offset (${offset}) must be greater than or equal to 0.`);
    if (!isWholeNumber(offset)) throw new RangeError(`Invalid range. Starting offset (${offset}) must be an integer, not floating point.`);
    out.offset = offset;
  }
  if (range.length !== undefined) {
    const length = Number(range.length);
    if (!(length >= 0)) throw new RangeError(`Invalid range. Length (${length}) must be greater than or equal to 0.`);
    if (!isWholeNumber(length)) throw new RangeError(`Invalid range. Length (${length}) must be an integer, not floating point.`);
    out.length = length;
  }
  if (range.suffix !== undefined) {
    if (range.offset !== undefined) throw new TypeError("Suffix is incompatible with offset.");
    if (range.length !== undefined) throw new TypeError("Suffix is incompatible with length.");
    const suffix = Number(range.suffix);
    if (!(suffix >= 0)) throw new RangeError(`Invalid suffix. Suffix (${suffix}) must be greater than or equal to 0.`);
    if (!isWholeNumber(suffix)) throw new RangeError(`Invalid range. Suffix (${suffix}) must be an integer, not floating point.`);
    out.suffix = suffix;
  }
  return out;
}

// httpMetadata: an R2HTTPMetadata, or Headers (Content-Type, …, Expires), as HttpMetadata::fromRequestHeaders.
function httpMetadata(value) {
  const out = {};
  if (value instanceof Headers) {
    const names = {
      contentType: "content-type",
      contentLanguage: "content-language",
      contentDisposition: "content-disposition",
      contentEncoding: "content-encoding",
      cacheControl: "cache-control",
    };
    for (const field of HTTP_FIELDS) {
      const header = value.get(names[field]);
      if (header !== null) out[field] = header;
    }
    const expires = value.get("expires");
    if (expires !== null) out.cacheExpiry = Date.parse(expires);
    return out;
  }
  for (const field of HTTP_FIELDS) if (value[field] !== undefined) out[field] = String(value[field]).toWellFormed();
  if (value.cacheExpiry !== undefined) out.cacheExpiry = dateMs(value.cacheExpiry, "cacheExpiry", "R2HTTPMetadata");
  return out;
}

function httpMetadataOf(wire) {
  const out = {};
  for (const field of HTTP_FIELDS) if (wire[field] !== undefined) out[field] = wire[field];
  if (wire.cacheExpiry !== undefined) out.cacheExpiry = new Date(wire.cacheExpiry);
  return out;
}

function customMetadata(value) {
  const out = {};
  for (const [k, v] of Object.entries(value)) out[String(k).toWellFormed()] = String(v).toWellFormed();
  return out;
}

// The one checksum option of put(), as [field, lowercase hex]; workerd checks them in this order.
function checksumOption(options) {
  let found = null;
  for (const [field, name, bytes] of HASHES) {
    const value = options[field];
    if (value === undefined) continue;
    if (found !== null) throw new TypeError(MULTIPLE_HASHES);
    if (typeof value === "string") {
      if (value.length !== bytes * 2) throw new TypeError(`${name} is ${bytes * 2} hex characters, not ${value.length}`);
      if (!/^[0-9a-fA-F]*$/.test(value)) throw new TypeError(`Provided ${name} wasn't a valid hex string`);
      found = [field, value.toLowerCase()];
    } else if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      const view = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      if (view.byteLength !== bytes) throw new TypeError(`${name} is ${bytes} bytes, not ${view.byteLength}`);
      found = [field, bytesToHex(view)];
    } else {
      throw new TypeError(
        `Incorrect type for the '${field}' field on 'R2PutOptions': the provided value is not of type 'ArrayBuffer or ArrayBufferView or string'.`,
      );
    }
  }
  return found;
}

function partNumberOf(value) {
  const number = Number(value) | 0;
  if (number < 1 || number > 10000) {
    throw new TypeError(`Part number must be between 1 and 10000 (inclusive). Actual value was: ${number}`);
  }
  return number;
}

function bytesToHex(bytes) {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
