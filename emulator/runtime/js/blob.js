// Blob and File (W3C File API) as workerd has them (src/workerd/api/blob.c++). The bytes live in one
// Uint8Array that is never written after construction, so slices and Files made from a Blob share it.
import { encodeUtf8, utf8ToString } from "./utf8.js";
import { ReadableStream } from "./streams.js";

export const kBytes = Symbol("blob bytes");
const kType = Symbol("blob type");
const kName = Symbol("file name");
const kLastModified = Symbol("file lastModified");

const EMPTY = new Uint8Array(0);

function partBytes(part) {
  if (part instanceof Blob) return part[kBytes];
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  return encodeUtf8(`${part}`);
}

function concatParts(blobParts) {
  if (blobParts === undefined) return EMPTY;
  if (blobParts === null || typeof blobParts !== "object" || typeof blobParts[Symbol.iterator] !== "function") {
    throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
  }
  const parts = [];
  let size = 0;
  let onlyBlob = true;
  for (const part of blobParts) {
    const bytes = partBytes(part);
    parts.push(bytes);
    size += bytes.byteLength;
    onlyBlob &&= part instanceof Blob;
  }
  // A single Blob part is shared, not copied (workerd makes the new Blob a view of the old one).
  if (parts.length === 1 && onlyBlob) return parts[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

// workerd's normalizeType: a type with a byte below 0x20 or above 0x7f (any non-ASCII character) becomes "",
// anything else is ASCII-lower-cased. (The File API says the same, except that it also rejects DEL.)
function normalizeType(type) {
  if (type === undefined) return "";
  type = `${type}`;
  for (let i = 0; i < type.length; i++) {
    const c = type.charCodeAt(i);
    if (c < 0x20 || c > 0x7f) return "";
  }
  return type.toLowerCase();
}

function readOptions(options, what) {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" && typeof options !== "function") {
    throw new TypeError(`Failed to construct '${what}': The provided value is not of type '${what}PropertyBag'.`);
  }
  return options;
}

export class Blob {
  constructor(blobParts = undefined, options = undefined) {
    const bytes = concatParts(blobParts);
    this[kBytes] = bytes;
    this[kType] = normalizeType(readOptions(options, "Blob").type);
  }

  get size() {
    return this[kBytes].byteLength;
  }

  get type() {
    return this[kType];
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const bytes = this[kBytes];
    const size = bytes.byteLength;
    const from = start === undefined ? 0 : relative(start, size);
    const to = end === undefined ? size : relative(end, size);
    return makeBlob(bytes.subarray(from, Math.max(from, to)), normalizeType(contentType));
  }

  async arrayBuffer() {
    return this[kBytes].slice().buffer;
  }

  async bytes() {
    return this[kBytes].slice();
  }

  // workerd decodes with V8's UTF-8 decoder, which keeps a leading byte order mark.
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
    options = readOptions(options, "File");
    super(fileBits, options);
    this[kName] = `${fileName}`;
    const lastModified = options.lastModified;
    if (lastModified === undefined) {
      this[kLastModified] = Date.now();
    } else {
      const value = Number(lastModified);
      this[kLastModified] = Number.isNaN(value) ? 0 : value;
    }
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

// Internal constructors: the bytes are taken as they are (not copied) and the type is not normalized, as
// workerd does for Body.blob() (the parsed Content-Type) and for the Files of a parsed multipart body.
export function makeBlob(bytes, type) {
  const blob = Object.create(Blob.prototype);
  blob[kBytes] = bytes;
  blob[kType] = type;
  return blob;
}

export function makeFile(bytes, name, type, lastModified) {
  const file = Object.create(File.prototype);
  file[kBytes] = bytes;
  file[kType] = type;
  file[kName] = name;
  file[kLastModified] = lastModified;
  return file;
}
