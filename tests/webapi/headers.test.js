import { test, assert } from "./harness.js";

export { tests } from "./harness.js";

test("names are lower-cased and iteration is sorted and combined", () => {
  const h = new Headers([["B", "2"], ["a", "1"], ["b", "3"]]);
  assert.deepEqual([...h], [["a", "1"], ["b", "2, 3"]]);
});

test("set-cookie values stay separate in iteration and getSetCookie", () => {
  const h = new Headers();
  h.append("Set-Cookie", "a=1");
  h.append("set-cookie", "b=2");
  assert.deepEqual([...h], [["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  assert.deepEqual(h.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(h.get("set-cookie"), "a=1, b=2");
});

test("CR/LF in a value is rejected", () => {
  const h = new Headers();
  assert.throws(() => h.set("x-a", "1\r\nx-evil: 1"), { name: "TypeError", message: "Invalid header value." });
});
