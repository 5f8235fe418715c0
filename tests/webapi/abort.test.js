// AbortController / AbortSignal as workerd has them (api/basics.h/.c++): reasons, messages, event order.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("abort() without a reason: DOMException AbortError, once", () => {
  const controller = new AbortController();
  const { signal } = controller;
  assert.equal(signal.aborted, false);
  assert.equal(signal.reason, undefined);
  let events = 0;
  signal.addEventListener("abort", (event) => {
    events++;
    assert.equal(event.isTrusted, true);
    assert.equal(event.target, signal);
  });
  controller.abort();
  controller.abort("again");
  assert.equal(events, 1);
  assert.equal(signal.aborted, true);
  assert.ok(signal.reason instanceof DOMException);
  assert.deepEqual([signal.reason.name, signal.reason.message, signal.reason.code], ["AbortError", "The operation was aborted", 20]);
});

test("a reason is kept as given, and throwIfAborted throws it", () => {
  const controller = new AbortController();
  controller.signal.throwIfAborted();
  const reason = { why: "because" };
  controller.abort(reason);
  assert.equal(controller.signal.reason, reason);
  let thrown;
  try {
    controller.signal.throwIfAborted();
  } catch (error) {
    thrown = error;
  }
  assert.equal(thrown, reason);
});

test("onabort runs first; an object or non-function is kept or dropped as workerd does", () => {
  const controller = new AbortController();
  const calls = [];
  controller.signal.addEventListener("abort", () => calls.push("listener"));
  controller.signal.onabort = () => calls.push("onabort");
  controller.abort();
  assert.deepEqual(calls, ["onabort", "listener"]);
  const signal = new AbortController().signal;
  const object = { handleEvent() {} };
  signal.onabort = object;
  assert.equal(signal.onabort, object);
  signal.onabort = 42;
  assert.equal(signal.onabort, null);
});

test("after aborting, a signal drops its listeners", () => {
  const controller = new AbortController();
  let calls = 0;
  controller.signal.addEventListener("abort", () => calls++);
  controller.abort();
  controller.signal.dispatchEvent(new Event("abort"));
  assert.equal(calls, 1);
});

test("a throwing abort listener makes abort() throw, and the signal is aborted anyway", () => {
  const controller = new AbortController();
  controller.signal.addEventListener("abort", () => {
    throw new Error("listener broke");
  });
  assert.throws(() => controller.abort(), { message: "listener broke" });
  assert.equal(controller.signal.aborted, true);
});

test("AbortSignal cannot be constructed; AbortSignal.abort() is aborted at once", () => {
  assert.throws(() => new AbortSignal(), { name: "TypeError", message: "Illegal constructor" });
  const signal = AbortSignal.abort();
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason.name, "AbortError");
  assert.equal(AbortSignal.abort("why").reason, "why");
});

test("AbortSignal.timeout aborts with TimeoutError", async () => {
  const signal = AbortSignal.timeout(10);
  assert.equal(signal.aborted, false);
  const event = await new Promise((resolve) => signal.addEventListener("abort", resolve));
  assert.equal(event.type, "abort");
  assert.ok(signal.reason instanceof DOMException);
  assert.deepEqual([signal.reason.name, signal.reason.message, signal.reason.code], ["TimeoutError", "The operation was aborted due to timeout", 23]);
});

test("AbortSignal.any follows the first source to abort", () => {
  const a = new AbortController();
  const b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  let fired = 0;
  any.addEventListener("abort", () => fired++);
  b.abort("b first");
  a.abort("a later");
  assert.equal(any.aborted, true);
  assert.equal(any.reason, "b first");
  assert.equal(fired, 1);
});

test("AbortSignal.any of an aborted signal is a new, aborted signal; of nothing never aborts", () => {
  const source = AbortSignal.abort("done");
  const any = AbortSignal.any([new AbortController().signal, source]);
  assert.ok(any !== source);
  assert.deepEqual([any.aborted, any.reason], [true, "done"]);
  const never = AbortSignal.any([]);
  assert.equal(never.aborted, false);
  assert.throws(() => AbortSignal.any([{}]), TypeError);
});

test("scheduler.wait resolves after the delay, or rejects with the signal's reason", async () => {
  const started = Date.now();
  assert.equal(await scheduler.wait(20), undefined);
  assert.ok(Date.now() - started >= 15, "waited");
  await assert.rejects(scheduler.wait(10, { signal: AbortSignal.abort("pre") }), undefined);
  const controller = new AbortController();
  const waiting = scheduler.wait(10000, { signal: controller.signal });
  await sleep(5);
  controller.abort("stop");
  let reason;
  try {
    await waiting;
  } catch (error) {
    reason = error;
  }
  assert.equal(reason, "stop");
});
