// Blob and File (W3C File API). Bytes are held in one Uint8Array; slices copy, so a Blob never changes.
import { encodeUtf8, utf8ToString } from "./utf8.js";
import { ReadableStream } from "./streams.js";

export const kBytes = Symbol("blob bytes");
const kType = Symbol("blob type");
const kName = Symbol("file name");
const kLastModified = Symbol("file lastModified");

function partBytes(part) {
  if (part instanceof Blob) return part[kBytes];
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  return encodeUtf8(String(part));
}

function normalizeType(type) {
  type = type === undefined ? "" : String(type);
  for (let i = 0; i < type.length; i++) {
    const c = type.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return "";
  }
  return type.toLowerCase();
}

export class Blob {
  constructor(blobParts = [], options = undefined) {
    if (blobParts === null || typeof blobParts !== "object" || typeof blobParts[Symbol.iterator] !== "function") {
      throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
    }
    const parts = [];
    let size = 0;
    for (const part of blobParts) {
      const bytes = partBytes(part);
      parts.push(bytes);
      size += bytes.byteLength;
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    this[kBytes] = bytes;
    this[kType] = normalizeType(options?.type);
  }

  get size() {
    return this[kBytes].byteLength;
  }

  get type() {
    return this[kType];
  }

  slice(start = 0, end = undefined, contentType = undefined) {
    const size = this.size;
    const from = relative(start, size);
    const to = end === undefined ? size : relative(end, size);
    const blob = new Blob([], { type: contentType });
    blob[kBytes] = this[kBytes].slice(from, Math.max(from, to));
    return blob;
  }

  async arrayBuffer() {
    return this[kBytes].slice().buffer;
  }

  async bytes() {
    return this[kBytes].slice();
  }

  async text() {
    return utf8ToString(this[kBytes]);
  }

  stream() {
    const bytes = this[kBytes];
    return new ReadableStream({
      type: "bytes",
      start(controller) {
        if (bytes.byteLength) controller.enqueue(bytes.slice());
        controller.close();
      },
    });
  }

  get [Symbol.toStringTag]() {
    return "Blob";
  }
}

function relative(value, size) {
  value = Math.trunc(Number(value)) || 0;
  return value < 0 ? Math.max(size + value, 0) : Math.min(value, size);
}

export class File extends Blob {
  constructor(fileBits, fileName, options = undefined) {
    if (arguments.length < 2) {
      throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
    }
    super(fileBits, options);
    this[kName] = String(fileName);
    const lastModified = options?.lastModified;
    this[kLastModified] = lastModified === undefined ? Date.now() : Number(lastModified);
  }

  get name() {
    return this[kName];
  }

  get lastModified() {
    return this[kLastModified];
  }

  get [Symbol.toStringTag]() {
    return "File";
  }
}

export function blobBytes(blob) {
  return blob[kBytes];
}
