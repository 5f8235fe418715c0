// setTimeout/setInterval/queueMicrotask as workerd has them (api/global-scope.c++, io/io-context.c++).
// Timers being refused in global scope, and their console output being tagged with their request, are in
// tests/runtime/test_timers.py (they need a handler and the worker's Python side).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("setTimeout returns increasing numbers and passes arguments, with this = globalThis", async () => {
  const got = await new Promise((resolve) => {
    const first = setTimeout(
      function (a, b) {
        resolve([this === globalThis, a, b]);
      },
      1,
      "x",
      2,
    );
    const second = setTimeout(() => {}, 1);
    assert.equal(typeof first, "number");
    assert.ok(second > first);
    clearTimeout(second);
  });
  assert.deepEqual(got, [true, "x", 2]);
});

test("timers fire in delay order; NaN and negative delays fire at once", async () => {
  const order = [];
  setTimeout(() => order.push("20"), 20);
  setTimeout(() => order.push("nan"), NaN);
  setTimeout(() => order.push("neg"), -5);
  setTimeout(() => order.push("str"), "1");
  await sleep(40);
  assert.deepEqual(order, ["nan", "neg", "str", "20"]);
});

test("clearTimeout cancels; unknown or non-number ids are ignored", async () => {
  let fired = false;
  const id = setTimeout(() => (fired = true), 5);
  clearTimeout(id);
  clearTimeout(id);
  clearTimeout(undefined);
  clearTimeout(null);
  clearTimeout("nonsense");
  clearTimeout(2 ** 60);
  await sleep(20);
  assert.equal(fired, false);
});

test("setInterval repeats until cleared from its own callback; ids are shared with setTimeout", async () => {
  let ticks = 0;
  await new Promise((resolve) => {
    const id = setInterval(() => {
      ticks++;
      if (ticks === 3) {
        clearTimeout(id);
        resolve();
      }
    }, 1);
  });
  await sleep(15);
  assert.equal(ticks, 3);
});

test("an interval whose callback throws keeps running", async () => {
  let ticks = 0;
  const id = setInterval(() => {
    ticks++;
    throw new Error("tick failed");
  }, 1);
  await sleep(30);
  clearInterval(id);
  assert.ok(ticks >= 2, `ticked ${ticks} times`);
});

test("a callback that is not a function is refused with workerd's message", () => {
  assert.throws(() => setTimeout("alert(1)", 1), {
    name: "TypeError",
    message: "Failed to execute 'setTimeout' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.",
  });
  assert.throws(() => setInterval(undefined), {
    message: "Failed to execute 'setInterval' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.",
  });
  assert.throws(() => queueMicrotask(1), {
    message: "Failed to execute 'queueMicrotask' on 'ServiceWorkerGlobalScope': parameter 1 is not of type 'function'.",
  });
});

test("a request may have 10,000 active timers, not one more", () => {
  const ids = [];
  try {
    for (let i = 0; i < 10000; i++) ids.push(setTimeout(() => {}, 100000));
    const error = assert.throws(() => setTimeout(() => {}, 1), { name: "QuotaExceededError" });
    assert.equal(
      error.message,
      "You have exceeded the number of active timeouts you may set. max active timeouts: 10000, current active " +
        "timeouts: 10000, finished timeouts: 0",
    );
    assert.ok(error instanceof DOMException);
  } finally {
    for (const id of ids) clearTimeout(id);
  }
  clearTimeout(setTimeout(() => {}, 1));
});

test("queueMicrotask runs before timers and in order", async () => {
  const order = [];
  setTimeout(() => order.push("timeout"), 0);
  queueMicrotask(() => order.push("micro 1"));
  queueMicrotask(() => order.push("micro 2"));
  await sleep(10);
  assert.deepEqual(order, ["micro 1", "micro 2", "timeout"]);
});

test("an exception in a microtask goes to reportError, which fires an error event on the global", async () => {
  const seen = [];
  const listener = (event) => {
    seen.push(event instanceof ErrorEvent, event.error.message, event.message);
    event.preventDefault();
  };
  addEventListener("error", listener);
  try {
    queueMicrotask(() => {
      throw new Error("in a microtask");
    });
    await sleep(5);
    reportError("direct");
  } finally {
    removeEventListener("error", listener);
  }
  assert.deepEqual(seen.slice(0, 3), [true, "in a microtask", "Uncaught Error: in a microtask"]);
  assert.equal(seen.length, 6);
  assert.equal(seen[5], "Uncaught direct");
});
