// The Workers global scope inside SpiderMonkey. Bundled by esbuild (emulator/runtime/bundle.py) into one
// script that runs before the user's bundle, in every JS worker process.
import "./host.js";
import { AbortController, AbortSignal } from "./abort.js";
import { Blob, File } from "./blob.js";
import { call, cancel, dispatch, loadModule } from "./bridge.js";
import { console } from "./console.js";
import { CRYPTO_GLOBALS } from "./crypto.js";
import { atob, btoa, TextDecoder, TextEncoder } from "./encoding.js";
import { CustomEvent, DOMException, Event, EventTarget } from "./events.js";
import { FormData } from "./formdata.js";
import { fetch } from "./fetch.js";
import { structuredClone } from "./clone.js";
import { Headers } from "./headers.js";
import { Request } from "./request.js";
import { Response } from "./response.js";
import * as streams from "./streams.js";
import { clearInterval, clearTimeout, fireTimer, queueMicrotask, setInterval, setTimeout } from "./timers.js";

// pythonmonkey's globals that Workers does not have; some hand the Python interpreter to user code.
const REMOVED = [
  "python", "pmEval", "XMLHttpRequest", "XMLHttpRequestEventTarget", "XMLHttpRequestUpload", "ProgressEvent",
  "setImmediate", "clearImmediate", "debuggerGlobal", "ListIterator",
];
for (const name of REMOVED) delete globalThis[name];

const timeOrigin = Date.now();
const performance = {
  timeOrigin,
  now: () => Date.now() - timeOrigin,
  toJSON: () => ({ timeOrigin }),
};

const navigator = { userAgent: "Cloudflare-Workers", hardwareConcurrency: 1, language: "en-US", languages: ["en-US"] };

const globals = {
  AbortController, AbortSignal, Blob, File, CustomEvent, DOMException, Event, EventTarget, FormData, Headers,
  Request, Response, TextDecoder, TextEncoder, console, atob, btoa, fetch, structuredClone,
  setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask, performance, navigator,
  ...streams.STREAM_GLOBALS,
  ...CRYPTO_GLOBALS,
};
for (const [name, value] of Object.entries(globals)) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
Object.defineProperty(globalThis, "self", { value: globalThis, writable: true, configurable: true, enumerable: false });

// What Python holds on to; removed from the global scope before user code runs.
globalThis.__outbound_runtime = { dispatch, call, cancel, fireTimer, loadModule };
