// The JS end of emulator/runtime/bridge.py: decodes frames from the emulator, runs the named handler with
// (request, env, ctx), and streams the Response back. No promise returned to Python ever rejects; every
// failure becomes an ERROR or END frame, so pythonmonkey's unhandled-rejection path (runtime-notes §1.2) is
// never taken.
import { host, fromHost } from "./host.js";
import { Response, responseParts } from "./response.js";
import { incomingRequest } from "./request.js";
import { toBytes } from "./body.js";
import { packMeta, unpackMeta } from "./frames.js";
import { isContainerClass, registryFor, adoptStaticFields } from "./cloudflare/containers.js";
import { requireModule } from "./cloudflare/modules.js";
import { setWorkerEnv } from "./cloudflare/workers.js";
import { makeBinding } from "./bindings/index.js";
import { reportUncaught } from "./console.js";

// Frame kinds, shared with bridge.py (class Kind).
const HEAD = 4;
const DATA = 5;
const END = 6;
const ERROR = 7;
const RESULT = 11;

let env = {};
let userModule = null;
const inflight = new Map(); // request id -> { abort, cancelled }

export function describeError(error) {
  if (error instanceof Error || (error && typeof error === "object" && "stack" in error)) {
    return { name: String(error.name ?? "Error"), message: String(error.message ?? ""), stack: String(error.stack ?? "") };
  }
  let text;
  try {
    text = typeof error === "string" ? error : JSON.stringify(error);
  } catch {
    text = String(error);
  }
  return { name: "Error", message: `Uncaught ${text}`, stack: "" };
}

// Evaluates the user's bundle (already compiled into `globalThis.__outbound_load` by Python) and returns
// the load report: its exports, the Container classes, and the #247 class fields it adopted.
export function loadModule(payload) {
  try {
    const [options] = unpackMeta(fromHost(payload));
    return packMeta({ ok: evaluateModule(options) });
  } catch (error) {
    return packMeta({ error: describeError(error) });
  }
}

function evaluateModule(options) {
  env = options.env ?? {};
  for (const spec of options.bindings ?? []) env[spec.name] = makeBinding(spec);
  setWorkerEnv(env);
  const load = globalThis.__outbound_load;
  delete globalThis.__outbound_load;
  userModule = load(requireModule);
  const exports = {};
  const classes = {};
  for (const name of Object.keys(userModule)) {
    const value = userModule[name];
    exports[name] = typeof value === "function" ? "function" : value === null ? "null" : typeof value;
    if (isContainerClass(value)) {
      classes[name] = { className: value.name, staticFields: adoptStaticFields(value) };
    }
  }
  return { exports, classes, workerFetch: hasWorkerFetch() };
}

// The DO-instance view of one sandbox: construct the class as production would for that id and read the
// instance properties the egress logic uses, plus the class-level registry's keys (in insertion order).
function describe({ exportName, sandbox, containerId }) {
  const cls = userModule[exportName];
  if (!isContainerClass(cls)) {
    throw new Error(`export "${exportName}" is not a class extending Container or Sandbox`);
  }
  const id = { toString: () => containerId, name: sandbox, equals: (other) => String(other) === containerId };
  const storage = new Map();
  const ctx = {
    id,
    storage: {
      get: async (key) => storage.get(key),
      put: async (key, value) => void storage.set(key, value),
      delete: async (key) => storage.delete(key),
      kv: { get: (key) => storage.get(key), put: (key, value) => void storage.set(key, value), delete: (key) => storage.delete(key) },
    },
    blockConcurrencyWhile: async (fn) => fn(),
    waitUntil: () => {},
    container: undefined,
    exports: { ContainerProxy: userModule.ContainerProxy },
  };
  const instance = new cls(ctx, env);
  const registry = registryFor(cls.name);
  return {
    className: cls.name,
    enableInternet: instance.enableInternet,
    interceptHttps: instance.interceptHttps,
    allowedHosts: instance.allowedHosts,
    deniedHosts: instance.deniedHosts,
    handlerNames: registry.handlers === undefined ? null : Object.keys(registry.handlers),
    byHostPatterns: registry.byHost === undefined || registry.byHost === null ? null : Object.keys(registry.byHost),
    defaultHandler: registry.defaultHandler ?? null,
    hasContainerProxy: typeof userModule.ContainerProxy === "function",
  };
}

const CALLS = {
  describe,
  // Runs `exports[name][key](...args)` and returns its (awaited) JSON value: the test harness uses it.
  async callExport({ name, key, args }) {
    const target = userModule[name];
    return await target[key](...(args ?? []));
  },
};

export async function call(id, payload) {
  let reply;
  try {
    const [{ fn, args }] = unpackMeta(fromHost(payload));
    const value = await CALLS[fn](args);
    reply = { ok: value === undefined ? null : value };
  } catch (error) {
    reply = { error: describeError(error) };
  }
  let bytes;
  try {
    bytes = packMeta(reply);
  } catch (error) {
    bytes = packMeta({ error: describeError(error) });
  }
  host.emit(RESULT, id, bytes);
}

// wrangler's middleware facade (templates/middleware/common.ts), verbatim.
const NO_FETCH = "Handler does not export a fetch() function.";

function lookupHandler(meta) {
  if (meta.k === "w") return workerFetch();
  const registry = registryFor(meta.c);
  if (meta.k === "b") {
    const handler = registry.byHost?.[meta.n];
    if (typeof handler !== "function") throw new Error(`outboundByHost["${meta.n}"] of ${meta.c} is not a function`);
    return (request, ctx) => handler(request, env, ctx);
  }
  const handlers = registry.handlers ?? {};
  if (typeof handlers[meta.n] !== "function") throw new Error(`outboundHandlers.${meta.n} of ${meta.c} is not a function`);
  return (request, ctx) => handlers[meta.n](request, env, ctx);
}

// The Worker's own entry: the module's default export, an object with fetch(request, env, ctx) or a
// WorkerEntrypoint class whose instance has fetch(request) (issue 4 part 6: `outbound dev` serves it).
function workerFetch() {
  const entry = userModule.default;
  if (typeof entry === "function" && typeof entry.prototype?.fetch === "function") {
    return (request, ctx) => new entry(ctx, env).fetch(request);
  }
  if (entry !== null && typeof entry === "object" && typeof entry.fetch === "function") {
    return (request, ctx) => entry.fetch(request, env, ctx);
  }
  throw new Error(NO_FETCH);
}

// Workers' ExecutionContext. waitUntil's work runs on after the Response (this process lives on); its failure
// is logged as uncaught, as wrangler does. passThroughOnException has no origin to pass to locally: an
// exception still answers 500.
class ExecutionContext {
  props = {};

  waitUntil(promise) {
    Promise.resolve(promise).catch(reportUncaught);
  }

  passThroughOnException() {}
}

function hasWorkerFetch() {
  try {
    workerFetch();
    return true;
  } catch {
    return false;
  }
}

function handlerContext(meta) {
  if (meta.k === "w") return new ExecutionContext();
  const ctx = { containerId: meta.ctx.containerId, className: meta.ctx.className };
  // A handler chosen at runtime always gets a `params` key, undefined when none was given (contract §1.7).
  if (meta.p === 1) ctx.params = undefined;
  else if (meta.p === 2) ctx.params = meta.pv;
  return ctx;
}

// Each `await` costs a round trip through Python's event loop (pythonmonkey queues every promise job there),
// so the common case — a handler that returns a Response with a known body — runs without one: the handler
// is called synchronously, a Response is sent at once, and only a promise gets a `.then`.
export function dispatch(id, payload) {
  const entry = { abort: null, cancelled: false };
  inflight.set(id, entry);
  let result;
  try {
    const [meta, body] = unpackMeta(fromHost(payload));
    const [request, abort] = incomingRequest(meta.m, meta.u, meta.h, meta.b ? body : null, meta.cf);
    entry.abort = abort;
    const run = lookupHandler(meta);
    try {
      result = run(request, handlerContext(meta));
    } catch (error) {
      fail(id, "exception", error);
      return;
    }
  } catch (error) {
    fail(id, "internal", error);
    return;
  }
  if (result instanceof Response) {
    respond(id, result, entry);
    return;
  }
  Promise.resolve(result).then(
    (response) => respond(id, response, entry),
    (error) => fail(id, "exception", error),
  );
}

function fail(id, kind, error) {
  inflight.delete(id);
  host.emit(ERROR, id, packMeta({ kind, error: describeError(error) }));
}

function respond(id, response, entry) {
  if (!(response instanceof Response)) {
    inflight.delete(id);
    const error = new TypeError("Incorrect type for Promise: the Promise did not resolve to 'Response'.");
    host.emit(ERROR, id, packMeta({ kind: "not-response", error: describeError(error), got: typeName(response) }));
    return;
  }
  try {
    if (sendResponse(id, response, entry)) inflight.delete(id);
  } catch (error) {
    fail(id, "internal", error);
  }
}

function typeName(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "Object";
}

// Sends the head, and the body when it is known. Returns true when the response is complete; a streamed
// body is pumped by streamBody, which finishes the exchange itself.
function sendResponse(id, response, entry) {
  const { status, statusText, headers, body, url } = responseParts(response);
  const head = { s: status, t: statusText, h: headers };
  if (url) head.u = url; // where a fetched response came from: the emulator's warnings name it
  if (body === null) {
    // workerd frames an empty body with Content-Length: 0, except where a status forbids a body.
    if (status !== 204 && status !== 304 && status >= 200) head.h = withLength(headers, 0);
    host.emit(HEAD, id, packMeta({ ...head, end: true }));
    return true;
  }
  if (body.used || (body.stream !== null && body.stream._disturbed)) {
    const error = new TypeError("The Response body has already been used, so it cannot be returned.");
    host.emit(ERROR, id, packMeta({ kind: "exception", error: describeError(error) }));
    return true;
  }
  if (body.stream === null) {
    head.h = withLength(headers, body.source.byteLength);
    host.emit(HEAD, id, packMeta({ ...head, end: true }, body.source));
    return true;
  }
  // workerd sends Content-Length, not chunked encoding, for a body of known length (FixedLengthStream).
  if (body.length !== null) head.h = withLength(headers, body.length);
  host.emit(HEAD, id, packMeta({ ...head, end: false }));
  streamBody(id, body.stream, entry);
  return false;
}

// The body's length as workerd puts it on the wire; a handler's own Content-Length is replaced, since a
// wrong one would desynchronise the sandbox's HTTP client.
function withLength(headers, length) {
  return [...headers.filter(([name]) => name !== "content-length"), ["content-length", String(length)]];
}

async function streamBody(id, stream, entry) {
  const reader = stream.getReader();
  entry.reader = reader;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (entry.cancelled) {
        await reader.cancel();
        break;
      }
      const chunk = toBytes(value);
      if (chunk.byteLength === 0) continue;
      if (host.emit(DATA, id, chunk) <= 0) await host.drain(id);
    }
    host.emit(END, id, packMeta({}));
  } catch (error) {
    host.emit(END, id, packMeta({ error: describeError(error) }));
  } finally {
    inflight.delete(id);
  }
}

export function cancel(id) {
  const entry = inflight.get(id);
  if (entry === undefined) return;
  entry.cancelled = true;
  entry.abort?.();
  // The sandbox hung up: cancel the body now, not at its next chunk, which a stalled upstream may never send.
  // The cancel reaches the body's source (a fetch() closes its upstream connection) and ends the pending read.
  entry.reader?.cancel().catch(() => {});
}
