// DOM Event, EventTarget and DOMException. pythonmonkey ships versions of these that lack listener options
// and preventDefault and call into Python with a fresh string on every dispatch (runtime-notes §1.7), so the
// runtime replaces them.

const DOM_EXCEPTION_CODES = {
  IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
  NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
  SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
  TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
  QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
};

export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(String(message));
    Object.defineProperty(this, "name", { value: String(name), writable: true, configurable: true, enumerable: false });
  }

  get code() {
    return DOM_EXCEPTION_CODES[this.name] ?? 0;
  }

  get [Symbol.toStringTag]() {
    return "DOMException";
  }
}
for (const [name, code] of Object.entries(DOM_EXCEPTION_CODES)) {
  const constant = name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase().replace(/_ERROR$/, "_ERR");
  Object.defineProperty(DOMException, constant, { value: code, enumerable: true });
  Object.defineProperty(DOMException.prototype, constant, { value: code, enumerable: true });
}

const kState = Symbol("event state");

export class Event {
  constructor(type, init = undefined) {
    if (arguments.length < 1) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
    this[kState] = {
      type: String(type),
      bubbles: Boolean(init?.bubbles),
      cancelable: Boolean(init?.cancelable),
      composed: Boolean(init?.composed),
      defaultPrevented: false,
      stop: false,
      stopImmediate: false,
      target: null,
      currentTarget: null,
      phase: 0,
      timeStamp: Date.now(),
      dispatching: false,
    };
  }

  get type() { return this[kState].type; }
  get bubbles() { return this[kState].bubbles; }
  get cancelable() { return this[kState].cancelable; }
  get composed() { return this[kState].composed; }
  get defaultPrevented() { return this[kState].defaultPrevented; }
  get target() { return this[kState].target; }
  get srcElement() { return this[kState].target; }
  get currentTarget() { return this[kState].currentTarget; }
  get eventPhase() { return this[kState].phase; }
  get isTrusted() { return false; }
  get timeStamp() { return this[kState].timeStamp; }
  get returnValue() { return !this[kState].defaultPrevented; }
  get cancelBubble() { return this[kState].stop; }
  set cancelBubble(value) { if (value) this[kState].stop = true; }

  composedPath() {
    return this[kState].dispatching && this[kState].currentTarget !== null ? [this[kState].currentTarget] : [];
  }
  preventDefault() {
    if (this[kState].cancelable) this[kState].defaultPrevented = true;
  }
  stopPropagation() {
    this[kState].stop = true;
  }
  stopImmediatePropagation() {
    this[kState].stop = true;
    this[kState].stopImmediate = true;
  }

  get [Symbol.toStringTag]() {
    return "Event";
  }
}
Event.NONE = 0;
Event.CAPTURING_PHASE = 1;
Event.AT_TARGET = 2;
Event.BUBBLING_PHASE = 3;

export class CustomEvent extends Event {
  constructor(type, init = undefined) {
    super(type, init);
    this[kDetail] = init?.detail ?? null;
  }
  get detail() {
    return this[kDetail];
  }
}
const kDetail = Symbol("detail");

const kListeners = Symbol("listeners");

function flattenOptions(options) {
  if (typeof options === "boolean") return { capture: options, once: false, passive: false, signal: undefined };
  return {
    capture: Boolean(options?.capture),
    once: Boolean(options?.once),
    passive: Boolean(options?.passive),
    signal: options?.signal,
  };
}

export class EventTarget {
  constructor() {
    this[kListeners] = new Map();
  }

  addEventListener(type, listener, options = undefined) {
    if (listener === null || listener === undefined) return;
    if (typeof listener !== "function" && typeof listener !== "object") {
      throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': The callback provided as parameter 2 is not an object.");
    }
    const { capture, once, passive, signal } = flattenOptions(options);
    if (signal?.aborted) return;
    type = String(type);
    let list = this[kListeners].get(type);
    if (list === undefined) this[kListeners].set(type, (list = []));
    if (list.some((entry) => entry.listener === listener && entry.capture === capture)) return;
    const entry = { listener, capture, once, passive, removed: false };
    list.push(entry);
    signal?.addEventListener("abort", () => this.removeEventListener(type, listener, { capture }), { once: true });
  }

  removeEventListener(type, listener, options = undefined) {
    const { capture } = flattenOptions(options);
    const list = this[kListeners].get(String(type));
    if (list === undefined) return;
    const index = list.findIndex((entry) => entry.listener === listener && entry.capture === capture);
    if (index !== -1) {
      list[index].removed = true;
      list.splice(index, 1);
    }
  }

  dispatchEvent(event) {
    if (!(event instanceof Event)) {
      throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    }
    const state = event[kState];
    if (state.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
    state.dispatching = true;
    state.target = this;
    state.currentTarget = this;
    state.phase = Event.AT_TARGET;
    const list = this[kListeners].get(state.type);
    if (list !== undefined) {
      for (const entry of [...list]) {
        if (entry.removed) continue;
        if (entry.once) this.removeEventListener(state.type, entry.listener, { capture: entry.capture });
        try {
          if (typeof entry.listener === "function") entry.listener.call(this, event);
          else entry.listener.handleEvent(event);
        } catch (error) {
          reportError(error);
        }
        if (state.stopImmediate) break;
      }
    }
    state.dispatching = false;
    state.currentTarget = null;
    state.phase = Event.NONE;
    return !state.defaultPrevented;
  }

  get [Symbol.toStringTag]() {
    return "EventTarget";
  }
}

// An exception thrown by a listener does not stop the dispatch; like workerd, it is reported as uncaught.
function reportError(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error("Uncaught", error);
}
