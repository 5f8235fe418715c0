// TextEncoder and TextDecoder (WHATWG Encoding), UTF-8 first as in Workers.
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

export class TextEncoder {
  get encoding() {
    return "utf-8";
  }

  encode(input = "") {
    return encodeUtf8(String(input));
  }

  encodeInto(source, destination) {
    const bytes = encodeUtf8(String(source));
    // Only whole code points fit: back off to the last sequence boundary within the destination.
    let written = Math.min(bytes.length, destination.length);
    while (written > 0 && written < bytes.length && (bytes[written] & 0xc0) === 0x80) written--;
    destination.set(bytes.subarray(0, written));
    const read = decodeUtf8(bytes, 0, written)[0].length;
    return { read, written };
  }

  get [Symbol.toStringTag]() {
    return "TextEncoder";
  }
}

const kState = Symbol("decoder state");
const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);

export class TextDecoder {
  constructor(label = "utf-8", options = undefined) {
    const normalized = String(label).trim().toLowerCase();
    if (!UTF8_LABELS.has(normalized)) throw new RangeError(`Failed to construct 'TextDecoder': The encoding label provided ('${label}') is invalid.`);
    this[kState] = { fatal: Boolean(options?.fatal), ignoreBOM: Boolean(options?.ignoreBOM), pending: null, bomSeen: false };
  }

  get encoding() {
    return "utf-8";
  }

  get fatal() {
    return this[kState].fatal;
  }

  get ignoreBOM() {
    return this[kState].ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    const state = this[kState];
    const stream = Boolean(options?.stream);
    let bytes = input === undefined ? new Uint8Array(0) : toUint8(input);
    if (state.pending !== null) {
      const joined = new Uint8Array(state.pending.length + bytes.length);
      joined.set(state.pending);
      joined.set(bytes, state.pending.length);
      bytes = joined;
      state.pending = null;
    }
    const [text, consumed] = decodeUtf8(bytes, 0, bytes.length, state.fatal, !stream);
    if (consumed < bytes.length) state.pending = bytes.slice(consumed);
    let out = text;
    if (!state.ignoreBOM && !state.bomSeen && out.length > 0) {
      if (out.charCodeAt(0) === 0xfeff) out = out.slice(1);
      state.bomSeen = true;
    }
    if (!stream) state.bomSeen = false;
    return out;
  }

  get [Symbol.toStringTag]() {
    return "TextDecoder";
  }
}

function toUint8(input) {
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("Failed to execute 'decode' on 'TextDecoder': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'.");
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

// atob/btoa in JS: pythonmonkey's are Python-backed and hand a new Python string to JS on each call.
export function btoa(data) {
  if (arguments.length < 1) throw new TypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
  data = String(data);
  let out = "";
  for (let i = 0; i < data.length; i += 3) {
    const a = data.charCodeAt(i);
    const b = i + 1 < data.length ? data.charCodeAt(i + 1) : NaN;
    const c = i + 2 < data.length ? data.charCodeAt(i + 2) : NaN;
    if (a > 0xff || b > 0xff || c > 0xff) {
      throw new DOMException("The string to be encoded contains characters outside of the Latin1 range.", "InvalidCharacterError");
    }
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (Number.isNaN(b) ? "=" : B64[(n >> 6) & 63]) + (Number.isNaN(c) ? "=" : B64[n & 63]);
  }
  return out;
}

export function atob(data) {
  if (arguments.length < 1) throw new TypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
  let input = String(data).replace(/[\t\n\f\r ]/g, "");
  if (input.length % 4 === 0) input = input.replace(/==?$/, "");
  if (input.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(input)) {
    throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
  }
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const c of input) {
    buffer = (buffer << 6) | B64_INDEX.get(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}
