// Event, EventTarget, CustomEvent & co. and DOMException as workerd has them (api/basics.h/.c++,
// api/events.h, jsg/dom-exception.h), including where workerd departs from the DOM standard.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

test("a new Event: timeStamp 0, target undefined, not trusted", () => {
  const event = new Event("ping", { cancelable: true, bubbles: true });
  assert.equal(event.type, "ping");
  assert.equal(event.bubbles, true);
  assert.equal(event.cancelable, true);
  assert.equal(event.composed, false);
  assert.equal(event.timeStamp, 0);
  assert.equal(event.target, undefined);
  assert.equal(event.srcElement, undefined);
  assert.equal(event.currentTarget, null);
  assert.equal(event.isTrusted, false);
  assert.equal(event.eventPhase, Event.NONE);
  assert.deepEqual(event.composedPath(), []);
  assert.equal(new Event().type, "undefined");
  assert.deepEqual([Event.NONE, Event.CAPTURING_PHASE, Event.AT_TARGET, Event.BUBBLING_PHASE], [0, 1, 2, 3]);
  assert.equal(event.AT_TARGET, 2);
});

test("dispatch: listeners see the target as `this`, currentTarget and composedPath", () => {
  const target = new EventTarget();
  const seen = [];
  target.addEventListener("ping", function (event) {
    seen.push(this === target, event.currentTarget === target, event.target === target, event.eventPhase, event.composedPath()[0] === target);
  });
  const event = new Event("ping");
  assert.equal(target.dispatchEvent(event), true);
  assert.deepEqual(seen, [true, true, true, 2, true]);
  assert.equal(event.currentTarget, null);
  assert.equal(event.target, target, "target stays set after dispatch");
  assert.equal(event.eventPhase, 0);
});

test("once, duplicates and removal", () => {
  const target = new EventTarget();
  let calls = 0;
  const listener = () => calls++;
  target.addEventListener("x", listener, { once: true });
  target.addEventListener("x", listener);
  target.dispatchEvent(new Event("x"));
  target.dispatchEvent(new Event("x"));
  assert.equal(calls, 1, "the second add of the same listener was ignored, and once removed it");
  target.addEventListener("x", listener);
  target.removeEventListener("x", listener);
  target.dispatchEvent(new Event("x"));
  assert.equal(calls, 1);
  target.addEventListener("x", null);
  target.dispatchEvent(new Event("x"));
});

test("a listener object's handleEvent is called on the object, looked up when added", () => {
  const target = new EventTarget();
  const calls = [];
  const listener = {
    handleEvent(event) {
      calls.push(this === listener, event.type);
    },
  };
  target.addEventListener("x", listener);
  listener.handleEvent = () => calls.push("replaced");
  target.dispatchEvent(new Event("x"));
  assert.deepEqual(calls, [true, "x"]);
  target.removeEventListener("x", listener);
  target.dispatchEvent(new Event("x"));
  assert.deepEqual(calls, [true, "x"]);
  assert.throws(() => target.addEventListener("x", {}), TypeError);
  assert.throws(() => target.addEventListener("x", 5), TypeError);
});

test("capture and passive listeners are refused (workerd)", () => {
  const target = new EventTarget();
  const noop = () => {};
  assert.throws(() => target.addEventListener("x", noop, true), { name: "TypeError", message: "addEventListener(): useCapture must be false." });
  assert.throws(() => target.addEventListener("x", noop, { capture: true }), { message: "addEventListener(): options.capture must be false." });
  assert.throws(() => target.addEventListener("x", noop, { passive: true }), { message: "addEventListener(): options.passive must be false." });
  assert.throws(() => target.removeEventListener("x", noop, true), { message: "removeEventListener(): useCapture must be false." });
  assert.throws(() => target.removeEventListener("x", noop, { capture: true }), { message: "removeEventListener(): options.capture must be false." });
  target.addEventListener("x", noop, { capture: false, passive: false });
});

test("a signal option removes the listener on abort; an aborted one adds nothing", () => {
  const target = new EventTarget();
  let calls = 0;
  const controller = new AbortController();
  target.addEventListener("x", () => calls++, { signal: controller.signal });
  target.dispatchEvent(new Event("x"));
  controller.abort();
  target.dispatchEvent(new Event("x"));
  target.addEventListener("x", () => calls++, { signal: AbortSignal.abort() });
  target.dispatchEvent(new Event("x"));
  assert.equal(calls, 1);
  assert.throws(() => target.addEventListener("x", () => {}, { signal: {} }), TypeError);
});

test("a throwing listener ends the dispatch and the exception leaves dispatchEvent (workerd)", () => {
  const target = new EventTarget();
  const calls = [];
  target.addEventListener("x", () => {
    calls.push(1);
    throw new RangeError("listener failed");
  });
  target.addEventListener("x", () => calls.push(2));
  const event = new Event("x");
  assert.throws(() => target.dispatchEvent(event), { name: "RangeError", message: "listener failed" });
  assert.deepEqual(calls, [1]);
  assert.equal(event.eventPhase, 0, "the event is no longer being dispatched");
  target.dispatchEvent(new Event("y"));
});

test("preventDefault, returning true, and what dispatchEvent returns", () => {
  const target = new EventTarget();
  target.addEventListener("cancel", (event) => event.preventDefault());
  target.addEventListener("vote", () => true);
  const cancelable = new Event("cancel", { cancelable: true });
  assert.equal(target.dispatchEvent(cancelable), false);
  assert.equal(cancelable.defaultPrevented, true);
  assert.equal(cancelable.returnValue, false);
  const plain = new Event("cancel");
  assert.equal(target.dispatchEvent(plain), false, "workerd returns false even for a non-cancelable event");
  assert.equal(plain.defaultPrevented, false);
  const voted = new Event("vote", { cancelable: true });
  assert.equal(target.dispatchEvent(voted), false);
  assert.equal(voted.defaultPrevented, true);
});

test("stopImmediatePropagation skips the remaining listeners; stopPropagation does not", () => {
  const target = new EventTarget();
  const calls = [];
  target.addEventListener("x", (event) => {
    calls.push("a");
    event.stopPropagation();
  });
  target.addEventListener("x", (event) => {
    calls.push("b");
    event.stopImmediatePropagation();
  });
  target.addEventListener("x", () => calls.push("c"));
  const event = new Event("x");
  target.dispatchEvent(event);
  assert.deepEqual(calls, ["a", "b"]);
  assert.equal(event.cancelBubble, true);
});

test("an on<type> function property runs before the listeners (workerd)", () => {
  class Thing extends EventTarget {}
  const thing = new Thing();
  const calls = [];
  thing.addEventListener("ping", () => calls.push("listener"));
  thing.onping = (event) => calls.push(`on${event.type}`);
  thing.dispatchEvent(new Event("ping"));
  thing.onping = "not a function";
  thing.dispatchEvent(new Event("ping"));
  assert.deepEqual(calls, ["onping", "listener", "listener"]);
});

test("listeners removed or added during a dispatch", () => {
  const target = new EventTarget();
  const calls = [];
  const second = () => calls.push("second");
  target.addEventListener("x", () => {
    calls.push("first");
    target.removeEventListener("x", second);
    target.addEventListener("x", () => calls.push("late"));
  });
  target.addEventListener("x", second);
  target.dispatchEvent(new Event("x"));
  assert.deepEqual(calls, ["first"]);
});

test("dispatching an event twice at once, or a non-event, is refused", () => {
  const target = new EventTarget();
  const event = new Event("x");
  target.addEventListener("x", () => {
    assert.throws(() => target.dispatchEvent(event), { name: "InvalidStateError", message: "The event is already being dispatched." });
  });
  target.dispatchEvent(event);
  assert.throws(() => target.dispatchEvent({ type: "x" }), {
    name: "TypeError",
    message: "Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.",
  });
});

test("CustomEvent, ErrorEvent, MessageEvent and CloseEvent carry their fields", () => {
  assert.deepEqual(new CustomEvent("c", { detail: { n: 1 } }).detail, { n: 1 });
  assert.equal(new CustomEvent("c").detail, undefined);
  const error = new Error("x");
  const errorEvent = new ErrorEvent("error", { message: "m", filename: "f.js", lineno: 3, colno: 4, error });
  assert.deepEqual([errorEvent.message, errorEvent.filename, errorEvent.lineno, errorEvent.colno], ["m", "f.js", 3, 4]);
  assert.equal(errorEvent.error, error);
  assert.deepEqual([new ErrorEvent("e").message, new ErrorEvent("e").lineno], ["", 0]);
  const message = new MessageEvent("message", { data: "hello" });
  assert.deepEqual([message.data, message.origin, message.lastEventId, message.source, message.ports], ["hello", null, "", null, []]);
  const close = new CloseEvent("close", { code: 1000, reason: "bye", wasClean: true });
  assert.deepEqual([close.code, close.reason, close.wasClean], [1000, "bye", true]);
  assert.ok(close instanceof Event);
});

test("ExtendableEvent and PromiseRejectionEvent cannot be constructed", () => {
  assert.throws(() => new ExtendableEvent("x"), { name: "TypeError", message: "Illegal constructor" });
  assert.throws(() => new PromiseRejectionEvent("unhandledrejection"), { name: "TypeError", message: "Illegal constructor" });
});

test("Event getters refuse a foreign `this`", () => {
  const getter = Object.getOwnPropertyDescriptor(Event.prototype, "type").get;
  assert.throws(() => getter.call({}), { name: "TypeError", message: "Illegal invocation" });
});

test("DOMException: an Error with own name, message and legacy code", () => {
  const error = new DOMException("gone", "NotFoundError");
  assert.ok(error instanceof Error);
  assert.ok(error instanceof DOMException);
  assert.deepEqual([error.name, error.message, error.code], ["NotFoundError", "gone", 8]);
  assert.deepEqual(Object.keys(error), ["message", "name", "code"]);
  assert.equal(String(error), "NotFoundError: gone");
  const plain = new DOMException();
  assert.deepEqual([plain.name, plain.message, plain.code], ["Error", "", 0]);
  assert.equal(new DOMException("m", "DataCloneError").code, 25);
  assert.equal(new DOMException("m", "EncodingError").code, 0);
  assert.equal(typeof error.stack, "string");
});

test("DOMException's legacy code constants are on the constructor and the prototype", () => {
  assert.equal(DOMException.INDEX_SIZE_ERR, 1);
  assert.equal(DOMException.DOMSTRING_SIZE_ERR, 2);
  assert.equal(DOMException.ABORT_ERR, 20);
  assert.equal(DOMException.DATA_CLONE_ERR, 25);
  assert.equal(DOMException.prototype.TIMEOUT_ERR, 23);
  assert.equal(new DOMException("x").QUOTA_EXCEEDED_ERR, 22);
  const descriptor = Object.getOwnPropertyDescriptor(DOMException, "ABORT_ERR");
  assert.deepEqual([descriptor.writable, descriptor.enumerable], [false, true], "constants are read-only and enumerable");
});
