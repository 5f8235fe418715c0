// AbortController and AbortSignal as workerd has them (api/basics.h/.c++):
//   - the default reason is DOMException AbortError "The operation was aborted"; AbortSignal.timeout() aborts
//     with DOMException TimeoutError "The operation was aborted due to timeout";
//   - `onabort` runs before the listeners added with addEventListener, and a listener that throws makes
//     abort() throw;
//   - once a signal has aborted, all its listeners are dropped (nothing else can happen to it);
//   - AbortSignal.any([]) never aborts, and any() of an already aborted signal is a new aborted signal with
//     the same reason.
import {
  DOMException,
  Event,
  EventTarget,
  addNativeListener,
  dispatch,
  removeAllListeners,
  setAbortSignalCheck,
  trustedEvent,
} from "./events.js";
import { setTimeout } from "./timers.js";

const kState = Symbol("abort state");
const kInternal = Symbol("internal construction");

function signalState(signal) {
  const state = signal?.[kState];
  if (state === undefined) throw new TypeError("Illegal invocation");
  return state;
}

export class AbortSignal extends EventTarget {
  constructor(token = undefined) {
    if (token !== kInternal) throw new TypeError("Illegal constructor");
    super();
    this[kState] = { aborted: false, reason: undefined, onabort: null, neverAborts: false };
  }

  get aborted() {
    return signalState(this).aborted;
  }

  get reason() {
    return signalState(this).reason;
  }

  get onabort() {
    return signalState(this).onabort;
  }

  // workerd keeps any function or object (only a function is ever called) and turns anything else into null.
  set onabort(handler) {
    signalState(this).onabort = typeof handler === "function" || (typeof handler === "object" && handler !== null) ? handler : null;
  }

  throwIfAborted() {
    const state = signalState(this);
    if (state.aborted) throw state.reason;
  }

  static abort(reason = undefined) {
    const signal = createSignal();
    const state = signal[kState];
    state.aborted = true;
    state.reason = reason === undefined ? abortError() : reason;
    return signal;
  }

  // The delay is not range-checked: workerd takes a double and a negative or NaN delay fires at once.
  static timeout(delay) {
    const signal = createSignal();
    setTimeout(() => abortSignal(signal, timeoutError()), delay);
    return signal;
  }

  static any(signals) {
    const sources = [];
    for (const source of signals) {
      if (!(source instanceof AbortSignal)) {
        throw new TypeError(
          "Failed to execute 'any' on 'AbortSignal': parameter 1 is not of type 'Sequence<AbortSignal>'.",
        );
      }
      sources.push(source);
    }
    if (sources.length === 0) {
      const signal = createSignal();
      signal[kState].neverAborts = true;
      return signal;
    }
    for (const source of sources) {
      if (source.aborted) return AbortSignal.abort(source.reason);
    }
    const signal = createSignal();
    for (const source of sources) {
      addNativeListener(source, "abort", () => abortSignal(signal, source.reason), true);
    }
    return signal;
  }

  get [Symbol.toStringTag]() {
    return "AbortSignal";
  }
}
setAbortSignalCheck((value) => value instanceof AbortSignal);

function abortError() {
  return new DOMException("The operation was aborted", "AbortError");
}

function timeoutError() {
  return new DOMException("The operation was aborted due to timeout", "TimeoutError");
}

export function createSignal() {
  return new AbortSignal(kInternal);
}

// Aborts `signal` (once): sets the reason, then fires "abort" (`onabort` first), then drops every listener.
export function abortSignal(signal, reason = undefined) {
  const state = signalState(signal);
  if (state.aborted || state.neverAborts) return;
  state.aborted = true;
  state.reason = reason === undefined ? abortError() : reason;
  try {
    dispatch(signal, trustedEvent(new Event("abort")));
  } finally {
    removeAllListeners(signal);
  }
}

const kSignal = Symbol("signal");

export class AbortController {
  constructor() {
    this[kSignal] = createSignal();
  }

  get signal() {
    const signal = this?.[kSignal];
    if (signal === undefined) throw new TypeError("Illegal invocation");
    return signal;
  }

  abort(reason = undefined) {
    abortSignal(this.signal, reason);
  }

  get [Symbol.toStringTag]() {
    return "AbortController";
  }
}
