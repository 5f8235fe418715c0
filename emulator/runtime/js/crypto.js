// Web Crypto: crypto.getRandomValues, randomUUID, crypto.subtle (SubtleCrypto, CryptoKey) and Workers'
// crypto.DigestStream and subtle.timingSafeEqual.
//
// SubtleCrypto does here what WebIDL and workerd's SubtleCrypto layer (src/workerd/api/crypto/crypto.c++)
// do: convert arguments, check that a key's algorithm and usages allow the operation, and reject the promise.
// The algorithm work happens in Python (emulator/runtime/host/crypto/, through host.crypto), one round
// trip per operation; its errors come back as {name, message} and are raised here as DOMExceptions.
//
// A CryptoKey keeps its material in a private field (raw bytes for secret keys, PKCS #8 DER for private
// keys, SPKI DER for public keys) and sends it with each operation, so Python holds no per-key state that
// could outlive the key.
import { host, fromHost } from "./host.js";
import { packMeta, unpackMeta } from "./frames.js";
import { DOMException } from "./events.js";
import { WritableStream } from "./streams.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

export function getRandomValues(array) {
  if (!INTEGER_ARRAYS.some((T) => array instanceof T)) {
    throw new DOMException("The data argument must be an integer-type TypedArray", "TypeMismatchError");
  }
  if (array.byteLength > 65536) {
    throw new DOMException(`The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, "QuotaExceededError");
  }
  const random = host.random(array.byteLength);
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(new Uint8Array(random.buffer, 0, random.byteLength));
  return array;
}

export function randomUUID() {
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------------------
// The round trip to Python

// Sends one operation. `parts` are byte arrays (copied into the request before this returns its promise);
// `pending` lists [object, field, bytes] whose bytes become parts and whose field gets the part's index.
async function call(meta, parts, pending = []) {
  for (const [target, field, bytes] of pending) {
    target[field] = parts.length;
    parts.push(bytes);
  }
  meta.parts = parts.map((part) => part.byteLength);
  const body = new Uint8Array(meta.parts.reduce((a, b) => a + b, 0));
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  const reply = fromHost(await host.crypto(packMeta(meta, body)));
  const [result, rest] = unpackMeta(reply);
  if (result.error !== undefined) throw toError(result.error);
  const out = [];
  offset = 0;
  for (const length of result.parts) {
    out.push(rest.slice(offset, offset + length)); // each result part gets an ArrayBuffer of its own
    offset += length;
  }
  return [result.ok, out];
}

function toError({ name, message }) {
  if (name === "TypeError") return new TypeError(message);
  if (name === "RangeError") return new RangeError(message);
  return new DOMException(message, name);
}

// ---------------------------------------------------------------------------------------------------------
// WebIDL conversions (messages as workerd's JSG writes them)

function isBufferSource(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function bytesOf(value) {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function bufferSource(value, method, index) {
  if (!isBufferSource(value)) {
    throw new TypeError(`Failed to execute '${method}' on 'SubtleCrypto': parameter ${index} is not of type 'ArrayBuffer or ArrayBufferView'.`);
  }
  return bytesOf(value);
}

function integer(value) {
  if (value === undefined) return undefined;
  const number = Math.trunc(Number(value));
  return Number.isFinite(number) ? number : 0;
}

function hashName(value) {
  if (value === undefined) return undefined;
  if (value !== null && typeof value === "object") return requiredName(value, "HashAlgorithm");
  return String(value);
}

function requiredName(value, struct) {
  if (value.name === undefined) {
    throw new TypeError(`Incorrect type for the 'name' field on '${struct}': the provided value is not of type 'string'.`);
  }
  return String(value.name);
}

const NUMBER_FIELDS = ["length", "modulusLength", "saltLength", "tagLength", "iterations"];
const BUFFER_FIELDS = ["publicExponent", "iv", "additionalData", "counter", "label", "salt", "info"];

// An AlgorithmIdentifier (a string or a dictionary with `name`) as JSON for Python, plus its buffers as
// pending parts. Every member any SubtleCrypto dictionary has is carried; Python reads the ones it needs.
function normalizeAlgorithm(value) {
  if (value === null || typeof value !== "object") return [{ name: String(value) }, []];
  const algorithm = { name: requiredName(value, "Algorithm") };
  const pending = [];
  const hash = hashName(value.hash);
  if (hash !== undefined) algorithm.hash = hash;
  if (value.namedCurve !== undefined) algorithm.namedCurve = String(value.namedCurve);
  for (const field of NUMBER_FIELDS) {
    if (value[field] !== undefined) algorithm[field] = integer(value[field]);
  }
  for (const field of BUFFER_FIELDS) {
    if (value[field] === undefined) continue;
    if (!isBufferSource(value[field])) {
      throw new TypeError(`Incorrect type for the '${field}' field on 'Algorithm': the provided value is not of type 'ArrayBuffer or ArrayBufferView'.`);
    }
    pending.push([algorithm, field, bytesOf(value[field]).slice()]); // copied now: wrapKey awaits before sending
  }
  if (value.public !== undefined) {
    const slots = slotsOf(value.public);
    if (slots === null) {
      throw new TypeError("Incorrect type for the 'public' field on 'DeriveKeyAlgorithm': the provided value is not of type 'CryptoKey'.");
    }
    algorithm.public = describeKey(slots);
    pending.push([algorithm.public, "part", slots.material]);
  }
  return [algorithm, pending];
}

function keyUsages(value, method, index) {
  if (value === null || typeof value !== "object" || typeof value[Symbol.iterator] !== "function") {
    throw new TypeError(`Failed to execute '${method}' on 'SubtleCrypto': parameter ${index} is not of type 'Array'.`);
  }
  return Array.from(value, String);
}

const JWK_STRINGS = ["kty", "use", "alg", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "k"];

function jsonWebKey(value) {
  if (value.kty === undefined) {
    throw new TypeError("Incorrect type for the 'kty' field on 'JsonWebKey': the provided value is not of type 'string'.");
  }
  const jwk = {};
  for (const member of JWK_STRINGS) {
    if (value[member] !== undefined) jwk[member] = String(value[member]);
  }
  if (value.key_ops !== undefined) jwk.key_ops = Array.from(value.key_ops, String);
  if (value.ext !== undefined) jwk.ext = Boolean(value.ext);
  if (value.oth !== undefined) jwk.oth = true; // multi-prime keys are refused; only presence matters
  return jwk;
}

// ---------------------------------------------------------------------------------------------------------
// CryptoKey

const kConstruct = Symbol("CryptoKey construct");
let slotsOf;

export class CryptoKey {
  #slots;

  constructor(token = undefined, slots = undefined) {
    if (token !== kConstruct) throw new TypeError("Illegal constructor");
    this.#slots = slots;
  }

  get type() {
    return this.#slots.type;
  }

  get extractable() {
    return this.#slots.extractable;
  }

  // A new dictionary on every read, as workerd's getter returns one.
  get algorithm() {
    const out = {};
    for (const [field, value] of Object.entries(this.#slots.algorithm)) {
      out[field] = field === "publicExponent" ? new Uint8Array(value) : field === "hash" ? { name: value.name } : value;
    }
    return out;
  }

  get usages() {
    return [...this.#slots.usages];
  }

  get [Symbol.toStringTag]() {
    return "CryptoKey";
  }

  static {
    slotsOf = (value) => (value !== null && typeof value === "object" && #slots in value ? value.#slots : null);
  }
}

// `described` is Python's {type, extractable, algorithm, usages}; `material` the key's bytes.
function newKey(described, material) {
  return new CryptoKey(kConstruct, { ...described, material });
}

function describeKey(slots) {
  return { type: slots.type, extractable: slots.extractable, algorithm: slots.algorithm, usages: slots.usages };
}

function keySlots(value, method, index) {
  const slots = slotsOf(value);
  if (slots === null) {
    throw new TypeError(`Failed to execute '${method}' on 'SubtleCrypto': parameter ${index} is not of type 'CryptoKey'.`);
  }
  return slots;
}

// crypto.c++ validateOperation
function validateOperation(slots, requestedName, usage) {
  const name = slots.algorithm.name;
  if (requestedName.toLowerCase() !== name.toLowerCase()) {
    throw new DOMException(`Requested algorithm "${requestedName}" does not match this CryptoKey's algorithm "${name}".`, "InvalidAccessError");
  }
  if (!slots.usages.includes(usage)) {
    throw new DOMException(`Requested key usage "${usage}" does not match any usage listed in this CryptoKey.`, "InvalidAccessError");
  }
}

function keyResult(result, out) {
  if (result.key !== undefined) return newKey(result.key, out[0]);
  return { publicKey: newKey(result.publicKey, out[0]), privateKey: newKey(result.privateKey, out[1]) };
}

// ---------------------------------------------------------------------------------------------------------
// SubtleCrypto. Every method but timingSafeEqual is async, so a bad argument rejects instead of throwing.

export class SubtleCrypto {
  constructor(token = undefined) {
    if (token !== kConstruct) throw new TypeError("Illegal constructor");
  }

  async digest(algorithm, data) {
    const [normalized] = normalizeAlgorithm(algorithm);
    const bytes = bufferSource(data, "digest", 2);
    const [, out] = await call({ op: "digest", algorithm: normalized.name }, [bytes]);
    return out[0].buffer;
  }

  async encrypt(algorithm, key, data) {
    return cipher("encrypt", algorithm, key, data);
  }

  async decrypt(algorithm, key, data) {
    return cipher("decrypt", algorithm, key, data);
  }

  async sign(algorithm, key, data) {
    const [normalized, pending] = normalizeAlgorithm(algorithm);
    const slots = keySlots(key, "sign", 2);
    const bytes = bufferSource(data, "sign", 3);
    validateOperation(slots, normalized.name, "sign");
    const meta = { op: "sign", algorithm: normalized, key: describeKey(slots) };
    const [, out] = await call(meta, [slots.material, bytes], pending);
    return out[0].buffer;
  }

  async verify(algorithm, key, signature, data) {
    const [normalized, pending] = normalizeAlgorithm(algorithm);
    const slots = keySlots(key, "verify", 2);
    const signatureBytes = bufferSource(signature, "verify", 3);
    const bytes = bufferSource(data, "verify", 4);
    validateOperation(slots, normalized.name, "verify");
    const meta = { op: "verify", algorithm: normalized, key: describeKey(slots) };
    const [valid] = await call(meta, [slots.material, signatureBytes, bytes], pending);
    return valid;
  }

  async generateKey(algorithm, extractable, usages) {
    const [normalized, pending] = normalizeAlgorithm(algorithm);
    const meta = { op: "generateKey", algorithm: normalized, extractable: Boolean(extractable), usages: keyUsages(usages, "generateKey", 3) };
    return keyResult(...(await call(meta, [], pending)));
  }

  async importKey(format, keyData, algorithm, extractable, usages) {
    return importKey(String(format), keyData, algorithm, Boolean(extractable), keyUsages(usages, "importKey", 5));
  }

  async exportKey(format, key) {
    format = String(format);
    return exportKey(format, keySlots(key, "exportKey", 2));
  }

  async deriveBits(algorithm, baseKey, length = null) {
    const [normalized, pending] = normalizeAlgorithm(algorithm);
    const slots = keySlots(baseKey, "deriveBits", 2);
    length = length === null || length === undefined ? null : integer(length);
    if (length !== null && length < 0) throw new TypeError("deriveBits length must be an unsigned long integer.");
    validateOperation(slots, normalized.name, "deriveBits");
    const meta = { op: "deriveBits", algorithm: normalized, key: describeKey(slots), length };
    const [, out] = await call(meta, [slots.material], pending);
    return out[0].buffer;
  }

  async deriveKey(algorithm, baseKey, derivedKeyAlgorithm, extractable, usages) {
    const [normalized, pending] = normalizeAlgorithm(algorithm);
    const slots = keySlots(baseKey, "deriveKey", 2);
    const [derived] = normalizeAlgorithm(derivedKeyAlgorithm);
    usages = keyUsages(usages, "deriveKey", 5);
    validateOperation(slots, normalized.name, "deriveKey");
    const meta = {
      op: "deriveKey", algorithm: normalized, key: describeKey(slots), derivedKeyAlgorithm: derived,
      extractable: Boolean(extractable), usages,
    };
    return keyResult(...(await call(meta, [slots.material], pending)));
  }

  // crypto.c++ wrapKey: export, then encrypt (or AES-KW wrap) the exported bytes or JWK JSON.
  async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
    format = String(format);
    const slots = keySlots(key, "wrapKey", 2);
    const wrapping = keySlots(wrappingKey, "wrapKey", 3);
    const [normalized, pending] = normalizeAlgorithm(wrapAlgorithm);
    validateOperation(wrapping, normalized.name, "wrapKey");
    const exported = await exportKey(format, slots);
    const bytes = exported instanceof ArrayBuffer ? new Uint8Array(exported) : encodeUtf8(JSON.stringify(exported));
    const meta = { op: "wrapKey", algorithm: normalized, key: describeKey(wrapping) };
    const [, out] = await call(meta, [wrapping.material, bytes], pending);
    return out[0].buffer;
  }

  async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, usages) {
    format = String(format);
    const wrapped = bufferSource(wrappedKey, "unwrapKey", 2);
    const unwrapping = keySlots(unwrappingKey, "unwrapKey", 3);
    const [normalized, pending] = normalizeAlgorithm(unwrapAlgorithm);
    usages = keyUsages(usages, "unwrapKey", 7);
    validateOperation(unwrapping, normalized.name, "unwrapKey");
    const meta = { op: "unwrapKey", algorithm: normalized, key: describeKey(unwrapping) };
    const [, out] = await call(meta, [unwrapping.material, wrapped], pending);
    let keyData = out[0];
    if (format === "jwk") {
      try {
        keyData = JSON.parse(decodeUtf8(keyData, 0, keyData.byteLength)[0]);
      } catch {
        keyData = null;
      }
      if (keyData === null || typeof keyData !== "object" || keyData.kty === undefined) {
        throw new DOMException('Missing "kty" field or corrupt JSON unwrapping key?', "DataError");
      }
    }
    return importKey(format, keyData, unwrappedKeyAlgorithm, Boolean(extractable), usages);
  }

  // A Workers extension (crypto.c++ SubtleCrypto::timingSafeEqual): synchronous, inputs of equal length.
  timingSafeEqual(a, b) {
    const left = bufferSourceOf(a, 1);
    const right = bufferSourceOf(b, 2);
    if (left.byteLength !== right.byteLength) throw new TypeError("Input buffers must have the same byte length.");
    let difference = 0;
    for (let i = 0; i < left.byteLength; i++) difference |= left[i] ^ right[i];
    return difference === 0;
  }

  get [Symbol.toStringTag]() {
    return "SubtleCrypto";
  }
}

function bufferSourceOf(value, index) {
  if (!isBufferSource(value)) {
    throw new TypeError(`Failed to execute 'timingSafeEqual' on 'SubtleCrypto': parameter ${index} is not of type 'ArrayBuffer or ArrayBufferView'.`);
  }
  return bytesOf(value);
}

async function cipher(op, algorithm, key, data) {
  const [normalized, pending] = normalizeAlgorithm(algorithm);
  const slots = keySlots(key, op, 2);
  const bytes = bufferSource(data, op, 3);
  validateOperation(slots, normalized.name, op);
  const [, out] = await call({ op, algorithm: normalized, key: describeKey(slots) }, [slots.material, bytes], pending);
  return out[0].buffer;
}

// crypto.c++ importKeySync: the format decides what keyData must be; the algorithm does the rest (Python).
async function importKey(format, keyData, algorithm, extractable, usages) {
  const [normalized] = normalizeAlgorithm(algorithm);
  let data = new Uint8Array(0);
  let jwk;
  if (format === "raw" || format === "pkcs8" || format === "spki") {
    if (!isBufferSource(keyData)) {
      throw new TypeError('Import data provided for "raw", "pkcs8", or "spki" import formats must be a buffer source.');
    }
    data = bytesOf(keyData);
  } else if (format === "jwk") {
    if (keyData === null || typeof keyData !== "object" || isBufferSource(keyData)) {
      throw new TypeError('Import data provided for "jwk" import format must be a JsonWebKey.');
    }
    jwk = jsonWebKey(keyData);
    if (jwk.ext === false && extractable) {
      throw new DOMException(`JWK ext field for "${normalized.name}" is set to false but extractable is true`, "DataError");
    }
  } else {
    throw new DOMException(`Unrecognized key import format "${format}".`, "NotSupportedError");
  }
  const meta = { op: "importKey", format, algorithm: normalized, extractable, usages, jwk };
  return keyResult(...(await call(meta, [data])));
}

async function exportKey(format, slots) {
  if (!slots.extractable) {
    throw new DOMException(`Attempt to export non-extractable ${slots.algorithm.name} key.`, "InvalidAccessError");
  }
  const [result, out] = await call({ op: "exportKey", format, key: describeKey(slots) }, [slots.material]);
  return result !== null && result.jwk !== undefined ? result.jwk : out[0].buffer;
}

// ---------------------------------------------------------------------------------------------------------
// crypto.DigestStream (a Workers extension, crypto.c++): a WritableStream whose `digest` promise resolves
// with the hash of everything written once it closes. CRCs are computed here as bytes arrive; SHA and MD5
// chunks are kept until close and hashed in one round trip (Python has no incremental state to leak).

const DIGEST_NAMES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "MD5"];

function crcTable(polynomial) {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polynomial : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

class Crc32 {
  constructor(table) {
    this.table = table;
    this.value = 0xffffffff;
  }
  update(bytes) {
    let c = this.value;
    const table = this.table;
    for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    this.value = c >>> 0;
  }
  async finish() {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, (this.value ^ 0xffffffff) >>> 0);
    return out.buffer;
  }
}

// CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5) on two 32-bit halves: BigInt per byte is too slow.
let crc64Tables = null;

function crc64NvmeTables() {
  if (crc64Tables !== null) return crc64Tables;
  const hi = new Uint32Array(256);
  const lo = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let h = 0;
    let l = n;
    for (let k = 0; k < 8; k++) {
      const carry = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h = h >>> 1;
      if (carry) {
        h = (h ^ 0x9a6c9329) >>> 0;
        l = (l ^ 0xac4bc9b5) >>> 0;
      }
    }
    hi[n] = h;
    lo[n] = l;
  }
  crc64Tables = [hi, lo];
  return crc64Tables;
}

class Crc64Nvme {
  constructor() {
    [this.tableHi, this.tableLo] = crc64NvmeTables();
    this.hi = 0xffffffff;
    this.lo = 0xffffffff;
  }
  update(bytes) {
    let { hi, lo } = this;
    const { tableHi, tableLo } = this;
    for (let i = 0; i < bytes.length; i++) {
      const index = (lo ^ bytes[i]) & 0xff;
      lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ tableLo[index]) >>> 0;
      hi = ((hi >>> 8) ^ tableHi[index]) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
  }
  async finish() {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, (this.hi ^ 0xffffffff) >>> 0);
    view.setUint32(4, (this.lo ^ 0xffffffff) >>> 0);
    return out.buffer;
  }
}

class BufferedDigest {
  constructor(name) {
    this.name = name;
    this.chunks = [];
  }
  update(bytes) {
    this.chunks.push(bytes.slice());
  }
  async finish() {
    const [, out] = await call({ op: "digest", algorithm: this.name }, this.chunks);
    this.chunks = [];
    return out[0].buffer;
  }
}

let crc32Table = null;
let crc32cTable = null;

// crypto.c++ DigestStream::initContext: CRC names are matched exactly, the rest case-insensitively.
function digestContext(name) {
  if (name === "crc32") return new Crc32((crc32Table ??= crcTable(0xedb88320)));
  if (name === "crc32c") return new Crc32((crc32cTable ??= crcTable(0x82f63b78)));
  if (name === "crc64nvme") return new Crc64Nvme();
  if (!DIGEST_NAMES.includes(name.toUpperCase())) {
    throw new DOMException("Unrecognized or unimplemented digest algorithm requested.", "NotSupportedError");
  }
  return new BufferedDigest(name);
}

const DIGEST_STREAM_WRONG_TYPE =
  "DigestStream is a byte stream but received an object of non-ArrayBuffer/ArrayBufferView/string type on its writable side.";

export class DigestStream extends WritableStream {
  #state;

  constructor(algorithm) {
    const [normalized] = normalizeAlgorithm(algorithm);
    const state = { context: digestContext(normalized.name), bytesWritten: 0n, error: null, settled: false };
    state.digest = new Promise((resolve, reject) => {
      state.resolve = resolve;
      state.reject = reject;
    });
    // A digest nobody awaits (an aborted stream) must not be reported as an unhandled rejection.
    state.digest.catch(() => {});
    super({
      write(chunk) {
        if (state.error !== null) throw state.error;
        let bytes;
        if (isBufferSource(chunk)) bytes = bytesOf(chunk);
        else if (typeof chunk === "string") bytes = encodeUtf8(chunk);
        else throw new TypeError(DIGEST_STREAM_WRONG_TYPE);
        if (bytes.byteLength === 0) return;
        state.context.update(bytes);
        state.bytesWritten += BigInt(bytes.byteLength);
      },
      async close() {
        if (state.error !== null) throw state.error;
        if (state.settled) return;
        state.settled = true;
        try {
          state.resolve(await state.context.finish());
        } catch (error) {
          state.reject(error);
          throw error;
        }
      },
      abort(reason) {
        if (state.settled) return;
        state.settled = true;
        state.error = reason;
        state.reject(reason);
      },
    });
    this.#state = state;
  }

  get digest() {
    return this.#state.digest;
  }

  get bytesWritten() {
    return this.#state.bytesWritten;
  }

  // crypto.c++ DigestStream::dispose, where the engine has Symbol.dispose (SpiderMonkey 115 does not).
  static {
    if (typeof Symbol.dispose === "symbol") {
      Object.defineProperty(DigestStream.prototype, Symbol.dispose, {
        value: function dispose() {
          const state = this.#state;
          if (state.settled) return;
          state.settled = true;
          state.error = new TypeError("The DigestStream was disposed.");
          state.reject(state.error);
        },
        writable: true,
        configurable: true,
      });
    }
  }
}


// ---------------------------------------------------------------------------------------------------------
// crypto

const subtle = new SubtleCrypto(kConstruct);

export class Crypto {
  constructor(token = undefined) {
    if (token !== kConstruct) throw new TypeError("Illegal constructor");
  }
  getRandomValues(array) {
    return getRandomValues(array);
  }
  randomUUID() {
    return randomUUID();
  }
  get subtle() {
    return subtle;
  }
  get [Symbol.toStringTag]() {
    return "Crypto";
  }
}
// JSG_NESTED_TYPE(DigestStream): reachable as `crypto.DigestStream`.
Object.defineProperty(Crypto.prototype, "DigestStream", { value: DigestStream, writable: true, configurable: true });

export const crypto = new Crypto(kConstruct);

// The globals this family adds (js/index.js installs them).
export const CRYPTO_GLOBALS = { crypto, Crypto, SubtleCrypto, CryptoKey };
