// Headers as workerd has it (src/workerd/api/headers.c++).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

test("names are lower-cased and iteration is sorted and combined", () => {
  const h = new Headers([["B", "2"], ["a", "1"], ["b", "3"]]);
  assert.deepEqual([...h], [["a", "1"], ["b", "2, 3"]]);
  assert.deepEqual([...h.keys()], ["a", "b"]);
  assert.deepEqual([...h.values()], ["1", "2, 3"]);
});

test("set-cookie values stay separate in iteration and getSetCookie", () => {
  const h = new Headers();
  h.append("Set-Cookie", "a=1");
  h.append("x-z", "z");
  h.append("set-cookie", "b=2");
  h.append("content-type", "text/plain");
  assert.deepEqual([...h], [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-z", "z"]]);
  assert.deepEqual(h.getSetCookie(), ["a=1", "b=2"]);
  assert.deepEqual(h.getAll("SET-COOKIE"), ["a=1", "b=2"]);
  assert.equal(h.get("set-cookie"), "a=1, b=2");
});

test("getAll is for Set-Cookie only", () => {
  assert.throws(() => new Headers().getAll("x-a"), {
    name: "TypeError",
    message: 'getAll() can only be used with the header name "Set-Cookie".',
  });
});

test("CR, LF and NUL in a value are rejected: no header line injection", () => {
  const h = new Headers();
  for (const value of ["1\r\nx-evil: 1", "1\nx", "1\rx", "a\0b"]) {
    assert.throws(() => h.set("x-a", value), { name: "TypeError", message: "Invalid header value." });
    assert.throws(() => h.append("x-a", value), { name: "TypeError", message: "Invalid header value." });
    assert.throws(() => new Headers({ "x-a": value }), { name: "TypeError", message: "Invalid header value." });
  }
  assert.equal([...h].length, 0);
});

test("values are trimmed of HTTP whitespace; inner whitespace and other characters stay", () => {
  const h = new Headers({ "x-a": " \t a  b \r\n", "x-b": "\u00e9\u4e2d", "x-c": "\u0001\u007f" });
  assert.equal(h.get("x-a"), "a  b");
  // workerd accepts any Unicode (sent as UTF-8) where the Fetch standard wants a ByteString.
  assert.equal(h.get("x-b"), "\u00e9\u4e2d");
  assert.equal(h.get("x-c"), "\u0001\u007f");
});

test("invalid names are rejected by every method", () => {
  const h = new Headers();
  for (const name of ["", "a b", "a:b", "a\r\nb", "(x)", "a/b", "a\"b"]) {
    for (const call of [() => h.get(name), () => h.has(name), () => h.delete(name), () => h.set(name, "v"), () => h.append(name, "v")]) {
      assert.throws(call, { name: "TypeError", message: "Invalid header name." }, JSON.stringify(name));
    }
  }
  // The value is checked first, as in workerd.
  assert.throws(() => h.set("bad name", "bad\nvalue"), { message: "Invalid header value." });
});

test("non-ASCII names pass (workerd checks UTF-8 bytes) and only ASCII is lower-cased", () => {
  const h = new Headers([["X-\u00c9t\u00e9", "1"]]);
  assert.deepEqual([...h.keys()], ["x-\u00c9t\u00e9"]);
});

test("set replaces every value of a name, delete removes them all", () => {
  const h = new Headers([["a", "1"], ["b", "2"], ["a", "3"]]);
  h.set("A", "4");
  assert.deepEqual([...h], [["a", "4"], ["b", "2"]]);
  h.delete("B");
  assert.deepEqual([...h], [["a", "4"]]);
  assert.equal(h.has("b"), false);
  assert.equal(h.get("missing"), null);
});

test("constructor accepts records, sequences and Headers; bad pairs name the rule", () => {
  assert.deepEqual([...new Headers({ B: "2", a: "1" })], [["a", "1"], ["b", "2"]]);
  assert.deepEqual([...new Headers(new Map([["x", "1"]]))], [["x", "1"]]);
  const original = new Headers({ a: "1" });
  const copy = new Headers(original);
  copy.set("a", "2");
  assert.equal(original.get("a"), "1");
  const message = "To initialize a Headers object from a sequence, each inner sequence must have exactly two elements.";
  assert.throws(() => new Headers([["a"]]), { name: "TypeError", message });
  assert.throws(() => new Headers([["a", "1", "2"]]), { name: "TypeError", message });
  assert.throws(() => new Headers(["ab"]), { name: "TypeError", message });
  assert.throws(() => new Headers(5), TypeError);
});

test("iterators work on a snapshot taken when they are created", () => {
  const h = new Headers({ a: "1" });
  const entries = h.entries();
  h.append("b", "2");
  assert.deepEqual([...entries], [["a", "1"]]);
});

test("forEach passes value, name and the object, with thisArg", () => {
  const h = new Headers({ b: "2", a: "1" });
  const seen = [];
  const self = {};
  h.forEach(function (value, name, object) {
    seen.push([value, name, object === h, this === self]);
  }, self);
  assert.deepEqual(seen, [["1", "a", true, true], ["2", "b", true, true]]);
  assert.throws(() => h.forEach(5), TypeError);
});

test("missing arguments are TypeErrors", () => {
  const h = new Headers();
  assert.throws(() => h.append("a"), { name: "TypeError", message: "Failed to execute 'append' on 'Headers': 2 arguments required, but only 1 present." });
  assert.throws(() => h.get(), { name: "TypeError", message: "Failed to execute 'get' on 'Headers': 1 argument required, but only 0 present." });
});

test("a symbol cannot become a header value", () => {
  assert.throws(() => new Headers().set("a", Symbol("s")), TypeError);
});

test("toStringTag", () => {
  assert.equal(Object.prototype.toString.call(new Headers()), "[object Headers]");
});
