// Request as workerd has it (src/workerd/api/http.c++, Request::constructor).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const INVALID_REDIRECT =
  'Invalid redirect value, must be one of "follow" or "manual" ("error" won\'t be implemented since it does not make sense at the edge; use "manual" and check the response status code).';

test("defaults", () => {
  const request = new Request("HTTPS://Example.COM/a/../b?q#frag");
  assert.equal(request.url, "https://example.com/b?q#frag");
  assert.equal(request.method, "GET");
  assert.equal(request.redirect, "follow");
  assert.equal(request.body, null);
  assert.equal(request.bodyUsed, false);
  assert.equal(request.cf, undefined);
  assert.equal(request.cache, undefined);
  assert.equal(request.integrity, "");
  assert.equal(request.keepalive, false);
  assert.equal(request.fetcher, null);
  assert.ok(request.signal instanceof AbortSignal);
  assert.equal(request.signal.aborted, false);
  assert.deepEqual([...request.headers], []);
  assert.equal(Object.prototype.toString.call(request), "[object Request]");
});

test("constructor errors, verbatim", () => {
  const cases = [
    [() => new Request(), "Failed to construct 'Request': 1 argument required, but only 0 present."],
    [() => new Request("/relative"), "Invalid URL: /relative"],
    [() => new Request("http://x/", { method: "bad method" }), "Invalid HTTP method string: bad method"],
    [() => new Request("http://x/", { method: "CONNECT" }), "Invalid HTTP method string: CONNECT"],
    [() => new Request("http://x/", { method: "custom" }), "Invalid HTTP method string: custom"],
    [() => new Request("http://x/", { body: "b" }), "Request with a GET or HEAD method cannot have a body."],
    [() => new Request("http://x/", { method: "HEAD", body: "" }), "Request with a GET or HEAD method cannot have a body."],
    [() => new Request("http://x/", { redirect: "error" }), INVALID_REDIRECT],
    [() => new Request("http://x/", { redirect: "nope" }), INVALID_REDIRECT],
    [() => new Request("http://x/", { cache: "reload" }), "Unsupported cache mode: reload"],
    [() => new Request("http://x/", { integrity: "sha256-x" }),
      "Subrequest integrity checking is not implemented. The integrity option must be either undefined or an empty string."],
    [() => new Request("http://x/", { encodeResponseBody: "gzip" }), "encodeResponseBody: unexpected value: gzip"],
    [() => new Request("http://x/", { signal: {} }), "Failed to construct 'Request': member signal is not of type AbortSignal."],
  ];
  for (const [make, message] of cases) assert.throws(make, { name: "TypeError", message });
});

test("methods: known ones in any case are upper-cased", () => {
  for (const [given, expected] of [["get", "GET"], ["Post", "POST"], ["patch", "PATCH"], ["PROPFIND", "PROPFIND"], ["purge", "PURGE"]]) {
    assert.equal(new Request("http://x/", { method: given }).method, expected);
  }
});

test("redirect is case-insensitive and reported lower-case", () => {
  assert.equal(new Request("http://x/", { redirect: "MANUAL" }).redirect, "manual");
  assert.equal(new Request("http://x/", { redirect: "follow" }).redirect, "follow");
});

test("init sets headers, body, cf, cache and signal", async () => {
  const controller = new AbortController();
  const cf = { cacheTtl: 5 };
  const request = new Request("http://x/", {
    method: "post",
    headers: { "X-A": "1" },
    body: "payload",
    cf,
    cache: "no-store",
    signal: controller.signal,
  });
  cf.cacheTtl = 9;
  assert.deepEqual([...request.headers], [["content-type", "text/plain;charset=UTF-8"], ["x-a", "1"]]);
  assert.deepEqual(request.cf, { cacheTtl: 5 });
  assert.equal(request.cache, "no-store");
  assert.equal(request.signal, controller.signal);
  assert.equal(await request.text(), "payload");
  request.headers.set("x-b", "2"); // a constructed Request's headers are mutable
});

test("new Request(request) copies the fields and takes the body over", async () => {
  const original = new Request("http://x/path", { method: "PUT", headers: { a: "1" }, body: "moved", redirect: "manual" });
  const copy = new Request(original);
  assert.equal(copy.method, "PUT");
  assert.equal(copy.url, "http://x/path");
  assert.equal(copy.redirect, "manual");
  assert.equal(copy.headers.get("a"), "1");
  assert.equal(original.bodyUsed, true);
  assert.equal(await copy.text(), "moved");
  assert.throws(() => new Request(original), { name: "TypeError", message: "Cannot reconstruct a Request with a used body." });
});

test("new Request(request, init) overrides, and a new body leaves the input's alone", async () => {
  const original = new Request("http://x/", { method: "POST", body: "old" });
  const copy = new Request(original, { body: "new", headers: { b: "2" } });
  assert.equal(original.bodyUsed, false);
  assert.equal(await copy.text(), "new");
  assert.deepEqual([...copy.headers], [["b", "2"], ["content-type", "text/plain;charset=UTF-8"]]);
  assert.equal(await original.text(), "old");
  const emptied = new Request(new Request("http://x/", { method: "POST", body: "x" }), { body: null });
  assert.equal(emptied.body, null);
});

test("turning a request with a body into GET fails", () => {
  const post = new Request("http://x/", { method: "POST", body: "x" });
  assert.throws(() => new Request(post, { method: "GET" }), { name: "TypeError", message: "Request with a GET or HEAD method cannot have a body." });
});

test("a Request as init is read like a dictionary and its body is shared", async () => {
  const other = new Request("http://other/", { method: "PATCH", headers: { z: "1" }, body: "shared" });
  const request = new Request("http://x/", other);
  assert.equal(request.url, "http://x/");
  assert.equal(request.method, "PATCH");
  assert.equal(request.headers.get("z"), "1");
  assert.equal(await request.text(), "shared");
});

test("signal: null drops an inherited signal", () => {
  const controller = new AbortController();
  const original = new Request("http://x/", { signal: controller.signal });
  assert.equal(new Request(original).signal, controller.signal);
  const dropped = new Request(original, { signal: null });
  controller.abort();
  assert.equal(dropped.signal.aborted, false);
});

test("a ReadableStream body is accepted and readable", async () => {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("streamed"));
      controller.close();
    },
  });
  const request = new Request("http://x/", { method: "POST", body });
  assert.equal(request.body, body);
  assert.equal(await request.text(), "streamed");
});

test("clone() copies headers and tees the body", async () => {
  const signal = new AbortController().signal;
  const request = new Request("http://x/", { method: "POST", headers: { a: "1" }, body: "twice", cf: { k: 1 }, signal });
  const copy = request.clone();
  copy.headers.set("a", "2");
  assert.equal(request.headers.get("a"), "1");
  assert.deepEqual(copy.cf, { k: 1 });
  assert.equal(copy.signal, signal);
  assert.deepEqual([await request.text(), await copy.text()], ["twice", "twice"]);
});

test("clone() of a used body fails", async () => {
  const request = new Request("http://x/", { method: "POST", body: "x" });
  await request.text();
  assert.throws(() => request.clone(), TypeError);
});
