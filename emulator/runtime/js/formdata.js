// FormData (XHR standard) with the multipart/form-data and urlencoded codecs Body.formData() needs.
import { Blob, File, blobBytes } from "./blob.js";
import { encodeUtf8, utf8ToString, latin1Range } from "./utf8.js";

const kEntries = Symbol("form entries");

function toEntryValue(value, filename) {
  if (value instanceof Blob) {
    if (!(value instanceof File) || filename !== undefined) {
      const name = filename !== undefined ? String(filename) : value instanceof File ? value.name : "blob";
      return new File([value], name, { type: value.type, lastModified: value instanceof File ? value.lastModified : undefined });
    }
    return value;
  }
  return String(value);
}

export class FormData {
  constructor(form = undefined) {
    if (form !== undefined) {
      throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
    }
    this[kEntries] = [];
  }

  append(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "append");
    this[kEntries].push([String(name), toEntryValue(value, filename)]);
  }

  delete(name) {
    requireArgs(arguments.length, 1, "delete");
    name = String(name);
    this[kEntries] = this[kEntries].filter(([n]) => n !== name);
  }

  get(name) {
    requireArgs(arguments.length, 1, "get");
    name = String(name);
    const entry = this[kEntries].find(([n]) => n === name);
    return entry === undefined ? null : entry[1];
  }

  getAll(name) {
    requireArgs(arguments.length, 1, "getAll");
    name = String(name);
    return this[kEntries].filter(([n]) => n === name).map(([, v]) => v);
  }

  has(name) {
    requireArgs(arguments.length, 1, "has");
    name = String(name);
    return this[kEntries].some(([n]) => n === name);
  }

  set(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "set");
    name = String(name);
    const entry = [name, toEntryValue(value, filename)];
    const entries = this[kEntries];
    const index = entries.findIndex(([n]) => n === name);
    if (index === -1) {
      entries.push(entry);
      return;
    }
    entries[index] = entry;
    this[kEntries] = entries.filter(([n], i) => i <= index || n !== name);
  }

  forEach(callback, thisArg = undefined) {
    for (const [name, value] of this) callback.call(thisArg, value, name, this);
  }

  *entries() {
    for (let i = 0; i < this[kEntries].length; i++) yield [...this[kEntries][i]];
  }

  *keys() {
    for (const [name] of this.entries()) yield name;
  }

  *values() {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  get [Symbol.toStringTag]() {
    return "FormData";
  }
}

function requireArgs(given, needed, method) {
  if (given < needed) {
    throw new TypeError(`Failed to execute '${method}' on 'FormData': ${needed} argument${needed > 1 ? "s" : ""} required, but only ${given} present.`);
  }
}

// multipart/form-data encoding (HTML "multipart/form-data encoding algorithm"): names and filenames escape
// '"' as %22 and CR/LF as %0D/%0A; string values normalise line breaks to CRLF.
function escapeName(name) {
  return name.replace(/\r\n|\r|\n/g, "\r\n").replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
}

export function serializeFormData(form) {
  const random = new Uint8Array(16);
  crypto.getRandomValues(random);
  let boundary = "----formdata-outbound-";
  for (const b of random) boundary += (b % 36).toString(36);
  const parts = [];
  for (const [name, value] of form[kEntries]) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
    if (typeof value === "string") {
      parts.push(encodeUtf8(`${head}\r\n\r\n${value.replace(/\r\n|\r|\n/g, "\r\n")}\r\n`));
      continue;
    }
    head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
    parts.push(encodeUtf8(head), blobBytes(value), encodeUtf8("\r\n"));
  }
  parts.push(encodeUtf8(`--${boundary}--\r\n`));
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return [out, boundary];
}

export function parseFormData(bytes, contentType) {
  const essence = contentType.split(";")[0].trim().toLowerCase();
  if (essence === "application/x-www-form-urlencoded") {
    const form = new FormData();
    for (const [name, value] of new URLSearchParams(utf8ToString(bytes))) form.append(name, value);
    return form;
  }
  if (essence === "multipart/form-data") {
    const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    if (boundary === null) throw new TypeError("Missing or invalid multipart/form-data boundary parameter.");
    return parseMultipart(bytes, boundary[1] ?? boundary[2]);
  }
  throw new TypeError(`Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded`);
}

function indexOf(haystack, needle, from) {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function parseMultipart(bytes, boundary) {
  const form = new FormData();
  const delimiter = encodeUtf8(`--${boundary}`);
  const invalid = () => new TypeError("Failed to parse multipart/form-data body.");
  let position = indexOf(bytes, delimiter, 0);
  if (position === -1) throw invalid();
  for (;;) {
    position += delimiter.length;
    if (bytes[position] === 0x2d && bytes[position + 1] === 0x2d) return form;
    if (bytes[position] !== 0x0d || bytes[position + 1] !== 0x0a) throw invalid();
    position += 2;
    const headerEnd = indexOf(bytes, encodeUtf8("\r\n\r\n"), position);
    if (headerEnd === -1) throw invalid();
    const headers = latin1Range(bytes, position, headerEnd).split("\r\n");
    const next = indexOf(bytes, encodeUtf8(`\r\n--${boundary}`), headerEnd + 4);
    if (next === -1) throw invalid();
    const content = bytes.slice(headerEnd + 4, next);
    let name = null;
    let filename = null;
    let type = "";
    for (const line of headers) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (key === "content-disposition") {
        name = dispositionParam(value, "name");
        filename = dispositionParam(value, "filename");
      } else if (key === "content-type") {
        type = value;
      }
    }
    if (name === null) throw invalid();
    if (filename !== null) form.append(name, new File([content], filename, { type }));
    else form.append(name, utf8ToString(content));
    position = next + 2;
  }
}

function dispositionParam(header, param) {
  const match = new RegExp(`;\\s*${param}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(header) ?? new RegExp(`;\\s*${param}=([^;\\s]+)`, "i").exec(header);
  if (match === null) return null;
  const raw = match[1].replace(/%22/g, '"').replace(/%0D/gi, "\r").replace(/%0A/gi, "\n");
  // Header bytes were read as latin-1; names are UTF-8 on the wire.
  return utf8ToString(Uint8Array.from(raw, (c) => c.charCodeAt(0)));
}
