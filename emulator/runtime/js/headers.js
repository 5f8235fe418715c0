// WHATWG Fetch "Headers", as workerd implements it (src/workerd/api/headers.c++):
// - names are checked against RFC 7230's token characters and lower-cased (ASCII only); workerd checks the
//   UTF-8 bytes of the name, so any non-ASCII character passes;
// - values are trimmed of HTTP whitespace and may not contain NUL, CR or LF, so a handler can never inject a
//   header line; other characters, non-Latin-1 ones included, are kept (workerd sends them as UTF-8);
// - iteration is sorted by name and combines repeated names with ", ", except Set-Cookie, whose values stay
//   separate; each iterator works on a snapshot taken when it is created;
// - any guard other than "none" makes the object immutable: the headers of an incoming request, of a
//   fetch() response and of Response.redirect().

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z\u0080-\uffff]+$/;
const NON_ASCII = /[^\x00-\x7f]/;
const INVALID_VALUE = /[\0\r\n]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

export const kList = Symbol("headers list");
export const kGuard = Symbol("headers guard");

export const IMMUTABLE = "Can't modify immutable headers."; // headers.h checkGuard()
const INVALID_NAME = "Invalid header name.";
const INVALID_HEADER_VALUE = "Invalid header value.";
const SEQUENCE_PAIR =
  "To initialize a Headers object from a sequence, each inner sequence must have exactly two elements.";

// A template literal converts like WebIDL's ByteString: a Symbol throws a TypeError instead of becoming text.
function toText(value) {
  return `${value}`;
}

function asciiLower(text) {
  return NON_ASCII.test(text) ? text.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : text.toLowerCase();
}

export function normalizeName(name) {
  name = toText(name);
  // workerd accepts an empty name; it would put a line starting with ':' on the wire, so it is refused here.
  if (!HEADER_NAME.test(name)) throw new TypeError(INVALID_NAME);
  return asciiLower(name);
}

export function normalizeValue(value) {
  value = toText(value);
  if (value.length > 0) {
    const first = value.charCodeAt(0);
    const last = value.charCodeAt(value.length - 1);
    if (first <= 0x20 || last <= 0x20) value = value.replace(EDGE_WHITESPACE, "");
  }
  if (INVALID_VALUE.test(value)) throw new TypeError(INVALID_HEADER_VALUE);
  // Lone surrogates cannot be encoded as UTF-8; workerd's conversion replaces them with U+FFFD too.
  if (NON_ASCII.test(value)) value = value.toWellFormed();
  return value;
}

export class Headers {
  constructor(init = undefined) {
    this[kList] = [];
    this[kGuard] = "none";
    if (init !== undefined && init !== null) fill(this, init);
  }

  append(name, value) {
    checkArgs(arguments.length, 2, "append");
    assertMutable(this);
    value = normalizeValue(value); // workerd checks the value before the name
    this[kList].push([normalizeName(name), value]);
  }

  delete(name) {
    checkArgs(arguments.length, 1, "delete");
    assertMutable(this);
    const key = normalizeName(name);
    const list = this[kList];
    for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === key) list.splice(i, 1);
  }

  get(name) {
    checkArgs(arguments.length, 1, "get");
    const key = normalizeName(name);
    let found = null;
    for (const [n, v] of this[kList]) {
      if (n === key) found = found === null ? v : `${found}, ${v}`;
    }
    return found;
  }

  getAll(name) {
    checkArgs(arguments.length, 1, "getAll");
    // workerd keeps this legacy method for Set-Cookie only, the one header that cannot be combined.
    if (asciiLower(toText(name)) !== "set-cookie") {
      throw new TypeError('getAll() can only be used with the header name "Set-Cookie".');
    }
    return this.getSetCookie();
  }

  getSetCookie() {
    const out = [];
    for (const [n, v] of this[kList]) if (n === "set-cookie") out.push(v);
    return out;
  }

  has(name) {
    checkArgs(arguments.length, 1, "has");
    const key = normalizeName(name);
    return this[kList].some(([n]) => n === key);
  }

  set(name, value) {
    checkArgs(arguments.length, 2, "set");
    assertMutable(this);
    value = normalizeValue(value);
    const key = normalizeName(name);
    const list = this[kList];
    const index = list.findIndex(([n]) => n === key);
    if (index === -1) {
      list.push([key, value]);
      return;
    }
    list[index] = [key, value];
    for (let i = list.length - 1; i > index; i--) if (list[i][0] === key) list.splice(i, 1);
  }

  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'forEach' on 'Headers': parameter 1 is not of type 'Function'.");
    }
    for (const [name, value] of displayed(this[kList])) callback.call(thisArg ?? undefined, value, name, this);
  }

  entries() {
    return displayed(this[kList])[Symbol.iterator]();
  }

  keys() {
    return displayed(this[kList]).map(([name]) => name)[Symbol.iterator]();
  }

  values() {
    return displayed(this[kList]).map(([, value]) => value)[Symbol.iterator]();
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  get [Symbol.toStringTag]() {
    return "Headers";
  }
}

function checkArgs(given, needed, method) {
  if (given < needed) {
    throw new TypeError(
      `Failed to execute '${method}' on 'Headers': ${needed} argument${needed > 1 ? "s" : ""} required, but only ${given} present.`
    );
  }
}

function assertMutable(headers) {
  if (headers[kGuard] !== "none") throw new TypeError(IMMUTABLE);
}

// The list as iteration shows it: sorted by name, repeated names combined, Set-Cookie kept apart.
function displayed(list) {
  const combined = new Map();
  const cookies = [];
  for (const [name, value] of list) {
    if (name === "set-cookie") {
      cookies.push(value);
      continue;
    }
    const seen = combined.get(name);
    combined.set(name, seen === undefined ? value : `${seen}, ${value}`);
  }
  const out = [...combined];
  for (const value of cookies) out.push(["set-cookie", value]);
  // A stable sort keeps the Set-Cookie values in the order they were added.
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function fill(headers, init) {
  if (init instanceof Headers) {
    // workerd copies another Headers directly instead of iterating it (headers.c++, Headers::constructor).
    for (const [n, v] of init[kList]) headers[kList].push([n, v]);
    return;
  }
  if (typeof init !== "object" && typeof init !== "function") {
    throw new TypeError(
      "Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'."
    );
  }
  if (typeof init[Symbol.iterator] === "function") {
    const pairs = [];
    for (const pair of init) {
      if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function") {
        throw new TypeError(SEQUENCE_PAIR);
      }
      const entry = [...pair];
      if (entry.length !== 2) throw new TypeError(SEQUENCE_PAIR);
      pairs.push(entry);
    }
    for (const [name, value] of pairs) headers.append(name, value);
    return;
  }
  // A record: own enumerable string keys (symbols are skipped, as jsg::Dict does).
  for (const key of Object.keys(init)) headers.append(key, init[key]);
}

// Internal constructors and views used by Request, Response, fetch() and the bridge.

// Wraps an already-valid list (from the bridge or from Python) without checking it again.
export function headersFromList(list, guard) {
  const headers = new Headers();
  headers[kList] = list;
  headers[kGuard] = guard;
  return headers;
}

export function copyHeaders(headers, guard = headers[kGuard]) {
  return headersFromList(headers[kList].map(([n, v]) => [n, v]), guard);
}

export function headerList(headers) {
  return headers[kList];
}

export function hasHeader(headers, key) {
  return headers[kList].some(([n]) => n === key);
}

export function setGuard(headers, guard) {
  headers[kGuard] = guard;
}
