// fetch() end to end: JS runtime → Python host → real servers on 127.0.0.1 (tests/support/upstream.py),
// reached under real host names through the worker's `upstream.connect_to` option.
import { env } from "cloudflare:workers";
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const LOST = { name: "Error", message: "Network connection lost." };
const INTERNAL = { name: "Error", message: /^internal error; reference = [0-9a-z]{24}$/ };

async function echo(input, init) {
  const response = await fetch(input, init);
  return [response, await response.json()];
}

function headerNames(seen) {
  return seen.headers.map(([name]) => name.toLowerCase());
}

// The harness's rejects() compares error classes and messages; abort reasons are compared by identity.
async function rejectsWithReason(promise, reason) {
  try {
    await promise;
  } catch (error) {
    if (error !== reason) throw new Error(`rejected with ${error}, not with the signal's reason ${reason}`);
    return;
  }
  throw new Error("expected a rejection");
}

async function progress(tag) {
  return (await fetch(`${env.UPSTREAM_HTTP}/progress?tag=${tag}`)).json();
}

async function eventually(check, what) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("a GET carries exactly the handler's headers, plus Host from the URL", async () => {
  const [response, seen] = await echo(`${env.UPSTREAM_HTTP}/echo?x=1#fragment`, {
    headers: { "X-Custom": "v\u00e9", Authorization: "Bearer t", Host: "evil.test" },
  });
  assert.equal(seen.method, "GET");
  assert.equal(seen.path, "/echo?x=1");
  // In the order they were added (workerd's wire order differs: kj writes its well-known headers first).
  assert.deepEqual(seen.headers, [["Host", "upstream.test"], ["x-custom", "v\u00e9"], ["authorization", "Bearer t"]]);
  assert.equal(response.status, 200);
  assert.equal(response.statusText, "OK");
  assert.equal(response.ok, true);
  assert.equal(response.url, `${env.UPSTREAM_HTTP}/echo?x=1`);
  assert.equal(response.redirected, false);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
});

test("fetch() response headers are immutable", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/cookies`);
  assert.throws(() => response.headers.set("x", "1"), { name: "TypeError", message: "Can't modify immutable headers." });
  assert.throws(() => response.headers.delete("x-custom"), { name: "TypeError", message: "Can't modify immutable headers." });
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2; Path=/"]);
  assert.equal(response.headers.get("x-custom"), "custom value");
  // A copy is mutable.
  new Response(response.body, response).headers.set("x", "1");
});

test("request bodies: string, bytes, stream, FormData, empty", async () => {
  let [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { method: "POST", body: "h\u00e9llo" });
  assert.equal(seen.body, "h\u00e9llo");
  assert.ok(seen.headers.some(([n, v]) => n === "content-type" && v === "text/plain;charset=UTF-8"));
  assert.ok(seen.headers.some(([n, v]) => n === "Content-Length" && v === "6"));

  [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { method: "PUT", body: new Uint8Array([104, 105]) });
  assert.deepEqual([seen.method, seen.body], ["PUT", "hi"]);

  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("str"));
      controller.enqueue(new TextEncoder().encode("eamed"));
      controller.close();
    },
  });
  [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { method: "POST", body: stream });
  assert.equal(seen.body, "streamed");

  const form = new FormData();
  form.append("k", "v");
  [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { method: "POST", body: form });
  assert.ok(seen.body.includes('name="k"\r\n\r\nv\r\n'));

  [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { method: "POST", body: "" });
  assert.ok(seen.headers.some(([n, v]) => n === "Content-Length" && v === "0"));
  assert.equal(seen.bodyLength, 0);
});

test("no User-Agent, Accept or Accept-Encoding is added", async () => {
  const [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`);
  for (const name of ["user-agent", "accept", "accept-encoding", "content-type", "content-length"]) {
    assert.ok(!headerNames(seen).includes(name), name);
  }
});

test("fetch(request) sends the request and uses up its body", async () => {
  const request = new Request(`${env.UPSTREAM_HTTP}/echo`, { method: "PATCH", body: "once", headers: { "x-r": "1" } });
  const [, seen] = await echo(request);
  assert.deepEqual([seen.method, seen.body], ["PATCH", "once"]);
  assert.equal(request.bodyUsed, true);
  await assert.rejects(fetch(request), { name: "TypeError", message: "Cannot reconstruct a Request with a used body." });
});

test("cache: no-store adds no-cache directives unless present", async () => {
  const [, seen] = await echo(`${env.UPSTREAM_HTTP}/echo`, { cache: "no-store", headers: { pragma: "keep" } });
  const headers = Object.fromEntries(seen.headers.map(([n, v]) => [n.toLowerCase(), v]));
  assert.equal(headers["cache-control"], "no-cache");
  assert.equal(headers.pragma, "keep");
});

test("HTTPS to github.com goes to the local server, verified with the test CA", async () => {
  const [response, seen] = await echo(`${env.UPSTREAM_HTTPS}/echo`);
  assert.equal(response.url, "https://github.com/echo");
  assert.deepEqual(seen.headers, [["Host", "github.com"]]);
});

test("a certificate from an unknown CA fails as an internal error", async () => {
  await assert.rejects(fetch(`${env.UPSTREAM_UNTRUSTED}/echo`), INTERNAL);
});

test("a refused connection is 'Network connection lost.'", async () => {
  await assert.rejects(fetch(`${env.UPSTREAM_REFUSED}/`), LOST);
});

test("a response cut short is 'Network connection lost.'", async () => {
  // A small body comes with the head, so the fetch itself fails...
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/truncated`), LOST);
  // ...a large one is read later, and the read fails.
  const response = await fetch(`${env.UPSTREAM_HTTP}/truncated?promise=1000000&send=200000`);
  assert.equal(response.status, 200);
  await assert.rejects(response.arrayBuffer(), LOST);
});

test("only http: and https: go to the network", async () => {
  await assert.rejects(fetch("ftp://example.com/file"), { name: "TypeError", message: "Fetch API cannot load: ftp://example.com/file" });
  await assert.rejects(fetch("ws://example.com/"), { name: "TypeError", message: "Fetch API cannot load: ws://example.com/" });
  await assert.rejects(fetch("data:nocomma"), { name: "TypeError", message: "Fetch API cannot load: data:nocomma" });
  await assert.rejects(fetch("not a url"), { name: "TypeError", message: "Invalid URL: not a url" });
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/`, { method: "GET", body: "x" }), {
    name: "TypeError",
    message: "Request with a GET or HEAD method cannot have a body.",
  });
});

test("data: URLs are answered locally, as workerd does", async () => {
  const response = await fetch("data:text/plain;charset=utf-8;base64,aMOp");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain;charset=utf-8");
  assert.equal(await response.text(), "h\u00e9");
  assert.equal(await (await fetch("data:,a%20b")).text(), "a b");
  assert.equal((await fetch("data:,x")).headers.get("content-type"), "text/plain;charset=US-ASCII");
});

for (const [status, method, expectedMethod, keepsBody] of [
  [301, "POST", "GET", false],
  [302, "POST", "GET", false],
  [303, "POST", "GET", false],
  [307, "POST", "POST", true],
  [308, "PUT", "PUT", true],
  [301, "DELETE", "DELETE", true],
]) {
  test(`${status} redirect: ${method} becomes ${expectedMethod}${keepsBody ? " with its body" : " without a body"}`, async () => {
    const [response, seen] = await echo(`${env.UPSTREAM_HTTP}/redirect/${status}?location=/echo`, { method, body: "payload" });
    assert.equal(response.status, 200);
    assert.equal(response.redirected, true);
    assert.equal(response.url, `${env.UPSTREAM_HTTP}/echo`);
    assert.equal(seen.method, expectedMethod);
    assert.equal(seen.body, keepsBody ? "payload" : "");
  });
}

test("a cross-origin redirect drops Authorization, Cookie and Proxy-Authorization", async () => {
  const headers = { Authorization: "Bearer secret", Cookie: "s=1", "Proxy-Authorization": "Basic x", "X-Other": "kept" };
  const location = encodeURIComponent(`${env.UPSTREAM_OTHER}/echo`);
  const [response, seen] = await echo(`${env.UPSTREAM_HTTP}/redirect/302?location=${location}`, { headers });
  assert.equal(response.url, `${env.UPSTREAM_OTHER}/echo`);
  assert.deepEqual(seen.headers, [["Host", "other.test"], ["x-other", "kept"]]);
});

test("a same-origin redirect keeps Authorization", async () => {
  const [, seen] = await echo(`${env.UPSTREAM_HTTP}/redirect/302?location=/echo`, { headers: { Authorization: "Bearer secret" } });
  assert.deepEqual(seen.headers, [["Host", "upstream.test"], ["authorization", "Bearer secret"]]);
});

test("twenty redirects are followed; the twenty-first fails", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/chain/20`);
  assert.equal(await response.text(), "end of chain");
  assert.equal(response.url, `${env.UPSTREAM_HTTP}/chain/0`);
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/chain/21`), { name: "TypeError", message: "Too many redirects." });
});

test("redirect: manual returns the 3xx itself", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/redirect/307?location=/echo`, { redirect: "manual" });
  assert.equal(response.status, 307);
  assert.equal(response.statusText, "Temporary Redirect");
  assert.equal(response.headers.get("location"), "/echo");
  assert.equal(response.redirected, false);
  assert.equal(await response.text(), "redirecting");
});

test("redirect: error is refused, as in workerd", async () => {
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/echo`, { redirect: "error" }), {
    name: "TypeError",
    message:
      'Invalid redirect value, must be one of "follow" or "manual" ("error" won\'t be implemented since it does not make sense at the edge; use "manual" and check the response status code).',
  });
});

test("305 is not a redirect, and a 3xx without Location is returned", async () => {
  const proxy = await fetch(`${env.UPSTREAM_HTTP}/redirect/305?location=/echo`);
  assert.equal(proxy.status, 305);
  const bare = await fetch(`${env.UPSTREAM_HTTP}/status/302`);
  assert.deepEqual([bare.status, bare.redirected], [302, false]);
});

test("a redirect that needs a stream body again fails; 303 does not", async () => {
  const body = () => new ReadableStream({ start: (c) => { c.enqueue(new Uint8Array([1])); c.close(); } });
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/redirect/307?location=/echo`, { method: "POST", body: body() }), {
    name: "TypeError",
    message:
      "A request with a one-time-use body (it was initialized from a stream, not a buffer) encountered a redirect requiring the body to be retransmitted. To avoid this error in the future, construct this request from a buffer-like body initializer.",
  });
  const response = await fetch(`${env.UPSTREAM_HTTP}/redirect/303?location=/echo`, { method: "POST", body: body() });
  assert.equal((await response.json()).method, "GET");
});

test("an invalid Location fails the fetch", async () => {
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/redirect/302?location=${encodeURIComponent("http://[bad")}`), {
    name: "TypeError",
    message: "Invalid Location header; unable to follow redirect.",
  });
});

test("status and reason come from upstream; HEAD and 204 have no body", async () => {
  const teapot = await fetch(`${env.UPSTREAM_HTTP}/status/418?reason=Short+And+Stout`);
  assert.deepEqual([teapot.status, teapot.statusText, teapot.ok], [418, "Short And Stout", false]);
  assert.equal(await teapot.text(), "status 418");
  const head = await fetch(`${env.UPSTREAM_HTTP}/echo`, { method: "HEAD" });
  assert.deepEqual([head.status, head.body], [200, null]);
  const empty = await fetch(`${env.UPSTREAM_HTTP}/status/204`);
  assert.deepEqual([empty.status, empty.body], [204, null]);
});

test("bodies are not decompressed: bytes and Content-Encoding as received", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/gzip`, { headers: { "accept-encoding": "gzip" } });
  assert.equal(response.headers.get("content-encoding"), "gzip");
  const bytes = await response.bytes();
  assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]);
});

test("a chunked body arrives through the stream", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/chunked?parts=one,two,three`);
  assert.equal(await response.text(), "onetwothree");
});

test("32 MiB stream through fetch() in chunks, without being buffered first", async () => {
  const size = 32 * 1024 * 1024;
  const response = await fetch(`${env.UPSTREAM_HTTP}/bytes/${size}?tag=js-large`);
  assert.equal(response.headers.get("content-length"), String(size));
  const reader = response.body.getReader();
  let { value } = await reader.read();
  // When the first chunk is here, the server is far from done: backpressure reaches it.
  assert.ok((await progress("js-large")).written < size / 2, "the server had already written most of the body");
  let total = value.byteLength;
  let chunks = 1;
  let expected = value[value.byteLength - 1];
  for (;;) {
    ({ value } = await reader.read());
    if (value === undefined) break;
    assert.equal(value[0], (expected + 1) % 256, "bytes arrive in order");
    expected = value[value.byteLength - 1];
    total += value.byteLength;
    chunks += 1;
  }
  assert.equal(total, size);
  assert.ok(chunks > 16, `${chunks} chunks`);
});

test("clone() of a fetched response tees the pulled body", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/bytes/200000`);
  const copy = response.clone();
  const [a, b] = await Promise.all([response.bytes(), copy.bytes()]);
  assert.deepEqual([a.byteLength, b.byteLength, a[199999], b[199999]], [200000, 200000, 199999 % 256, 199999 % 256]);
});

test("an already aborted signal rejects with its reason before anything is sent", async () => {
  const reason = new Error("stop");
  await rejectsWithReason(fetch(`${env.UPSTREAM_HTTP}/echo`, { signal: AbortSignal.abort(reason) }), reason);
  await assert.rejects(fetch(`${env.UPSTREAM_HTTP}/echo`, { signal: AbortSignal.abort() }), { name: "AbortError" });
});

test("aborting while waiting for the head rejects with the reason at once", async () => {
  const controller = new AbortController();
  const started = Date.now();
  const pending = fetch(`${env.UPSTREAM_HTTP}/slow`, { signal: controller.signal });
  setTimeout(() => controller.abort("too slow"), 50);
  await rejectsWithReason(pending, "too slow");
  assert.ok(Date.now() - started < 2000);
});

test("aborting mid-body errors the stream and closes the upstream connection", async () => {
  const controller = new AbortController();
  const response = await fetch(`${env.UPSTREAM_HTTP}/drip?tag=js-abort`, { signal: controller.signal });
  const reader = response.body.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value).slice(0, 5), "drip\n");
  const reason = new DOMException("user gave up", "AbortError");
  controller.abort(reason);
  await rejectsWithReason(reader.read(), reason);
  await eventually(async () => (await progress("js-abort")).gone, "the upstream to see the disconnect");
});

test("cancelling a fetched body closes the upstream connection", async () => {
  const response = await fetch(`${env.UPSTREAM_HTTP}/drip?tag=js-cancel`);
  const reader = response.body.getReader();
  await reader.read();
  await reader.cancel();
  await eventually(async () => (await progress("js-cancel")).gone, "the upstream to see the disconnect");
});

test("fetch() needs an argument", async () => {
  await assert.rejects(fetch(), TypeError);
});
