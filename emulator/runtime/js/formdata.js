// FormData (XHR standard) as workerd has it (src/workerd/api/form-data.c++), with the codecs the Body mixin
// needs: multipart/form-data and application/x-www-form-urlencoded parsing, multipart serialization, and the
// MIME type parser workerd uses for Content-Type (src/workerd/util/mimetype.c++).
import { Blob, File, blobBytes, makeFile } from "./blob.js";
import { encodeUtf8, utf8ToString, latin1Range } from "./utf8.js";

const kEntries = Symbol("form entries");

// A Blob becomes a File named after the filename argument or, in workerd, after the entry's name (the spec
// says "blob"). A File keeps its identity unless a filename renames it.
function toEntryValue(name, value, filename) {
  if (value instanceof Blob) {
    if (value instanceof File && filename === undefined) return value;
    return makeFile(blobBytes(value), filename === undefined ? name : `${filename}`, value.type, Date.now());
  }
  return `${value}`;
}

export class FormData {
  // workerd's constructor takes no arguments (there is no HTMLFormElement) and ignores any it is given.
  constructor() {
    this[kEntries] = [];
  }

  append(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "append");
    name = `${name}`;
    this[kEntries].push([name, toEntryValue(name, value, filename)]);
  }

  delete(name) {
    requireArgs(arguments.length, 1, "delete");
    name = `${name}`;
    const entries = this[kEntries];
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i][0] === name) entries.splice(i, 1);
  }

  get(name) {
    requireArgs(arguments.length, 1, "get");
    name = `${name}`;
    const entry = this[kEntries].find(([n]) => n === name);
    return entry === undefined ? null : entry[1];
  }

  getAll(name) {
    requireArgs(arguments.length, 1, "getAll");
    name = `${name}`;
    return this[kEntries].filter(([n]) => n === name).map(([, v]) => v);
  }

  has(name) {
    requireArgs(arguments.length, 1, "has");
    name = `${name}`;
    return this[kEntries].some(([n]) => n === name);
  }

  set(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "set");
    name = `${name}`;
    const entry = [name, toEntryValue(name, value, filename)];
    const entries = this[kEntries];
    const index = entries.findIndex(([n]) => n === name);
    if (index === -1) {
      entries.push(entry);
      return;
    }
    entries[index] = entry;
    for (let i = entries.length - 1; i > index; i--) if (entries[i][0] === name) entries.splice(i, 1);
  }

  // Live, as in workerd: entries appended during a forEach or an iteration are visited too.
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'forEach' on 'FormData': parameter 1 is not of type 'Function'.");
    }
    const entries = this[kEntries];
    for (let i = 0; i < entries.length; i++) callback.call(thisArg ?? undefined, entries[i][1], entries[i][0], this);
  }

  *entries() {
    const entries = this[kEntries];
    for (let i = 0; i < entries.length; i++) yield [entries[i][0], entries[i][1]];
  }

  *keys() {
    const entries = this[kEntries];
    for (let i = 0; i < entries.length; i++) yield entries[i][0];
  }

  *values() {
    const entries = this[kEntries];
    for (let i = 0; i < entries.length; i++) yield entries[i][1];
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
    throw new TypeError(
      `Failed to execute '${method}' on 'FormData': ${needed} argument${needed > 1 ? "s" : ""} required, but only ${given} present.`
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// multipart/form-data serialization, byte for byte as workerd's FormData::serialize(): a 32-hex-digit
// boundary, names and filenames with '"' → %22, LF → %0A and '\' → '\\', values as given (no line-break
// normalization), and a final "--boundary--" without a trailing CRLF.

const HEX = "0123456789abcdef";

function escapeQuoted(value) {
  if (value.endsWith("\\")) throw new TypeError("Name or filename can't end with backslash");
  return value.replace(/["\n\\]/g, (c) => (c === '"' ? "%22" : c === "\n" ? "%0A" : "\\\\"));
}

export function serializeFormData(form) {
  const random = new Uint8Array(16);
  crypto.getRandomValues(random);
  let boundary = "";
  for (const b of random) boundary += HEX[b >> 4] + HEX[b & 15];
  const parts = [];
  for (const [name, value] of form[kEntries]) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeQuoted(name)}"`;
    if (typeof value === "string") {
      parts.push(encodeUtf8(`${head}\r\n\r\n${value}\r\n`));
      continue;
    }
    head += `; filename="${escapeQuoted(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
    parts.push(encodeUtf8(head), blobBytes(value), CRLF);
  }
  parts.push(encodeUtf8(`--${boundary}--`));
  return [concat(parts), boundary];
}

const CRLF = new Uint8Array([13, 10]);

function concat(parts) {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Body.formData(): the two MIME types workerd parses, with its error messages.

const UNRECOGNIZED =
  "Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded";
const NO_BOUNDARY =
  "No boundary string in Content-Type header. The multipart/form-data MIME type requires a boundary parameter, e.g. 'Content-Type: multipart/form-data; boundary=\"abcd\"'. See RFC 7578, section 4.";
const UTF8_CHARSETS = new Set(["utf-8", "utf8", "unicode-1-1-utf-8"]);

export function parseFormData(bytes, contentType) {
  const mime = parseMimeType(contentType);
  if (mime !== null && mime.type === "multipart" && mime.subtype === "form-data") {
    const boundary = mime.params.get("boundary");
    if (boundary === undefined) throw new TypeError(NO_BOUNDARY);
    return parseMultipart(bytes, boundary);
  }
  if (mime !== null && mime.type === "application" && mime.subtype === "x-www-form-urlencoded") {
    const charset = mime.params.get("charset");
    if (charset !== undefined && !UTF8_CHARSETS.has(charset.toLowerCase())) {
      throw new TypeError("Non-utf-8 application/x-www-form-urlencoded body.");
    }
    const form = new FormData();
    for (const [name, value] of new URLSearchParams(utf8ToString(bytes))) form.append(name, value);
    return form;
  }
  throw new TypeError(UNRECOGNIZED);
}

// Finds `needle` in `haystack` from `from`; the native indexOf finds candidates for the first byte.
function indexOfBytes(haystack, needle, from) {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function startsWithAt(bytes, at, text) {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

// Parts are delimited by LF "--" boundary (a CR before the LF is optional and dropped from the content);
// the first boundary needs no line break before it.
function parseMultipart(bytes, boundary) {
  const form = new FormData();
  const boundaryBytes = encodeUtf8(`--${boundary}`);
  const delimiter = encodeUtf8(`\n--${boundary}`);
  let found = indexOfBytes(bytes, boundaryBytes, 0);
  let position = found === -1 ? bytes.length : found + boundaryBytes.length;
  if (position >= bytes.length) throw new TypeError("No initial boundary string (or you have a truncated message).");
  for (;;) {
    if (bytes[position] === 0x0a) position += 1;
    else if (bytes[position] === 0x0d && bytes[position + 1] === 0x0a) position += 2;
    else if (bytes[position] === 0x2d && bytes[position + 1] === 0x2d) return form;
    else throw new TypeError("Boundary string was not succeeded by CRLF, LF, or '--'.");

    const headerEnd = findHeaderEnd(bytes, position);
    if (headerEnd === -1) throw new TypeError("No multipart message header termination found.");
    const { name, filename, type } = parsePartHeaders(latin1Range(bytes, position, headerEnd));
    found = indexOfBytes(bytes, delimiter, headerEnd);
    const end = found === -1 ? bytes.length : found;
    const next = found === -1 ? bytes.length : found + delimiter.length;
    if (next >= bytes.length) throw new TypeError("No subsequent boundary string after multipart message.");
    const contentEnd = end > headerEnd && bytes[end - 1] === 0x0d ? end - 1 : end;
    const content = bytes.slice(headerEnd, contentEnd);
    // The part's Content-Type becomes the File's type as written (File's constructor would lower-case it).
    if (filename !== null) form.append(name, makeFile(content, filename, type, Date.now()));
    else form.append(name, utf8ToString(content));
    position = next;
  }
}

// The end (exclusive) of the first "\r?\n\r?\n" at or after `from`, or -1.
function findHeaderEnd(bytes, from) {
  for (let i = bytes.indexOf(0x0a, from); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
    let j = i + 1;
    if (bytes[j] === 0x0d) j++;
    if (bytes[j] === 0x0a) return j + 1;
  }
  return -1;
}

const PART_HEADER = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*(.*?)[ \t]*$/;

function parsePartHeaders(text) {
  let disposition = null;
  let type = "";
  for (const line of text.split(/\r?\n/)) {
    if (line === "") continue;
    const match = PART_HEADER.exec(line);
    if (match === null) throw new TypeError("FormData part had invalid headers.");
    const key = match[1].toLowerCase();
    // Header bytes were read as Latin-1; their text is UTF-8, as kj's header parser hands it to JS.
    const value = utf8ToString(Uint8Array.from(match[2], (c) => c.charCodeAt(0)));
    if (key === "content-disposition" && disposition === null) disposition = value;
    else if (key === "content-type" && type === "") type = value;
  }
  if (disposition === null) throw new TypeError("No valid Content-Disposition header found in FormData part.");
  const [kind, params] = parseDisposition(disposition);
  if (kind !== "form-data") {
    throw new TypeError(
      `Content-Disposition header for FormData part must have the value "form-data", possibly followed by parameters. Got: "${kind}"`
    );
  }
  const name = params.get("name");
  if (name === undefined) throw new TypeError("Content-Disposition header in FormData part is missing a name.");
  return { name, filename: params.get("filename") ?? null, type };
}

// workerd's grammar (form-data.c++ contentDisposition): an identifier of [A-Za-z0-9_-], then any number of
// `; key="value"` parameters with quoted, non-empty values in which '\' escapes the next character. Parsing
// stops at the first parameter that does not fit; what was read so far counts (so `name=x`, unquoted, is
// "missing a name"). Percent escapes are not decoded.
const IDENTIFIER = /^[ \t]*([A-Za-z0-9_-]+)[ \t]*/;
const PARAMETER = /^;[ \t]*([A-Za-z0-9_-]+)[ \t]*=[ \t]*"((?:[^"\n\\]|\\[^\n])+)"[ \t]*/;

function parseDisposition(text) {
  const head = IDENTIFIER.exec(text);
  if (head === null) throw new TypeError("Invalid Content-Disposition header found in FormData part.");
  const params = new Map();
  let rest = text.slice(head[0].length);
  for (let match = PARAMETER.exec(rest); match !== null; match = PARAMETER.exec(rest)) {
    if (match[1] === "name" || match[1] === "filename") params.set(match[1], match[2].replace(/\\(.)/g, "$1"));
    rest = rest.slice(match[0].length);
  }
  return [head[1], params];
}

// ---------------------------------------------------------------------------------------------------------
// MIME types as workerd parses and prints them (util/mimetype.c++): type and subtype are lower-cased tokens,
// parameter names are lower-cased, values keep their case, an invalid parameter is skipped, and the first
// occurrence of a name wins.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const QUOTED_STRING_CHARS = /^[\t\x20-\x7e\x80-\xfe]*$/;
const WHITESPACE = /^[\r\n\t ]+/;
const TRAILING_WHITESPACE = /[\r\n\t ]+$/;

export function parseMimeType(input) {
  input = input.replace(WHITESPACE, "");
  const slash = input.indexOf("/");
  if (slash <= 0) return null;
  const type = input.slice(0, slash);
  if (!TOKEN.test(type)) return null;
  input = input.slice(slash + 1);
  const semicolon = input.indexOf(";");
  const subtype = (semicolon === -1 ? input : input.slice(0, semicolon)).replace(TRAILING_WHITESPACE, "");
  if (!TOKEN.test(subtype)) return null;
  const mime = { type: type.toLowerCase(), subtype: subtype.toLowerCase(), params: new Map() };
  input = semicolon === -1 ? "" : input.slice(semicolon + 1);
  while (input.length > 0) {
    input = input.replace(WHITESPACE, "");
    const delimiter = input.search(/[;=]/);
    if (delimiter === -1) break;
    if (input[delimiter] === ";") {
      input = input.slice(delimiter + 1);
      continue;
    }
    const name = input.slice(0, delimiter);
    input = input.slice(delimiter + 1);
    if (!TOKEN.test(name)) {
      const next = input.indexOf(";");
      if (next === -1) break;
      input = input.slice(next + 1);
      continue;
    }
    if (input.length === 0) break;
    let value;
    if (input[0] === '"') {
      value = "";
      let i = 1;
      for (; i < input.length; i++) {
        const c = input[i];
        if (c === '"') break;
        if (c === "\\") {
          i += 1;
          value += i < input.length ? input[i] : "\\";
        } else {
          value += c;
        }
      }
      input = input.slice(i + 1);
      const next = input.indexOf(";");
      input = next === -1 ? "" : input.slice(next + 1);
    } else {
      const next = input.indexOf(";");
      value = (next === -1 ? input : input.slice(0, next)).replace(TRAILING_WHITESPACE, "");
      input = next === -1 ? "" : input.slice(next + 1);
      if (value.length === 0) continue;
    }
    const key = name.toLowerCase();
    if (QUOTED_STRING_CHARS.test(value) && !mime.params.has(key)) mime.params.set(key, value);
  }
  return mime;
}

export function serializeMimeType(mime) {
  let out = `${mime.type}/${mime.subtype}`;
  for (const [key, value] of mime.params) {
    // workerd puts a space before "boundary" only, to pass a Web Platform Test.
    out += key === "boundary" ? "; " : ";";
    out += `${key}=`;
    if (value.length === 0) out += '""';
    else if (TOKEN.test(value)) out += value;
    else out += `"${value.replace(/["\\]/g, "\\$&")}"`;
  }
  return out;
}

// Fetch "extract a MIME type" from a (possibly combined) Content-Type value, as workerd's MimeType::extract:
// the last valid type wins, and a repeated essence without a charset keeps the previous charset.
export function extractMimeType(headerValue) {
  let result = null;
  for (const part of splitUnquotedCommas(headerValue)) {
    const parsed = parseMimeType(part);
    if (parsed === null || (parsed.type === "*" && parsed.subtype === "*")) continue;
    if (result !== null && result.type === parsed.type && result.subtype === parsed.subtype) {
      const charset = result.params.get("charset");
      if (!parsed.params.has("charset") && charset !== undefined) parsed.params.set("charset", charset);
    }
    result = parsed;
  }
  return result;
}

function splitUnquotedCommas(text) {
  const parts = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && (i === 0 || text[i - 1] !== "\\")) {
      while (++i < text.length && (text[i] !== '"' || text[i - 1] === "\\"));
    } else if (c === "," && (i === 0 || text[i - 1] !== "\\")) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
