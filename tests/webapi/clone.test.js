// structuredClone() as workerd has it (jsg/ser.c++ over V8's ValueSerializer; the HTML structured clone).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

function cloneError(fn) {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DOMException, `expected a DOMException, got ${error}`);
    assert.equal(error.name, "DataCloneError");
    assert.equal(error.code, 25);
    return error.message;
  }
  throw new Error("expected a DataCloneError");
}

test("primitives come back as they are", () => {
  for (const value of [0, -0, NaN, 1.5, "text", true, null, undefined, 10n ** 30n]) {
    assert.equal(structuredClone(value), value);
  }
  assert.equal(structuredClone(), undefined);
});

test("boxed primitives, Date and RegExp are rebuilt", () => {
  const boxed = structuredClone([new Number(3), new String("s"), new Boolean(false), Object(5n)]);
  assert.deepEqual(boxed.map((b) => [typeof b, b.valueOf()]), [["object", 3], ["object", "s"], ["object", false], ["object", 5n]]);
  const date = new Date(1700000000000);
  const copy = structuredClone(date);
  assert.ok(copy instanceof Date && copy !== date);
  assert.equal(copy.getTime(), date.getTime());
  const regexp = /a+b/giu;
  regexp.lastIndex = 3;
  const re = structuredClone(regexp);
  assert.deepEqual([re.source, re.flags, re.lastIndex, re instanceof RegExp], ["a+b", "giu", 0, true]);
});

test("Map, Set and arrays keep order, holes and extra properties", () => {
  const key = { k: 1 };
  const map = structuredClone(new Map([[key, "v"], ["b", [1]]]));
  const [[copiedKey, value]] = map;
  assert.deepEqual([copiedKey, value], [{ k: 1 }, "v"]);
  assert.ok(copiedKey !== key);
  assert.deepEqual([...structuredClone(new Set([3, 1, 2]))], [3, 1, 2]);
  const array = [1, , 3];
  array.extra = "x";
  const copy = structuredClone(array);
  assert.equal(copy.length, 3);
  assert.equal(1 in copy, false, "the hole is kept");
  assert.equal(copy.extra, "x");
});

test("cycles and shared references survive", () => {
  const shared = { s: 1 };
  const root = { a: shared, b: shared, list: [shared] };
  root.self = root;
  const copy = structuredClone(root);
  assert.ok(copy !== root && copy.self === copy);
  assert.ok(copy.a === copy.b && copy.list[0] === copy.a && copy.a !== shared);
});

test("class instances become plain objects of their own enumerable properties", () => {
  class Point {
    constructor() {
      this.x = 1;
      Object.defineProperty(this, "hidden", { value: 2, enumerable: false });
      this[Symbol("s")] = 3;
    }
    get norm() {
      return 5;
    }
  }
  const copy = structuredClone(new Point());
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.deepEqual(Object.keys(copy), ["x"]);
  assert.equal(Object.getOwnPropertySymbols(copy).length, 0);
  const withGetter = structuredClone({ get g() { return "ran"; } });
  assert.deepEqual(Object.getOwnPropertyDescriptor(withGetter, "g"), { value: "ran", writable: true, enumerable: true, configurable: true });
  const nullProto = Object.create(null);
  nullProto.__proto__ = "own key";
  const copied = structuredClone(nullProto);
  assert.equal(Object.getPrototypeOf(copied), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(copied, "__proto__").value, "own key");
});

test("ArrayBuffer and views: copies, with views of one buffer still sharing it", () => {
  const buffer = new Uint8Array([1, 2, 3, 4]).buffer;
  const [a, b, view] = structuredClone([new Uint8Array(buffer, 1, 2), new Uint16Array(buffer), new DataView(buffer, 2)]);
  assert.ok(a.buffer === b.buffer && b.buffer === view.buffer && a.buffer !== buffer);
  assert.deepEqual([a.byteOffset, a.length, view.byteOffset, view.getUint8(0)], [1, 2, 2, 3]);
  a[0] = 99;
  assert.equal(new Uint8Array(buffer)[1], 2, "the original is untouched");
  assert.equal(view.getUint8(0), 3);
  assert.equal(new Uint8Array(b.buffer)[1], 99, "the cloned views share the cloned buffer");
  assert.ok(structuredClone(new BigInt64Array([5n])) instanceof BigInt64Array);
});

test("transfer moves the memory and detaches the original", () => {
  const bytes = new Uint8Array([7, 8, 9]);
  const copy = structuredClone({ bytes }, { transfer: [bytes.buffer] });
  assert.deepEqual(copy.bytes, new Uint8Array([7, 8, 9]));
  assert.equal(bytes.buffer.byteLength, 0);
  assert.equal(bytes.buffer.detached, true);
  const lone = new ArrayBuffer(8);
  structuredClone(1, { transfer: [lone, lone] });
  assert.equal(lone.byteLength, 0, "a buffer in the transfer list is detached even when the value does not hold it");
  const view = new Uint8Array(4);
  assert.equal(structuredClone(view, { transfer: [view] }).length, 4, "a view in the list transfers its buffer");
  assert.throws(() => structuredClone(1, { transfer: [{}] }), { name: "TypeError", message: "Object is not transferable" });
  assert.equal(cloneError(() => structuredClone(1, { transfer: [lone] })), "An ArrayBuffer is detached and could not be cloned.");
  assert.equal(cloneError(() => structuredClone(lone)), "An ArrayBuffer is detached and could not be cloned.");
});

test("errors keep their type, message, stack, cause and own properties", () => {
  const cause = new RangeError("root");
  const error = new TypeError("outer", { cause });
  error.code = "E_X";
  const copy = structuredClone(error);
  assert.ok(copy instanceof TypeError && copy !== error);
  assert.deepEqual([copy.name, copy.message, copy.code], ["TypeError", "outer", "E_X"]);
  assert.equal(copy.stack, error.stack);
  assert.ok(copy.cause instanceof RangeError && copy.cause !== cause);
  assert.equal(copy.cause.message, "root");
  class MyError extends Error {}
  MyError.prototype.name = "MyError";
  const mine = structuredClone(new MyError("custom"));
  assert.equal(Object.getPrototypeOf(mine), Error.prototype);
  assert.deepEqual([mine.name, mine.message], ["MyError", "custom"]);
  const dom = structuredClone(new DOMException("gone", "NotFoundError"));
  assert.ok(dom instanceof DOMException);
  assert.deepEqual([dom.name, dom.message, dom.code], ["NotFoundError", "gone", 8]);
});

test("functions, symbols and engine objects cannot be cloned", () => {
  assert.equal(cloneError(() => structuredClone(() => 1)), "() => 1 could not be cloned.");
  function named() {}
  assert.equal(cloneError(() => structuredClone({ f: named })), `${Function.prototype.toString.call(named)} could not be cloned.`);
  assert.equal(cloneError(() => structuredClone(Symbol("s"))), "Symbol(s) could not be cloned.");
  assert.equal(cloneError(() => structuredClone(new WeakMap())), "#<WeakMap> could not be cloned.");
  assert.equal(cloneError(() => structuredClone([Promise.resolve()])), "#<Promise> could not be cloned.");
  assert.equal(cloneError(() => structuredClone(new WeakRef({}))), "#<WeakRef> could not be cloned.");
});

test("runtime objects: Headers and Blob clone, the others are refused with workerd's message", async () => {
  const headers = new Headers({ a: "1" });
  const copy = structuredClone(headers);
  assert.ok(copy instanceof Headers && copy !== headers);
  copy.set("a", "2");
  assert.equal(headers.get("a"), "1");
  const blob = structuredClone(new Blob(["hi"], { type: "text/plain" }));
  assert.deepEqual([blob.type, await blob.text()], ["text/plain", "hi"]);
  assert.equal(
    cloneError(() => structuredClone(new Request("https://example.com/"))),
    'Could not serialize object of type "Request". This type does not support serialization.',
  );
  assert.equal(
    cloneError(() => structuredClone({ signal: new AbortController().signal })),
    'Could not serialize object of type "AbortSignal". This type does not support serialization.',
  );
});
