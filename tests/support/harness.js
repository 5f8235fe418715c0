// A tiny test registry for Web API tests that run inside the real runtime (a JS worker process).
// Each *.test.js file imports { test, assert } from here; tests/webapi/conftest.py turns every registered
// test into a pytest item and runs it through the pool's `callExport` call.
const registry = new Map();

export function test(name, fn) {
  if (registry.has(name)) throw new Error(`duplicate test name: ${name}`);
  registry.set(name, fn);
}

function show(value) {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value) === "[object Object]" ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}

function equalDeep(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (ArrayBuffer.isView(a)) return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
  if (a instanceof Map || a instanceof Set) return equalDeep([...a], [...b]);
  if (a instanceof Date) return a.getTime() === b.getTime();
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => equalDeep(a[k], b[k]));
}

export const assert = {
  ok(value, message = "expected a truthy value") {
    if (!value) throw new Error(`${message} (got ${show(value)})`);
  },
  equal(actual, expected, message = "") {
    if (!Object.is(actual, expected)) throw new Error(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  },
  deepEqual(actual, expected, message = "") {
    if (!equalDeep(actual, expected)) {
      throw new Error(`${message ? message + ": " : ""}expected ${show(JSON.stringify(expected))}, got ${show(JSON.stringify(actual))}`);
    }
  },
  throws(fn, check, message = "") {
    try {
      fn();
    } catch (error) {
      matchError(error, check, message);
      return error;
    }
    throw new Error(`${message ? message + ": " : ""}expected an exception`);
  },
  async rejects(promiseOrFn, check, message = "") {
    try {
      await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
    } catch (error) {
      matchError(error, check, message);
      return error;
    }
    throw new Error(`${message ? message + ": " : ""}expected a rejection`);
  },
};

// check: an error class, {name, message} (message a string or RegExp), or undefined.
function matchError(error, check, message) {
  const prefix = message ? message + ": " : "";
  if (check === undefined) return;
  if (typeof check === "function") {
    if (!(error instanceof check)) throw new Error(`${prefix}expected ${check.name}, got ${error?.name}: ${error?.message}`);
    return;
  }
  if (check.name !== undefined && error?.name !== check.name) {
    throw new Error(`${prefix}expected error name ${check.name}, got ${error?.name}: ${error?.message}`);
  }
  if (check.message !== undefined) {
    const ok = check.message instanceof RegExp ? check.message.test(error?.message) : error?.message === check.message;
    if (!ok) throw new Error(`${prefix}expected message ${show(String(check.message))}, got ${show(error?.message)}`);
  }
}

export const tests = {
  list() {
    return [...registry.keys()];
  },
  async run(name) {
    await registry.get(name)();
    return true;
  },
};
