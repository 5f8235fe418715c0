// KVNamespace: env.<binding> for kv_namespaces (contract §4.1), with workerd's API (src/workerd/api/kv.c++).
// This side does what workerd does with JS values: it coerces keys to strings and options to 32-bit integers
// as jsg does, checks the put value's type and the response type, and turns bytes into text, JSON, buffers or
// streams. The emulator (emulator/runtime/env/kv.py → bindings/kv) checks keys, limits and options and stores.
// Values cross as bytes (strings are UTF-8 encoded here); metadata crosses as JSON text.
import { STREAM_LOCKED, readAll } from "../body.js";
import { ReadableStream, declareLength } from "../streams.js";
import { decodeUtf8, encodeUtf8 } from "../utf8.js";
import { callBinding, pulledBody } from "./rpc.js";

// workerd kv.c++, verbatim.
const PUT_VALUE_TYPES = "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.";
const UNKNOWN_TYPE = 'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".';
// jsg/value.h, converting a number to `int`.
const INT_RANGE = "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).";

export class KVNamespace {
  #binding; // the binding's name, which the emulator serves it under; private, as workerd's is

  constructor(binding) {
    this.#binding = binding;
  }

  async get(key, options) {
    if (Array.isArray(key)) return this.#getBulk(key, options, false);
    const found = await this.#getOne(key, options);
    return found === null ? null : found.value;
  }

  async getWithMetadata(key, options) {
    if (Array.isArray(key)) return this.#getBulk(key, options, true);
    const found = await this.#getOne(key, options);
    if (found === null) return { value: null, metadata: null, cacheStatus: null };
    return { value: found.value, metadata: found.metadata, cacheStatus: null };
  }

  async put(key, value, options) {
    const name = keyName(key);
    const args = { key: name, ...putOptions(options) };
    let body;
    if (typeof value === "string") {
      body = encodeUtf8(value);
    } else if (value instanceof ArrayBuffer) {
      body = new Uint8Array(value);
    } else if (ArrayBuffer.isView(value)) {
      body = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    } else if (value instanceof ReadableStream) {
      await this.#checkKey(name, "PUT"); // workerd rejects a bad key before it reads the stream
      if (value.locked) throw new TypeError(STREAM_LOCKED);
      body = await readAll(value);
    } else if (value !== null && (typeof value === "object" || typeof value === "function")) {
      await this.#checkKey(name, "PUT"); // workerd checks the key first
      throw new TypeError(PUT_VALUE_TYPES);
    } else {
      body = encodeUtf8(`${value}`); // jsg turns other primitives into their string, as workerd stores them
    }
    await callBinding(this.#binding, "put", args, body);
  }

  async delete(key) {
    await callBinding(this.#binding, "delete", { key: keyName(key) });
  }

  async list(options) {
    const args = {};
    if (options !== undefined && options !== null) {
      if (options.limit !== undefined) {
        const limit = toInt(options.limit);
        if (limit > 0) args.limit = limit; // workerd sends only a positive limit; else the default, 1000
      }
      if (options.prefix !== undefined && options.prefix !== null) args.prefix = `${options.prefix}`;
      if (options.cursor !== undefined && options.cursor !== null) args.cursor = `${options.cursor}`;
    }
    const [page] = await callBinding(this.#binding, "list", args);
    const keys = page.keys.map(([name, expiration, metadata]) => {
      const key = { name };
      if (expiration !== null) key.expiration = expiration;
      if (metadata !== null) key.metadata = JSON.parse(metadata);
      return key;
    });
    if (page.cursor === null) return { keys, list_complete: true, cacheStatus: null };
    return { keys, list_complete: false, cursor: page.cursor, cacheStatus: null };
  }

  async #getOne(key, options) {
    const name = keyName(key);
    const { type, cacheTtl } = getOptions(options);
    const [found, bytes] = await callBinding(this.#binding, "get", { key: name, cacheTtl, stream: type === "stream" });
    if (found === null) return null; // workerd answers a missing key before it looks at the type
    const metadata = found.m === null ? null : JSON.parse(found.m);
    switch (type) {
      case "text":
        return { value: decodeUtf8(bytes)[0], metadata };
      case "json":
        return { value: JSON.parse(decodeUtf8(bytes)[0]), metadata };
      case "arrayBuffer":
        return { value: bytes.slice().buffer, metadata };
      case "stream":
        // A value's size is known, so its stream has a known length (a Response of it sends Content-Length).
        if (found.s === undefined) return { value: bytesStream(bytes), metadata };
        return { value: declareLength(pulledBody(this.#binding, found.s), found.n), metadata };
      default:
        throw new TypeError(UNKNOWN_TYPE);
    }
  }

  async #getBulk(keys, options, withMetadata) {
    const names = Array.from(keys, keyName);
    let { type, cacheTtl } = getOptions(options);
    if (type === "") type = undefined; // workerd leaves an empty type out of the request
    const [found, texts] = await callBinding(this.#binding, "getBulk", { keys: names, type, cacheTtl });
    const results = new Map();
    let offset = 0;
    found.k.forEach((name, i) => {
      const entry = found.v[i];
      if (entry === null) {
        results.set(name, null);
        return;
      }
      const [length, metadata] = entry;
      const text = decodeUtf8(texts, offset, offset + length)[0];
      offset += length;
      const value = type === "json" ? JSON.parse(text) : text;
      results.set(name, withMetadata ? { value, metadata: metadata === null ? null : JSON.parse(metadata) } : value);
    });
    return results;
  }

  async #checkKey(key, method) {
    await callBinding(this.#binding, "checkKey", { key, method });
  }
}

// jsg's kj::String: any value's string (a Symbol throws TypeError).
function keyName(key) {
  return `${key}`;
}

// get()'s second argument: a type string or {type, cacheTtl}; the type defaults to "text".
function getOptions(options) {
  if (options === undefined || options === null) return { type: "text", cacheTtl: undefined };
  if (typeof options !== "object" && typeof options !== "function") return { type: `${options}`, cacheTtl: undefined };
  return {
    type: options.type === undefined ? "text" : `${options.type}`,
    cacheTtl: options.cacheTtl === undefined ? undefined : toInt(options.cacheTtl),
  };
}

function putOptions(options) {
  const args = {};
  if (options === undefined || options === null) return args;
  if (options.expiration !== undefined) args.expiration = toInt(options.expiration);
  if (options.expirationTtl !== undefined) args.expirationTtl = toInt(options.expirationTtl);
  if (options.metadata !== undefined && options.metadata !== null) {
    const json = JSON.stringify(options.metadata);
    if (json !== undefined) args.metadata = json;
  }
  return args;
}

// jsg's `int`: ToNumber, non-finite → 0, outside int32 → TypeError, else truncated ("nan" arrives as 0).
function toInt(value) {
  const number = +value;
  if (!Number.isFinite(number)) return 0;
  if (number > 2147483647 || number < -2147483648) throw new TypeError(INT_RANGE);
  return Math.trunc(number);
}

function bytesStream(bytes) {
  const length = bytes.byteLength; // enqueue() transfers the buffer, leaving it empty
  const stream = new ReadableStream({
    type: "bytes",
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
  return declareLength(stream, length);
}
