// WHATWG Fetch "Headers", as workerd implements it: names are lower-cased on the way in, iteration is
// sorted and combined (except Set-Cookie, whose values stay separate), and the headers of an incoming request
// or a fetch() response are immutable.

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LEADING_WS = /^[\t\n\r ]+/;
const TRAILING_WS = /[\t\n\r ]+$/;
const INVALID_VALUE = /[\0\r\n]/;

export const kList = Symbol("headers list");
export const kGuard = Symbol("headers guard");

export function normalizeName(name) {
  name = String(name);
  if (!HEADER_NAME.test(name)) throw new TypeError(`Invalid header name.`);
  return name.toLowerCase();
}

export function normalizeValue(value) {
  value = String(value).replace(LEADING_WS, "").replace(TRAILING_WS, "");
  if (INVALID_VALUE.test(value)) throw new TypeError(`Invalid header value.`);
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) {
      throw new TypeError(`Cannot convert argument to a ByteString because the character at index ${i} has a value of ${value.charCodeAt(i)} which is greater than 255.`);
    }
  }
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
    this[kList].push([normalizeName(name), normalizeValue(value)]);
  }

  delete(name) {
    checkArgs(arguments.length, 1, "delete");
    assertMutable(this);
    const key = normalizeName(name);
    this[kList] = this[kList].filter(([n]) => n !== key);
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
    const key = normalizeName(name);
    // workerd keeps getAll() for Set-Cookie only, the one header that cannot be combined.
    if (key !== "set-cookie") throw new TypeError(`getAll() can only be used with the header name "Set-Cookie".`);
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
    const key = normalizeName(name);
    const normalized = normalizeValue(value);
    const list = this[kList];
    const index = list.findIndex(([n]) => n === key);
    if (index === -1) {
      list.push([key, normalized]);
      return;
    }
    list[index] = [key, normalized];
    this[kList] = list.filter(([n], i) => i <= index || n !== key);
  }

  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach requires a callback function.");
    for (const [name, value] of this) callback.call(thisArg, value, name, this);
  }

  *entries() {
    yield* sortAndCombine(this[kList]);
  }

  *keys() {
    for (const [name] of sortAndCombine(this[kList])) yield name;
  }

  *values() {
    for (const [, value] of sortAndCombine(this[kList])) yield value;
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
    throw new TypeError(`Failed to execute '${method}' on 'Headers': ${needed} argument${needed > 1 ? "s" : ""} required, but only ${given} present.`);
  }
}

function assertMutable(headers) {
  if (headers[kGuard] === "immutable") throw new TypeError("Can't modify immutable headers.");
}

function sortAndCombine(list) {
  const names = [...new Set(list.map(([n]) => n))].sort();
  const out = [];
  for (const name of names) {
    if (name === "set-cookie") {
      for (const [n, v] of list) if (n === name) out.push([n, v]);
      continue;
    }
    let value = null;
    for (const [n, v] of list) if (n === name) value = value === null ? v : `${value}, ${v}`;
    out.push([name, value]);
  }
  return out;
}

function fill(headers, init) {
  if (init instanceof Headers) {
    for (const [n, v] of init[kList]) headers[kList].push([n, v]);
    return;
  }
  if (typeof init !== "object" && typeof init !== "function") {
    throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
  }
  if (typeof init[Symbol.iterator] === "function") {
    for (const pair of init) {
      const entry = typeof pair === "string" ? null : [...pair];
      if (entry === null || entry.length !== 2) {
        throw new TypeError("Failed to construct 'Headers': Each header pair must be an iterable [name, value] tuple.");
      }
      headers.append(entry[0], entry[1]);
    }
    return;
  }
  for (const key of Reflect.ownKeys(init)) {
    const desc = Reflect.getOwnPropertyDescriptor(init, key);
    if (desc === undefined || !desc.enumerable) continue;
    if (typeof key === "symbol") throw new TypeError("Failed to construct 'Headers': Header name must not be a symbol.");
    headers.append(key, init[key]);
  }
}

// Internal constructors and views used by Request, Response, fetch() and the bridge.
export function headersFromList(list, guard) {
  const headers = new Headers();
  headers[kList] = list;
  headers[kGuard] = guard;
  return headers;
}

export function headerList(headers) {
  return headers[kList];
}

export function setGuard(headers, guard) {
  headers[kGuard] = guard;
}
