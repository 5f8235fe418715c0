// The Workers global scope inside SpiderMonkey. Bundled by esbuild (emulator/runtime/bundle.py) into one
// script that runs before the user's bundle, in every JS worker process.
//
// The global object is laid out as workerd lays it out (api/global-scope.h, jsg/resource.h) for a recent
// compatibility date without flags:
//   - globalThis inherits ServiceWorkerGlobalScope.prototype -> WorkerGlobalScope.prototype ->
//     EventTarget.prototype, so `addEventListener` & co. work on it and `globalThis instanceof EventTarget`;
//   - the Web API classes and functions (fetch, Headers, setTimeout, ...) live on that prototype (writable,
//     enumerable, configurable), not on globalThis itself;
//   - self, crypto, scheduler, performance, navigator and origin are own properties of globalThis;
//   - the JavaScript builtins stay where the engine puts them, except SpiderMonkey's InternalError, which V8
//     does not have; pythonmonkey's extras (python, XMLHttpRequest, setImmediate, ...) are removed;
//   - eval() and the Function constructors throw EvalError, as code generation from strings is disallowed.
import "./host.js";
import { AbortController, AbortSignal } from "./abort.js";
import { Blob, File } from "./blob.js";
import { call, cancel, dispatch, loadModule } from "./bridge.js";
import { console, reportUncaught } from "./console.js";
import { CRYPTO_GLOBALS } from "./crypto.js";
import { atob, btoa, TextDecoder, TextEncoder } from "./encoding.js";
import {
  CloseEvent,
  CustomEvent,
  DOMException,
  ErrorEvent,
  Event,
  EventTarget,
  ExtendableEvent,
  MessageEvent,
  PromiseRejectionEvent,
  dispatch as dispatchEvent,
  initEventTarget,
  trustedEvent,
} from "./events.js";
import { FormData } from "./formdata.js";
import { fetch } from "./fetch.js";
import { structuredClone } from "./clone.js";
import { Headers } from "./headers.js";
import { RESOURCE_TYPE } from "./inspect.js";
import { Request } from "./request.js";
import { Response } from "./response.js";
import * as streams from "./streams.js";
import {
  Scheduler,
  activeTimerCount,
  clearInterval,
  clearTimeout,
  fireTimer,
  queueMicrotask,
  setInterval,
  setTimeout,
} from "./timers.js";

// pythonmonkey's globals that Workers does not have; some hand the Python interpreter to user code.
const REMOVED = [
  "python", "pmEval", "XMLHttpRequest", "XMLHttpRequestEventTarget", "XMLHttpRequestUpload", "ProgressEvent",
  "setImmediate", "clearImmediate", "ListIterator", "__core-js_shared__", "InternalError",
];
// (`debuggerGlobal`, pythonmonkey's second, bare realm, is non-configurable: it cannot be removed.)

// pythonmonkey's core-js URL and URLSearchParams stay (they follow the WHATWG URL Standard, as workerd's
// ada-based ones do); only their constructors' TypeErrors are reworded to workerd's (api/url-standard.c++),
// and URL gets workerd's stubs for blob URLs.
const URL = withConstructorMessage(globalThis.URL, () => true, "Invalid URL string.");
const URLSearchParams = withConstructorMessage(
  globalThis.URLSearchParams,
  (error) => error.message === "Expected sequence with length 2",
  "Invalid URL search params sequence.",
);
for (const name of ["createObjectURL", "revokeObjectURL"]) {
  const stub = { [name]() { throw new Error(`URL.${name}() is not implemented`); } }[name];
  Object.defineProperty(globalThis.URL, name, { value: stub, writable: true, configurable: true });
}

function withConstructorMessage(Class, matches, message) {
  const wrapped = new Proxy(Class, {
    construct(target, args, newTarget) {
      try {
        return Reflect.construct(target, args, newTarget === wrapped ? target : newTarget);
      } catch (error) {
        if (error instanceof TypeError && matches(error)) throw new TypeError(message);
        throw error;
      }
    },
  });
  Object.defineProperty(Class.prototype, "constructor", { value: wrapped, writable: true, configurable: true });
  return wrapped;
}

function illegalConstructor() {
  throw new TypeError("Illegal constructor");
}

class WorkerGlobalScope extends EventTarget {
  constructor() {
    illegalConstructor();
    super();
  }
}

// Like workerd's methods on the global, these also work without a receiver: `addEventListener(...)`.
for (const name of ["addEventListener", "removeEventListener", "dispatchEvent"]) {
  const method = EventTarget.prototype[name];
  const unbound = { [name](...args) { return method.apply(this ?? globalThis, args); } }[name];
  Object.defineProperty(WorkerGlobalScope.prototype, name, { value: unbound, writable: true, configurable: true });
}

class ServiceWorkerGlobalScope extends WorkerGlobalScope {}

// Only the runtime creates these; user code sees the instances on globalThis.
class Navigator {
  constructor(token) {
    if (token !== INTERNAL) illegalConstructor();
    const readonly = (value) => ({ get: () => value, enumerable: true, configurable: true });
    Object.defineProperties(this, {
      userAgent: readonly("Cloudflare-Workers"),
      hardwareConcurrency: readonly(1),
      platform: readonly(""),
      language: readonly("en"), // enable_navigator_language, on since 2025-05-19
      languages: readonly(Object.freeze(["en"])),
    });
  }

  // workerd sends the beacon as a POST in the background and reports it queued.
  sendBeacon(url, body = undefined) {
    fetch(`${url}`, { method: "POST", body }).catch(() => {});
    return true;
  }
}

// Without compatibility flags Workers' performance has only these two (api/performance.h): the time origin
// is 0, so now() is Date.now().
class Performance {
  constructor(token) {
    if (token !== INTERNAL) illegalConstructor();
  }

  get timeOrigin() {
    return 0;
  }

  now() {
    return Date.now();
  }
}

const INTERNAL = Symbol("internal construction");

// reportError(): an "error" event on the global scope first; if no listener prevents it, the error is logged
// as uncaught (api/global-scope.c++).
function reportError(error) {
  let message;
  try {
    message = `Uncaught ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  } catch {
    message = "Uncaught exception";
  }
  const event = trustedEvent(new ErrorEvent("error", {
    message,
    filename: error?.fileName,
    lineno: error?.lineNumber,
    colno: error?.columnNumber,
    error,
  }));
  if (dispatchEvent(globalThis, event)) reportUncaught(error);
}

// The interface objects and operations of the global scope: they go on ServiceWorkerGlobalScope.prototype.
const members = {
  DOMException, WorkerGlobalScope, EventTarget, Event, ExtendableEvent, CustomEvent, PromiseRejectionEvent,
  MessageEvent, CloseEvent, ErrorEvent, Headers, Request, Response,
  AbortController, AbortSignal, TextDecoder, TextEncoder, Navigator, URL, URLSearchParams, Blob, File, FormData,
  btoa, atob, setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, structuredClone, reportError,
  fetch,
  ...streams.STREAM_GLOBALS,
};
const ownProperties = {
  scheduler: new Scheduler(),
  performance: new Performance(INTERNAL),
  navigator: new Navigator(INTERNAL),
};
for (const [name, value] of Object.entries(CRYPTO_GLOBALS)) {
  if (typeof value === "function") members[name] = value;
  else ownProperties[name] = value;
}

for (const name of REMOVED) delete globalThis[name];
for (const name of Object.keys(members)) delete globalThis[name];

const proto = ServiceWorkerGlobalScope.prototype;
for (const [name, value] of Object.entries(members)) {
  Object.defineProperty(proto, name, { value, writable: true, enumerable: true, configurable: true });
}
Object.setPrototypeOf(globalThis, proto);
initEventTarget(globalThis);

for (const [name, value] of Object.entries({ self: globalThis, ...ownProperties })) {
  Object.defineProperty(globalThis, name, { value, writable: true, enumerable: true, configurable: true });
}
Object.defineProperty(globalThis, "origin", { get: () => "null", enumerable: true, configurable: true });
Object.defineProperty(globalThis, "console", { value: console, writable: true, enumerable: false, configurable: true });

// Runtime objects print as workerd prints its own (js/inspect.js) and are refused by structuredClone.
for (const value of [...Object.values(members), Performance, Scheduler, WorkerGlobalScope]) {
  if (typeof value === "function" && /^[A-Z]/.test(value.name) && value.prototype !== undefined) {
    Object.defineProperty(value.prototype, RESOURCE_TYPE, { value: true, configurable: true });
  }
}

// Workers disallows code generation from strings (V8's message).
const CODEGEN_DISALLOWED = "Code generation from strings disallowed for this context";
function refuseCodeGeneration(name) {
  // A function expression (not a method) so that `new Function(...)` reaches the throw too.
  return {
    [name]: function () {
      throw new EvalError(CODEGEN_DISALLOWED);
    },
  }[name];
}
Object.defineProperty(globalThis, "eval", {
  value: refuseCodeGeneration("eval"), writable: true, enumerable: false, configurable: true,
});
for (const sample of [function () {}, async function () {}, function* () {}, async function* () {}]) {
  const prototype = Object.getPrototypeOf(sample);
  const original = prototype.constructor;
  const refuse = refuseCodeGeneration(original.name);
  Object.defineProperty(refuse, "prototype", { value: prototype });
  Object.defineProperty(prototype, "constructor", { value: refuse, writable: false, enumerable: false, configurable: true });
  if (original === Function) {
    Object.defineProperty(globalThis, "Function", { value: refuse, writable: true, enumerable: false, configurable: true });
  }
}

// What Python holds on to; removed from the global scope before user code runs.
// activeTimers: how many timers JS holds (tests/runtime/test_timers.py checks that none leak).
globalThis.__outbound_runtime = { dispatch, call, cancel, fireTimer, loadModule, activeTimers: activeTimerCount };
