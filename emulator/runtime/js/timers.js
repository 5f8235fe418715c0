// setTimeout/setInterval/queueMicrotask and scheduler.wait, as workerd has them (api/global-scope.c++,
// io/io-context.c++), on Python's event loop: pythonmonkey's own timers keep every handle forever
// (runtime-notes §1.7 #3). A timer's callback and arguments are held only until it fires or is cleared.
//
// Workers' rules: ids are numbers; the delay is truncated to an integer and clamped to [0, 100 years], NaN
// and negatives fire at once, with no 1 ms or nesting minimum; the callback runs with `this` = globalThis;
// a request may have at most 10,000 active timers; and no timer can be set in global scope.
import { host } from "./host.js";
import { DOMException } from "./events.js";
import { reportUncaught } from "./console.js";

const MAX_DELAY_MS = 3153600000000; // io-context.c++: "Milliseconds in 100 years"
const MAX_TIMEOUTS = 10000; // io-timers.h: MAX_TIMEOUTS, per request

export const GLOBAL_SCOPE_ERROR =
  "Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or connect()), setting a " +
  "timeout, and generating random values are not allowed within global scope. To fix this error, perform this " +
  "operation within a handler. https://developers.cloudflare.com/workers/runtime-apis/handlers/";

const timers = new Map(); // id -> { callback, args, repeat, ms, request }
const requests = new Map(); // request id -> { active, finished }: the 10,000-timer budget
let nextId = 1;

function toDelay(delay) {
  if (delay === undefined) return 0;
  const ms = Number(delay); // throws TypeError for a Symbol or BigInt, as workerd's double conversion does
  if (!(ms > 0)) return 0;
  return ms >= MAX_DELAY_MS ? MAX_DELAY_MS : Math.trunc(ms);
}

function schedule(name, callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    throw new TypeError(`Failed to execute '${name}' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.`);
  }
  const ms = toDelay(delay);
  const id = nextId++;
  const request = host.timerSet(id, ms);
  if (request === 0) throw new Error(GLOBAL_SCOPE_ERROR);
  let budget = requests.get(request);
  if (budget === undefined) requests.set(request, (budget = { active: 0, finished: 0 }));
  if (budget.active >= MAX_TIMEOUTS) {
    host.timerClear(id);
    throw new DOMException(
      "You have exceeded the number of active timeouts you may set. max active timeouts: " +
        `${MAX_TIMEOUTS}, current active timeouts: ${budget.active}, finished timeouts: ${budget.finished}`,
      "QuotaExceededError",
    );
  }
  budget.active++;
  timers.set(id, { callback, args, repeat, ms, request });
  return id;
}

export function setTimeout(callback, delay = undefined, ...args) {
  return schedule("setTimeout", callback, delay, args, false);
}

export function setInterval(callback, delay = undefined, ...args) {
  return schedule("setInterval", callback, delay, args, true);
}

function finish(id, timer) {
  timers.delete(id);
  const budget = requests.get(timer.request);
  if (budget === undefined) return;
  budget.active--;
  budget.finished++;
  if (budget.active === 0) requests.delete(timer.request);
}

// Workers ignores anything but a safe integer (global-scope.c++ clearTimeout), and clearTimeout and
// clearInterval are interchangeable.
export function clearTimeout(id = undefined) {
  if (typeof id !== "number" || !Number.isSafeInteger(id)) return;
  const timer = timers.get(id);
  if (timer === undefined) return;
  host.timerClear(id);
  finish(id, timer);
}

export function clearInterval(id = undefined) {
  clearTimeout(id);
}

// Called by Python (worker.py Host._fire) when timer `id` is due, in the context of the request that set it.
export function fireTimer(id) {
  const timer = timers.get(id);
  if (timer === undefined) return;
  if (!timer.repeat) finish(id, timer);
  try {
    timer.callback.apply(globalThis, timer.args);
  } catch (error) {
    reportUncaught(error);
  } finally {
    // An interval is re-armed after its callback, unless the callback cleared it.
    if (timer.repeat && timers.get(id) === timer) host.timerSet(id, timer.ms);
  }
}

export function activeTimerCount() {
  return timers.size;
}

// workerd runs the task as a microtask; an exception goes to reportError() (global-scope.c++).
export function queueMicrotask(callback) {
  if (typeof callback !== "function") {
    throw new TypeError("Failed to execute 'queueMicrotask' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.");
  }
  Promise.resolve().then(() => {
    try {
      callback();
    } catch (error) {
      try {
        globalThis.reportError(error);
      } catch (nested) {
        reportUncaught(nested);
      }
    }
  });
}

// The global `scheduler` (api/basics.h Scheduler): only wait(delay, { signal }).
export class Scheduler {
  wait(delay, options = undefined) {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let onAbort = null;
      const id = setTimeout(() => {
        if (onAbort !== null) signal.removeEventListener("abort", onAbort);
        resolve();
      }, delay);
      if (signal !== undefined && signal !== null) {
        onAbort = () => {
          clearTimeout(id);
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  }
}
