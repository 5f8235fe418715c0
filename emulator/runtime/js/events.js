// DOMException, Event (and the Event subclasses Workers exposes as globals) and EventTarget, as workerd has
// them (jsg/dom-exception.h, api/basics.h/.c++, api/events.h, api/web-socket.h). pythonmonkey ships
// versions of Event/EventTarget/DOMException; the runtime replaces them. Where workerd departs from the DOM
// standard, this follows workerd:
//   - capture and passive listeners are refused with a TypeError (there is no propagation path);
//   - an exception thrown by a listener ends the dispatch and propagates out of dispatchEvent();
//   - a listener returning `true` counts as preventDefault(), and dispatchEvent() returns false after any
//     preventDefault(), cancelable or not;
//   - before the listeners, a function-valued `on<type>` property of the target is called;
//   - a listener object's handleEvent is looked up once, when the listener is added;
//   - timeStamp is always 0, and `target` is undefined until the event is dispatched.

// Legacy codes (WebIDL); jsg/dom-exception.h has the same table, NoDataAllowedError etc. included.
const DOM_EXCEPTION_CODES = [
  ["INDEX_SIZE_ERR", 1, "IndexSizeError"],
  ["DOMSTRING_SIZE_ERR", 2, "DOMStringSizeError"],
  ["HIERARCHY_REQUEST_ERR", 3, "HierarchyRequestError"],
  ["WRONG_DOCUMENT_ERR", 4, "WrongDocumentError"],
  ["INVALID_CHARACTER_ERR", 5, "InvalidCharacterError"],
  ["NO_DATA_ALLOWED_ERR", 6, "NoDataAllowedError"],
  ["NO_MODIFICATION_ALLOWED_ERR", 7, "NoModificationAllowedError"],
  ["NOT_FOUND_ERR", 8, "NotFoundError"],
  ["NOT_SUPPORTED_ERR", 9, "NotSupportedError"],
  ["INUSE_ATTRIBUTE_ERR", 10, "InUseAttributeError"],
  ["INVALID_STATE_ERR", 11, "InvalidStateError"],
  ["SYNTAX_ERR", 12, "SyntaxError"],
  ["INVALID_MODIFICATION_ERR", 13, "InvalidModificationError"],
  ["NAMESPACE_ERR", 14, "NamespaceError"],
  ["INVALID_ACCESS_ERR", 15, "InvalidAccessError"],
  ["VALIDATION_ERR", 16, "ValidationError"],
  ["TYPE_MISMATCH_ERR", 17, "TypeMismatchError"],
  ["SECURITY_ERR", 18, "SecurityError"],
  ["NETWORK_ERR", 19, "NetworkError"],
  ["ABORT_ERR", 20, "AbortError"],
  ["URL_MISMATCH_ERR", 21, "URLMismatchError"],
  ["QUOTA_EXCEEDED_ERR", 22, "QuotaExceededError"],
  ["TIMEOUT_ERR", 23, "TimeoutError"],
  ["INVALID_NODE_TYPE_ERR", 24, "InvalidNodeTypeError"],
  ["DATA_CLONE_ERR", 25, "DataCloneError"],
];
const CODE_BY_NAME = new Map(DOM_EXCEPTION_CODES.map(([, code, name]) => [name, code]));

// workerd's DOMException: an Error whose message, name and code are own, enumerable, read-only properties.
export class DOMException extends Error {
  constructor(message = undefined, name = undefined) {
    message = message === undefined ? "" : `${message}`;
    name = name === undefined ? "Error" : `${name}`;
    super(message);
    // SpiderMonkey gives every Error own fileName/lineNumber/columnNumber; V8's DOMException has none.
    delete this.fileName;
    delete this.lineNumber;
    delete this.columnNumber;
    const readonly = { writable: false, enumerable: true, configurable: true };
    Object.defineProperty(this, "message", { ...readonly, value: message });
    Object.defineProperty(this, "name", { ...readonly, value: name });
    Object.defineProperty(this, "code", { ...readonly, value: CODE_BY_NAME.get(name) ?? 0 });
  }
}
for (const [constant, code] of DOM_EXCEPTION_CODES) {
  const descriptor = { value: code, writable: false, enumerable: true, configurable: true };
  Object.defineProperty(DOMException, constant, descriptor);
  Object.defineProperty(DOMException.prototype, constant, descriptor);
}

const kEvent = Symbol("event state");
const kInternal = Symbol("internal construction");

function eventState(event) {
  const state = event?.[kEvent];
  if (state === undefined) throw new TypeError("Illegal invocation");
  return state;
}

export class Event {
  constructor(type, init = undefined) {
    this[kEvent] = {
      type: `${type}`,
      bubbles: Boolean(init?.bubbles),
      cancelable: Boolean(init?.cancelable),
      composed: Boolean(init?.composed),
      trusted: false,
      stopped: false,
      propagationStopped: false,
      preventedDefault: false,
      dispatching: false,
      target: undefined,
    };
  }

  get type() { return eventState(this).type; }
  get eventPhase() { return eventState(this).dispatching ? Event.AT_TARGET : Event.NONE; }
  get composed() { return eventState(this).composed; }
  get bubbles() { return eventState(this).bubbles; }
  get cancelable() { return eventState(this).cancelable; }
  get defaultPrevented() { const s = eventState(this); return s.cancelable && s.preventedDefault; }
  get returnValue() { return !this.defaultPrevented; }
  get currentTarget() { const s = eventState(this); return s.dispatching ? s.target : null; }
  get target() { return eventState(this).target; }
  get srcElement() { return eventState(this).target; }
  get timeStamp() { eventState(this); return 0; }
  get isTrusted() { return eventState(this).trusted; }
  get cancelBubble() { return eventState(this).propagationStopped; }
  set cancelBubble(value) { eventState(this).propagationStopped = Boolean(value); }

  stopImmediatePropagation() { eventState(this).stopped = true; }
  preventDefault() { eventState(this).preventedDefault = true; }
  stopPropagation() { eventState(this).propagationStopped = true; }
  composedPath() {
    const state = eventState(this);
    return state.dispatching ? [state.target] : [];
  }

  get [Symbol.toStringTag]() {
    return "Event";
  }
}
for (const [name, value] of [["NONE", 0], ["CAPTURING_PHASE", 1], ["AT_TARGET", 2], ["BUBBLING_PHASE", 3]]) {
  const descriptor = { value, writable: false, enumerable: true, configurable: true };
  Object.defineProperty(Event, name, descriptor);
  Object.defineProperty(Event.prototype, name, descriptor);
}

// An event the runtime itself fires (AbortSignal's "abort", reportError's "error"): isTrusted is true.
export function trustedEvent(event) {
  eventState(event).trusted = true;
  return event;
}

const kDetail = Symbol("detail");

export class CustomEvent extends Event {
  constructor(type, init = undefined) {
    super(type, init);
    this[kDetail] = init?.detail;
  }

  get detail() {
    eventState(this);
    return this[kDetail];
  }

  get [Symbol.toStringTag]() {
    return "CustomEvent";
  }
}

const kInit = Symbol("init");

export class ErrorEvent extends Event {
  constructor(type, init = undefined) {
    super(type, init);
    this[kInit] = {
      message: init?.message === undefined ? "" : `${init.message}`,
      filename: init?.filename === undefined ? "" : `${init.filename}`,
      lineno: init?.lineno === undefined ? 0 : Number(init.lineno) | 0,
      colno: init?.colno === undefined ? 0 : Number(init.colno) | 0,
      error: init?.error,
    };
  }

  get filename() { return this[kInit].filename; }
  get message() { return this[kInit].message; }
  get lineno() { return this[kInit].lineno; }
  get colno() { return this[kInit].colno; }
  get error() { return this[kInit].error; }

  get [Symbol.toStringTag]() {
    return "ErrorEvent";
  }
}

export class MessageEvent extends Event {
  constructor(type, init = undefined) {
    super(type);
    const readonly = { writable: false, enumerable: true, configurable: true };
    Object.defineProperty(this, "data", { ...readonly, value: init?.data });
    Object.defineProperty(this, "origin", { ...readonly, value: null });
    Object.defineProperty(this, "lastEventId", { ...readonly, value: "" });
    Object.defineProperty(this, "source", { ...readonly, value: null });
    Object.defineProperty(this, "ports", { ...readonly, value: [] });
  }

  get [Symbol.toStringTag]() {
    return "MessageEvent";
  }
}

export class CloseEvent extends Event {
  constructor(type, init = undefined) {
    super(type);
    const readonly = { writable: false, enumerable: true, configurable: true };
    Object.defineProperty(this, "code", { ...readonly, value: init?.code === undefined ? 0 : Number(init.code) | 0 });
    Object.defineProperty(this, "reason", { ...readonly, value: init?.reason === undefined ? "" : `${init.reason}` });
    Object.defineProperty(this, "wasClean", { ...readonly, value: Boolean(init?.wasClean) });
  }

  get [Symbol.toStringTag]() {
    return "CloseEvent";
  }
}

// Events only the runtime creates: user code sees the classes but cannot construct them.
export class ExtendableEvent extends Event {
  constructor(token = undefined, type = undefined) {
    if (token !== kInternal) throw new TypeError("Illegal constructor");
    super(type);
  }

  waitUntil() {
    throw new DOMException("waitUntil() can only be called on trusted event.", "InvalidStateError");
  }
}

export class PromiseRejectionEvent extends Event {
  constructor(token = undefined, type = undefined, promise = undefined, reason = undefined) {
    if (token !== kInternal) throw new TypeError("Illegal constructor");
    super(type);
    Object.defineProperty(this, "promise", { value: promise, enumerable: true, configurable: true });
    Object.defineProperty(this, "reason", { value: reason, enumerable: true, configurable: true });
  }
}

const kListeners = Symbol("listeners");

// Makes `target` an EventTarget without running the constructor (the global object, js/index.js).
export function initEventTarget(target) {
  Object.defineProperty(target, kListeners, { value: new Map(), writable: true, configurable: true });
}

function listenersOf(target) {
  const map = target?.[kListeners];
  if (map === undefined) throw new TypeError("Illegal invocation");
  return map;
}

function listenerCallback(listener) {
  if (typeof listener === "function") return { fn: listener, self: null };
  if (typeof listener === "object" && typeof listener.handleEvent === "function") {
    return { fn: listener.handleEvent, self: listener };
  }
  throw new TypeError(
    "Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'EventListener'.",
  );
}

export class EventTarget {
  constructor() {
    initEventTarget(this);
  }

  addEventListener(type, listener, options = undefined) {
    const listeners = listenersOf(this);
    type = `${type}`;
    if (listener === null || listener === undefined) return;
    const { fn, self } = listenerCallback(listener);
    let once = false;
    let signal;
    if (options !== null && typeof options === "object") {
      if (options.capture) throw new TypeError("addEventListener(): options.capture must be false.");
      if (options.passive) throw new TypeError("addEventListener(): options.passive must be false.");
      once = Boolean(options.once);
      signal = options.signal ?? undefined;
      if (signal !== undefined && !isAbortSignal(signal)) {
        throw new TypeError(
          "Failed to execute 'addEventListener' on 'EventTarget': the provided value is not of type 'AbortSignal'.",
        );
      }
    } else if (options) {
      throw new TypeError("addEventListener(): useCapture must be false.");
    }
    if (signal?.aborted) return;
    let list = listeners.get(type);
    if (list === undefined) listeners.set(type, (list = []));
    if (list.some((entry) => entry.identity === listener)) return;
    const entry = { identity: listener, fn, self, once, removed: false };
    list.push(entry);
    if (signal !== undefined) {
      addNativeListener(signal, "abort", () => removeEntry(this, type, entry), true);
    }
  }

  removeEventListener(type, listener, options = undefined) {
    const listeners = listenersOf(this);
    if (options !== null && typeof options === "object") {
      if (options.capture) throw new TypeError("removeEventListener(): options.capture must be false.");
    } else if (options) {
      throw new TypeError("removeEventListener(): useCapture must be false.");
    }
    const list = listeners.get(`${type}`);
    const entry = list?.find((candidate) => candidate.identity === listener);
    if (entry !== undefined) removeEntry(this, `${type}`, entry);
  }

  dispatchEvent(event) {
    listenersOf(this);
    if (!(event instanceof Event)) {
      throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    }
    return dispatch(this, event);
  }

  get [Symbol.toStringTag]() {
    return "EventTarget";
  }
}

function removeEntry(target, type, entry) {
  const list = target[kListeners].get(type);
  if (list === undefined) return;
  const index = list.indexOf(entry);
  if (index === -1) return;
  entry.removed = true;
  list.splice(index, 1);
  if (list.length === 0) target[kListeners].delete(type);
}

// A listener the runtime adds for itself (a signal's abort wiring): invisible to removeEventListener.
export function addNativeListener(target, type, fn, once = false) {
  const listeners = listenersOf(target);
  let list = listeners.get(type);
  if (list === undefined) listeners.set(type, (list = []));
  const entry = { identity: {}, fn, self: target, once, removed: false };
  list.push(entry);
  return () => removeEntry(target, type, entry);
}

export function removeAllListeners(target) {
  for (const list of listenersOf(target).values()) for (const entry of list) entry.removed = true;
  target[kListeners] = new Map();
}

export function dispatch(target, event) {
  const state = eventState(event);
  if (state.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
  state.dispatching = true;
  state.target = target;
  state.preventedDefault = false;
  try {
    const callbacks = [];
    const onProperty = target[`on${state.type}`];
    if (typeof onProperty === "function") callbacks.push({ fn: onProperty, self: target, once: false, removed: false });
    const list = target[kListeners].get(state.type);
    if (list !== undefined) callbacks.push(...list);
    for (const entry of callbacks) {
      if (state.stopped) break;
      if (entry.removed) continue;
      if (entry.once) removeEntry(target, state.type, entry);
      const result = entry.fn.call(entry.self ?? target, event);
      if (result === true) state.preventedDefault = true;
    }
    return !state.preventedDefault;
  } finally {
    state.dispatching = false;
  }
}

// Set by abort.js (which imports this module) so that `signal` options are checked without an import cycle.
let isAbortSignal = () => false;
export function setAbortSignalCheck(check) {
  isAbortSignal = check;
}

