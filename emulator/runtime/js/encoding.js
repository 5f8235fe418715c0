// TextEncoder and TextDecoder (WHATWG Encoding), and atob/btoa, as workerd has them (api/encoding.c++,
// api/global-scope.c++). TextEncoderStream and TextDecoderStream live with the streams (streams.js).
//
// TextDecoder accepts every label of the Encoding Standard, as workerd does. Decoded here: UTF-8, UTF-16LE/BE,
// the single-byte encodings (windows-125x, iso-8859-x, koi8, ibm866, macintosh, x-mac-cyrillic) and
// x-user-defined. The multi-byte CJK encodings (gbk, gb18030, big5, euc-jp, iso-2022-jp, shift_jis, euc-kr)
// need large tables and are refused with a RangeError that says so.
import { LABELS, SINGLE_BYTE } from "./encoding-tables.js";
import { DOMException } from "./events.js";
import { DECODE_FAILED, decodeUtf8, encodeInto, encodeUtf8, latin1Range } from "./utf8.js";

const ENCODINGS = new Map();
for (const [name, labels] of Object.entries(LABELS)) for (const label of labels) ENCODINGS.set(label, name);

const CJK = new Set(["gbk", "gb18030", "big5", "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr"]);

export class TextEncoder {
  get encoding() {
    return "utf-8";
  }

  encode(input = "") {
    return encodeUtf8(`${input}`);
  }

  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
    }
    return encodeInto(`${source}`, 0, destination, 0);
  }

  get [Symbol.toStringTag]() {
    return "TextEncoder";
  }
}

const kDecoder = Symbol("decoder");

export class TextDecoder {
  constructor(label = undefined, options = undefined) {
    let encoding = "utf-8";
    if (label !== undefined) {
      encoding = ENCODINGS.get(`${label}`.trim().toLowerCase());
      if (encoding === undefined || encoding === "replacement") {
        throw new RangeError(`"${label}" is not a valid encoding.`);
      }
      if (CJK.has(encoding)) {
        throw new RangeError(`TextDecoder: outbound does not implement the "${encoding}" decoder (Workers has it).`);
      }
    }
    const fatal = Boolean(options?.fatal);
    const ignoreBOM = Boolean(options?.ignoreBOM);
    this[kDecoder] = createDecoder(encoding, fatal, ignoreBOM);
  }

  get encoding() {
    return this[kDecoder].encoding;
  }

  get fatal() {
    return this[kDecoder].fatal;
  }

  get ignoreBOM() {
    return this[kDecoder].ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    const bytes = input === undefined ? EMPTY : bufferSourceBytes(input, "decode", "TextDecoder");
    return this[kDecoder].decode(bytes, !options?.stream);
  }

  get [Symbol.toStringTag]() {
    return "TextDecoder";
  }
}

const EMPTY = new Uint8Array(0);

function bufferSourceBytes(input, method, type) {
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError(`Failed to execute '${method}' on '${type}': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'.`);
}

function createDecoder(encoding, fatal, ignoreBOM) {
  switch (encoding) {
    case "utf-8":
      return new Utf8Decoder(fatal, ignoreBOM);
    case "utf-16le":
    case "utf-16be":
      return new Utf16Decoder(encoding, fatal, ignoreBOM);
    case "x-user-defined":
      return new SingleByteDecoder(encoding, X_USER_DEFINED, fatal, ignoreBOM);
    default:
      return new SingleByteDecoder(encoding, SINGLE_BYTE[encoding === "iso-8859-8-i" ? "iso-8859-8" : encoding], fatal, ignoreBOM);
  }
}

// A decoder holds what a streamed decode carries between calls; decode(bytes, flush) returns text and, when
// flushing, forgets it (the Encoding Standard's "end-of-queue" handling).
class Utf8Decoder {
  constructor(fatal, ignoreBOM) {
    this.encoding = "utf-8";
    this.fatal = fatal;
    this.ignoreBOM = ignoreBOM;
    this.pending = null;
    this.bomSeen = false;
  }

  decode(input, flush) {
    let bytes = input;
    if (this.pending !== null) {
      bytes = new Uint8Array(this.pending.length + input.length);
      bytes.set(this.pending);
      bytes.set(input, this.pending.length);
      this.pending = null;
    }
    let text;
    let consumed;
    try {
      [text, consumed] = decodeUtf8(bytes, 0, bytes.length, this.fatal, flush);
    } catch (error) {
      this.reset();
      throw error;
    }
    if (consumed < bytes.length) this.pending = bytes.slice(consumed);
    text = this.stripBOM(text);
    if (flush) this.reset();
    return text;
  }

  stripBOM(text) {
    if (this.ignoreBOM || this.bomSeen || text.length === 0) return text;
    this.bomSeen = true;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  reset() {
    this.pending = null;
    this.bomSeen = false;
  }
}

class Utf16Decoder extends Utf8Decoder {
  constructor(encoding, fatal, ignoreBOM) {
    super(fatal, ignoreBOM);
    this.encoding = encoding;
    this.bigEndian = encoding === "utf-16be";
    this.leadByte = -1;
    this.leadSurrogate = -1;
  }

  decode(bytes, flush) {
    const units = [];
    let text = "";
    for (let i = 0; i < bytes.length; i++) {
      if (this.leadByte === -1) {
        this.leadByte = bytes[i];
        continue;
      }
      const unit = this.bigEndian ? (this.leadByte << 8) | bytes[i] : (bytes[i] << 8) | this.leadByte;
      this.leadByte = -1;
      if (this.leadSurrogate !== -1) {
        const lead = this.leadSurrogate;
        this.leadSurrogate = -1;
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          units.push(lead, unit);
          continue;
        }
        this.error(units);
      }
      if (unit >= 0xd800 && unit <= 0xdbff) this.leadSurrogate = unit;
      else if (unit >= 0xdc00 && unit <= 0xdfff) this.error(units);
      else units.push(unit);
      if (units.length >= 0x2000) {
        text += String.fromCharCode.apply(null, units);
        units.length = 0;
      }
    }
    if (flush && (this.leadByte !== -1 || this.leadSurrogate !== -1)) {
      this.leadByte = -1;
      this.leadSurrogate = -1;
      this.error(units);
    }
    text = this.stripBOM(text + String.fromCharCode.apply(null, units));
    if (flush) this.reset();
    return text;
  }

  error(units) {
    if (this.fatal) {
      this.reset();
      throw new TypeError(DECODE_FAILED);
    }
    units.push(0xfffd);
  }

  reset() {
    super.reset();
    this.leadByte = -1;
    this.leadSurrogate = -1;
  }
}

// x-user-defined maps 0x80-0xFF onto U+F780-U+F7FF.
const X_USER_DEFINED = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0xf780 + i)).join("");

class SingleByteDecoder {
  constructor(encoding, table, fatal, ignoreBOM) {
    this.encoding = encoding;
    this.table = table;
    this.fatal = fatal;
    this.ignoreBOM = ignoreBOM;
  }

  decode(bytes) {
    let i = 0;
    while (i < bytes.length && bytes[i] < 0x80) i++;
    if (i === bytes.length) return latin1Range(bytes, 0, bytes.length);
    const units = new Uint16Array(bytes.length);
    for (let j = 0; j < bytes.length; j++) {
      const b = bytes[j];
      if (b < 0x80) {
        units[j] = b;
        continue;
      }
      const unit = this.table.charCodeAt(b - 0x80);
      if (unit === 0xfffd && this.fatal) throw new TypeError(DECODE_FAILED);
      units[j] = unit;
    }
    let text = "";
    for (let k = 0; k < units.length; k += 0x2000) text += String.fromCharCode.apply(null, units.subarray(k, k + 0x2000));
    return text;
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUES[B64.charCodeAt(i)] = i;

// workerd's messages (api/global-scope.c++); both raise DOMException InvalidCharacterError.
const BTOA_LATIN1 = "btoa() can only operate on characters in the Latin1 (ISO/IEC 8859-1) range.";
const ATOB_INVALID =
  "atob() called with invalid base64-encoded data. (Only whitespace, '+', '/', alphanumeric ASCII, and up to two " +
  "terminal '=' signs when the input data length is divisible by 4 are allowed.)";

// atob/btoa in JS: pythonmonkey's are Python-backed and hand a new Python string to JS on each call.
export function btoa(data) {
  data = `${data}`;
  const length = data.length;
  const out = [];
  let chunk = "";
  for (let i = 0; i < length; i += 3) {
    const a = data.charCodeAt(i);
    const b = i + 1 < length ? data.charCodeAt(i + 1) : 0;
    const c = i + 2 < length ? data.charCodeAt(i + 2) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) throw new DOMException(BTOA_LATIN1, "InvalidCharacterError");
    const n = (a << 16) | (b << 8) | c;
    chunk += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < length ? B64[(n >> 6) & 63] : "=") + (i + 2 < length ? B64[n & 63] : "=");
    if (chunk.length >= 0x4000) {
      out.push(chunk);
      chunk = "";
    }
  }
  out.push(chunk);
  return out.join("");
}

// The Encoding Standard's forgiving-base64 decode, which is what workerd's simdutf call accepts.
export function atob(data) {
  data = `${data}`;
  const values = [];
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) continue;
    values.push(c);
  }
  let length = values.length;
  if (length % 4 === 0 && length > 0 && values[length - 1] === 0x3d) {
    length--;
    if (values[length - 1] === 0x3d) length--;
  }
  if (length % 4 === 1) throw new DOMException(ATOB_INVALID, "InvalidCharacterError");
  const bytes = new Uint8Array((length * 3) >> 2);
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < length; i++) {
    const c = values[i];
    const v = c < 128 ? B64_VALUES[c] : -1;
    if (v < 0) throw new DOMException(ATOB_INVALID, "InvalidCharacterError");
    buffer = ((buffer << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[o++] = (buffer >> bits) & 0xff;
    }
  }
  return latin1Range(bytes, 0, o);
}
