// Response as workerd has it (src/workerd/api/http.c++, Response::constructor, json, redirect, error).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const RANGE = "Responses may only be constructed with status codes in the range 200 to 599, inclusive.";
const NULL_BODY = "Response with null body status (101, 204, 205, or 304) cannot have a body.";

test("defaults", async () => {
  const response = new Response();
  assert.equal(response.status, 200);
  assert.equal(response.statusText, "OK");
  assert.equal(response.ok, true);
  assert.equal(response.redirected, false);
  assert.equal(response.url, "");
  assert.equal(response.type, "default");
  assert.equal(response.body, null);
  assert.equal(response.webSocket, null);
  assert.equal(response.cf, undefined);
  assert.equal(Object.prototype.toString.call(response), "[object Response]");
});

test("statusText defaults to the status's phrase, or its class", () => {
  const cases = [[201, "Created"], [404, "Not Found"], [418, "I'm a teapot"], [299, "Successful"], [399, "Redirection"],
    [499, "Client Error"], [599, "Server Error"]];
  for (const [status, text] of cases) assert.equal(new Response(null, { status }).statusText, text, String(status));
  assert.equal(new Response(null, { status: 200, statusText: "" }).statusText, "");
  assert.equal(new Response(null, { statusText: "Fine \u00e9" }).statusText, "Fine \u00e9");
});

test("status must be 200 to 599", () => {
  for (const status of [0, 100, 101, 199, 600, 1000, -1, "abc"]) {
    assert.throws(() => new Response(null, { status }), { name: "RangeError", message: RANGE }, String(status));
  }
  assert.equal(new Response(null, { status: 201.9 }).status, 201);
  assert.equal(new Response(null, { status: "404" }).status, 404);
});

test("statusText with a control character is refused", () => {
  for (const statusText of ["a\r\nx-evil: 1", "a\nb", "tab\there"]) {
    assert.throws(() => new Response(null, { statusText }), { name: "TypeError", message: "Invalid statusText" });
  }
});

test("null-body statuses refuse a body but accept an empty buffer as none", () => {
  for (const status of [204, 205, 304]) {
    assert.throws(() => new Response("x", { status }), { name: "TypeError", message: NULL_BODY });
    const stream = new ReadableStream({ start: (c) => c.close() });
    assert.throws(() => new Response(stream, { status }), { name: "TypeError", message: NULL_BODY });
    const empty = new Response("", { status });
    assert.equal(empty.body, null);
    assert.equal(empty.headers.get("content-type"), null);
  }
});

test("webSocket requires status 101", () => {
  assert.throws(() => new Response(null, { webSocket: {} }), { name: "RangeError", message: "Responses with a WebSocket must have status code 101." });
  assert.throws(() => new Response(null, { webSocket: {} }).clone(), RangeError);
  const upgrade = new Response(null, { status: 101, webSocket: {} });
  assert.throws(() => upgrade.clone(), { name: "TypeError", message: "Cannot clone a response to a WebSocket handshake." });
});

test("encodeBody is checked", () => {
  assert.throws(() => new Response(null, { encodeBody: "x" }), { name: "TypeError", message: "encodeBody: unexpected value: x" });
  new Response(null, { encodeBody: "manual" });
});

test("constructed headers are mutable", () => {
  const response = new Response("x", { headers: { a: "1" } });
  response.headers.set("b", "2");
  assert.deepEqual([...response.headers], [["a", "1"], ["b", "2"], ["content-type", "text/plain;charset=UTF-8"]]);
});

test("Response.json", async () => {
  const response = Response.json({ a: 1 }, { status: 201, headers: { "x-a": "1" } });
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("x-a"), "1");
  assert.equal(await response.text(), '{"a":1}');
  const typed = Response.json([1], { headers: { "content-type": "application/vnd.api+json" } });
  assert.equal(typed.headers.get("content-type"), "application/vnd.api+json");
  // V8 stringifies undefined to "undefined", and workerd sends that.
  assert.equal(await Response.json(undefined).text(), "undefined");
  assert.throws(() => Response.json(1n), TypeError);
  assert.throws(() => Response.json(null, { status: 600 }), { name: "RangeError", message: RANGE });
});

test("Response.redirect", () => {
  const response = Response.redirect("https://example.com/a b", 301);
  assert.equal(response.status, 301);
  assert.equal(response.statusText, "Moved Permanently");
  assert.equal(response.headers.get("location"), "https://example.com/a%20b");
  assert.equal(response.body, null);
  assert.throws(() => response.headers.set("location", "x"), { name: "TypeError", message: "Can't modify immutable headers." });
  assert.equal(Response.redirect("http://x/").status, 302);
  for (const status of [200, 300, 304, 399]) {
    assert.throws(() => Response.redirect("http://x/", status), {
      name: "RangeError",
      message: `${status} is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308.`,
    });
  }
  assert.throws(() => Response.redirect("/relative"), { name: "TypeError", message: "Unable to parse URL: /relative" });
});

test("Response.error", () => {
  const response = Response.error();
  assert.equal(response.status, 0);
  assert.equal(response.type, "error");
  assert.equal(response.statusText, "");
  assert.equal(response.ok, false);
  assert.equal(response.body, null);
  response.headers.set("x", "1"); // mutable in workerd
});

test("a Response as init is read like a dictionary", () => {
  const base = new Response(null, { status: 404, statusText: "Gone Fishing", headers: { a: "1" } });
  const response = new Response("x", base);
  assert.equal(response.status, 404);
  assert.equal(response.statusText, "Gone Fishing");
  assert.equal(response.headers.get("a"), "1");
});

test("clone() keeps status, headers and body", async () => {
  const response = new Response("body", { status: 202, statusText: "Yes", headers: { a: "1" } });
  const copy = response.clone();
  assert.deepEqual([copy.status, copy.statusText, copy.headers.get("a")], [202, "Yes", "1"]);
  copy.headers.set("a", "2");
  assert.equal(response.headers.get("a"), "1");
  assert.deepEqual([await copy.text(), await response.text()], ["body", "body"]);
});
