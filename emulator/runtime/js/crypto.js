// Web Crypto: getRandomValues and randomUUID here; crypto.subtle is backed by Python's `cryptography`.
import { host } from "./host.js";

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

export class Crypto {
  getRandomValues(array) {
    return getRandomValues(array);
  }
  randomUUID() {
    return randomUUID();
  }
  get subtle() {
    return undefined;
  }
}

export const crypto = new Crypto();

// The globals this family adds (js/index.js installs them).
export const CRYPTO_GLOBALS = { crypto, Crypto };
