// The global scope a handler sees, against workerd's (api/global-scope.h, ServiceWorkerGlobalScope) for a
// recent compatibility date and no flags. A global added to the runtime must be added here, on purpose.
//
// workerd globals the emulator does not provide yet: caches, CacheStorage, Cache, WebSocket, WebSocketPair,
// WebSocketRequestResponsePair, HTMLRewriter, EventSource, URLPattern, MessageChannel, MessagePort, Body,
// FetchEvent, ScheduledEvent, TailEvent, TraceEvent, Cloudflare.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

// Own properties of globalThis: the JavaScript builtins (as SpiderMonkey has them, minus InternalError) and
// the lazy instance properties workerd defines on the global itself.
const OWN = [
  "AggregateError", "Array", "ArrayBuffer", "BigInt", "BigInt64Array", "BigUint64Array", "Boolean", "DataView", "Date",
  "Error", "EvalError", "FinalizationRegistry", "Float16Array", "Float32Array", "Float64Array", "Function", "Infinity",
  "Int16Array", "Int32Array", "Int8Array", "Intl", "Iterator", "JSON", "Map", "Math", "NaN", "Number", "Object",
  "Promise", "Proxy", "RangeError", "ReferenceError", "Reflect", "RegExp", "Set", "String", "Symbol", "SyntaxError",
  "TypeError", "URIError", "Uint16Array", "Uint32Array", "Uint8Array", "Uint8ClampedArray", "WeakMap", "WeakRef",
  "WeakSet", "WebAssembly", "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "eval",
  "globalThis", "isFinite", "isNaN", "parseFloat", "parseInt", "undefined", "unescape",
  // workerd's instance properties
  "console", "crypto", "navigator", "origin", "performance", "scheduler", "self",
  // pythonmonkey's second realm: non-configurable, it cannot be deleted
  "debuggerGlobal",
];

// The Web API interfaces and operations: properties of the global's prototype, as in workerd.
const ON_PROTOTYPE = [
  "AbortController", "AbortSignal", "Blob", "ByteLengthQueuingStrategy", "CloseEvent", "CompressionStream",
  "CountQueuingStrategy", "Crypto", "CryptoKey", "CustomEvent", "DOMException", "DecompressionStream", "ErrorEvent",
  "Event", "EventTarget", "ExtendableEvent", "File", "FixedLengthStream", "FormData", "Headers",
  "IdentityTransformStream", "MessageEvent", "Navigator", "PromiseRejectionEvent", "ReadableByteStreamController",
  "ReadableStream", "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest", "ReadableStreamDefaultController",
  "ReadableStreamDefaultReader", "Request", "Response", "SubtleCrypto", "TextDecoder", "TextDecoderStream",
  "TextEncoder", "TextEncoderStream", "TransformStream", "TransformStreamDefaultController", "URL",
  "URLSearchParams", "WorkerGlobalScope", "WritableStream", "WritableStreamDefaultController",
  "WritableStreamDefaultWriter", "atob", "btoa", "clearInterval", "clearTimeout", "constructor", "fetch",
  "queueMicrotask", "reportError", "setInterval", "setTimeout", "structuredClone",
];

function sameSet(actual, expected, what) {
  const extra = actual.filter((name) => !expected.includes(name));
  const missing = expected.filter((name) => !actual.includes(name));
  assert.ok(extra.length === 0 && missing.length === 0, `${what}: unexpected ${JSON.stringify(extra)}, missing ${JSON.stringify(missing)}`);
}

test("globalThis has exactly the expected own properties", () => {
  sameSet(Object.getOwnPropertyNames(globalThis), OWN, "own properties");
});

test("the global's prototype holds exactly the Web API interfaces and operations", () => {
  sameSet(Object.getOwnPropertyNames(Object.getPrototypeOf(globalThis)), ON_PROTOTYPE, "prototype properties");
});

test("pythonmonkey's extras are gone", () => {
  for (const name of ["python", "pmEval", "XMLHttpRequest", "ProgressEvent", "setImmediate", "clearImmediate", "InternalError", "__core-js_shared__"]) {
    assert.equal(typeof globalThis[name], "undefined", name);
  }
});

test("property attributes follow workerd: operations inherited and enumerable, instance properties own", () => {
  assert.equal(Object.prototype.hasOwnProperty.call(globalThis, "fetch"), false);
  const fetchDescriptor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(globalThis), "fetch");
  assert.deepEqual([fetchDescriptor.writable, fetchDescriptor.enumerable, fetchDescriptor.configurable], [true, true, true]);
  const selfDescriptor = Object.getOwnPropertyDescriptor(globalThis, "self");
  assert.deepEqual([selfDescriptor.value === globalThis, selfDescriptor.writable, selfDescriptor.enumerable], [true, true, true]);
  assert.equal(Object.getOwnPropertyDescriptor(globalThis, "console").enumerable, false);
  assert.equal(globalThis.origin, "null");
  globalThis.setTimeout = "shadowed";
  assert.equal(setTimeout, "shadowed");
  delete globalThis.setTimeout;
  assert.equal(typeof setTimeout, "function", "deleting the own property uncovers the inherited one");
});

test("the global scope is an EventTarget, usable without a receiver", () => {
  assert.ok(globalThis instanceof EventTarget);
  assert.ok(globalThis instanceof WorkerGlobalScope);
  assert.equal(globalThis.constructor.name, "ServiceWorkerGlobalScope");
  assert.throws(() => new WorkerGlobalScope(), { name: "TypeError", message: "Illegal constructor" });
  let calls = 0;
  const listener = () => calls++;
  addEventListener("custom", listener);
  dispatchEvent(new Event("custom"));
  globalThis.dispatchEvent(new Event("custom"));
  removeEventListener("custom", listener);
  dispatchEvent(new Event("custom"));
  assert.equal(calls, 2);
});

test("navigator and performance are workerd's", () => {
  assert.equal(navigator.userAgent, "Cloudflare-Workers");
  assert.equal(navigator.hardwareConcurrency, 1);
  assert.equal(navigator.platform, "");
  assert.equal(navigator.language, "en");
  assert.deepEqual([...navigator.languages], ["en"]);
  assert.ok(navigator instanceof Navigator);
  assert.throws(() => new Navigator(), { message: "Illegal constructor" });
  assert.equal(performance.timeOrigin, 0);
  assert.ok(Math.abs(performance.now() - Date.now()) < 50, "performance.now() is Date.now()");
  assert.equal(typeof performance.mark, "undefined", "mark/measure need enable_global_performance_classes");
  assert.equal(typeof scheduler.wait, "function");
});

test("code generation from strings is disallowed, as in Workers", () => {
  const message = "Code generation from strings disallowed for this context";
  assert.throws(() => eval("1 + 1"), { name: "EvalError", message });
  assert.throws(() => new Function("return 1"), { name: "EvalError", message });
  assert.throws(() => Function("return 1"), { name: "EvalError", message });
  assert.throws(() => (async function () {}).constructor("return 1"), { name: "EvalError", message });
  assert.throws(() => (function* () {}).constructor("yield 1"), { name: "EvalError", message });
  const fn = () => 1;
  assert.ok(fn instanceof Function);
  assert.equal(fn.constructor, Function);
  assert.equal(typeof fn.call, "function");
});

test("URL parses, resolves and serializes per the WHATWG URL Standard", () => {
  assert.equal(new URL("https://m\u00fcnchen.de/a b?x=1 2#f g").href, "https://xn--mnchen-3ya.de/a%20b?x=1%202#f%20g");
  assert.equal(new URL("HTTPS://User:Pa@Example.COM:443/%7e?#").href, "https://User:Pa@example.com/%7e?#");
  assert.equal(new URL("http://0x7f.1/").hostname, "127.0.0.1");
  assert.equal(new URL("../c", "https://a.test/b/d/e").href, "https://a.test/b/c");
  assert.equal(new URL("https://[::1]:8080/").host, "[::1]:8080");
  assert.equal(new URL("blob:https://a.test/x").origin, "https://a.test");
  assert.equal(JSON.stringify({ u: new URL("https://a.test") }), '{"u":"https://a.test/"}');
  const url = new URL("https://a.test/?q=1");
  url.searchParams.append("r", "x y");
  url.pathname = "p q";
  url.hostname = "EXAMPLE.com";
  assert.equal(url.href, "https://example.com/p%20q?q=1&r=x+y");
  assert.equal(URL.canParse("https://a.test"), true);
  assert.equal(URL.canParse("nope"), false);
  assert.ok(new URL("https://a.test") instanceof URL);
  assert.equal(new URL("https://a.test").constructor, URL);
});

test("URL and URLSearchParams errors carry workerd's messages", () => {
  assert.throws(() => new URL("not a url"), { name: "TypeError", message: "Invalid URL string." });
  assert.throws(() => new URL("/relative"), { name: "TypeError", message: "Invalid URL string." });
  assert.throws(() => new URLSearchParams([["only-one"]]), { name: "TypeError", message: "Invalid URL search params sequence." });
  assert.throws(() => URL.createObjectURL(new Blob([])), { name: "Error", message: "URL.createObjectURL() is not implemented" });
});

test("URLSearchParams: order, duplicates, sorting and form encoding", () => {
  const params = new URLSearchParams("b=2&a=1&b=1");
  assert.equal(params.size, 3);
  assert.deepEqual(params.getAll("b"), ["2", "1"]);
  params.sort();
  assert.equal(params.toString(), "a=1&b=2&b=1");
  assert.equal(new URLSearchParams({ a: "x y", b: "\u00e9&=" }).toString(), "a=x+y&b=%C3%A9%26%3D");
  assert.deepEqual([...new URLSearchParams("?a=%20+b")], [["a", "  b"]]);
  params.delete("b");
  assert.equal(params.toString(), "a=1");
});
