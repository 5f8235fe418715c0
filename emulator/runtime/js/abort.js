// AbortController and AbortSignal (DOM standard), with the static helpers Workers has: abort, timeout, any.
import { DOMException, Event, EventTarget } from "./events.js";

const kAborted = Symbol("aborted");
const kReason = Symbol("reason");
const kOnAbort = Symbol("onabort");
const kDependents = Symbol("dependent signals");
const kInternal = Symbol("internal construction");

export class AbortSignal extends EventTarget {
  constructor(token = undefined) {
    if (token !== kInternal) throw new TypeError("Illegal constructor");
    super();
    this[kAborted] = false;
    this[kReason] = undefined;
    this[kOnAbort] = null;
    this[kDependents] = [];
  }

  get aborted() {
    return this[kAborted];
  }

  get reason() {
    return this[kReason];
  }

  get onabort() {
    return this[kOnAbort];
  }

  set onabort(handler) {
    if (this[kOnAbort] !== null) this.removeEventListener("abort", this[kOnAbort]);
    this[kOnAbort] = typeof handler === "function" ? handler : null;
    if (this[kOnAbort] !== null) this.addEventListener("abort", this[kOnAbort]);
  }

  throwIfAborted() {
    if (this[kAborted]) throw this[kReason];
  }

  static abort(reason = undefined) {
    const signal = createSignal();
    signal[kAborted] = true;
    signal[kReason] = reason === undefined ? abortError() : reason;
    return signal;
  }

  static timeout(milliseconds) {
    const ms = Number(milliseconds);
    if (!Number.isFinite(ms) || ms < 0) {
      throw new TypeError(`Failed to execute 'timeout' on 'AbortSignal': Value is outside the 'unsigned long long' value range.`);
    }
    const signal = createSignal();
    setTimeout(() => abortSignal(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
    return signal;
  }

  static any(signals) {
    const result = createSignal();
    const sources = [...signals];
    for (const source of sources) {
      if (!(source instanceof AbortSignal)) throw new TypeError("AbortSignal.any() requires a sequence of AbortSignal objects.");
      if (source.aborted) {
        result[kAborted] = true;
        result[kReason] = source.reason;
        return result;
      }
    }
    for (const source of sources) source[kDependents].push(result);
    return result;
  }

  get [Symbol.toStringTag]() {
    return "AbortSignal";
  }
}

function abortError() {
  return new DOMException("The operation was aborted", "AbortError");
}

export function createSignal() {
  return new AbortSignal(kInternal);
}

export function abortSignal(signal, reason = undefined) {
  if (signal[kAborted]) return;
  signal[kAborted] = true;
  signal[kReason] = reason === undefined ? abortError() : reason;
  const dependents = signal[kDependents];
  signal[kDependents] = [];
  signal.dispatchEvent(new Event("abort"));
  for (const dependent of dependents) abortSignal(dependent, signal[kReason]);
}

export class AbortController {
  constructor() {
    this[kSignal] = createSignal();
  }

  get signal() {
    return this[kSignal];
  }

  abort(reason = undefined) {
    abortSignal(this[kSignal], reason);
  }

  get [Symbol.toStringTag]() {
    return "AbortController";
  }
}
const kSignal = Symbol("signal");
