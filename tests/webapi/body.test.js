// The Body mixin (Request and Response) with workerd's rules (src/workerd/api/http.c++, Body).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const USED = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.";
const encoder = new TextEncoder();

function streamOf(...chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

test("each extracted body type sets workerd's Content-Type", async () => {
  const cases = [
    ["text", "text/plain;charset=UTF-8"],
    [new URLSearchParams("a=1&b=2"), "application/x-www-form-urlencoded;charset=UTF-8"],
    [new Blob(["x"], { type: "Image/PNG" }), "image/png"],
    [new Blob(["x"]), null],
    [new Uint8Array([1]), null],
    [new ArrayBuffer(1), null],
    [streamOf(new Uint8Array([1])), null],
    [42, "text/plain;charset=UTF-8"],
  ];
  for (const [body, type] of cases) assert.equal(new Response(body).headers.get("content-type"), type, String(body));
  const form = new FormData();
  form.append("a", "1");
  assert.ok(/^multipart\/form-data; boundary=[0-9a-f]{32}$/.test(new Response(form).headers.get("content-type")));
});

test("an explicit Content-Type wins over the body's", () => {
  const response = new Response("x", { headers: { "content-type": "application/custom" } });
  assert.equal(response.headers.get("content-type"), "application/custom");
});

test("text, json, arrayBuffer, bytes and blob read the whole body", async () => {
  assert.equal(await new Response("h\u00e9llo").text(), "h\u00e9llo");
  assert.deepEqual(await new Response('{"a":[1,2]}').json(), { a: [1, 2] });
  const buffer = await new Response(new Uint8Array([1, 2, 3])).arrayBuffer();
  assert.ok(buffer instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(buffer)], [1, 2, 3]);
  const bytes = await new Response(streamOf(new Uint8Array([4]), new Uint8Array([5, 6]))).bytes();
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual([...bytes], [4, 5, 6]);
  const blob = await new Response("x", { headers: { "content-type": "Text/HTML; Charset=UTF-8" } }).blob();
  assert.equal(blob.type, "text/html;charset=UTF-8");
  assert.equal(await blob.text(), "x");
  assert.equal((await new Response("x", { headers: { "content-type": "not a type" } }).blob()).type, "");
});

test("text() replaces invalid UTF-8 and drops a byte order mark", async () => {
  assert.equal(await new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff])).text(), "a\ufffd");
});

test("json() on invalid JSON is a SyntaxError", async () => {
  await assert.rejects(new Response("{").json(), SyntaxError);
});

test("a body can be read once; bodyUsed tells", async () => {
  const response = new Response("once");
  assert.equal(response.bodyUsed, false);
  await response.text();
  assert.equal(response.bodyUsed, true);
  for (const method of ["text", "json", "arrayBuffer", "bytes", "blob", "formData"]) {
    await assert.rejects(response[method](), { name: "TypeError", message: USED }, method);
  }
  // After reading, .body is a disturbed stream that cannot be read again.
  assert.equal(response.body.locked, true);
});

test("a stream body counts as used once read from", async () => {
  const response = new Response(streamOf(encoder.encode("abc")));
  const reader = response.body.getReader();
  await reader.read();
  assert.equal(response.bodyUsed, true);
  reader.releaseLock();
  await assert.rejects(response.text(), { name: "TypeError", message: USED });
});

test("a locked stream body cannot be consumed", async () => {
  const response = new Response(streamOf(encoder.encode("abc")));
  response.body.getReader();
  await assert.rejects(response.text(), { name: "TypeError", message: "This ReadableStream is currently locked to a reader." });
});

test("a disturbed or locked stream cannot become a body", async () => {
  const read = streamOf(encoder.encode("a"));
  await read.getReader().read();
  assert.throws(() => new Response(read), {
    name: "TypeError",
    message: "This ReadableStream is disturbed (has already been read from), and cannot be used as a body.",
  });
  const locked = streamOf(encoder.encode("a"));
  locked.getReader();
  assert.throws(() => new Response(locked), { name: "TypeError", message: "This ReadableStream is currently locked to a reader." });
});

test("chunks of a body stream must be bytes", async () => {
  await assert.rejects(new Response(streamOf("text")).text(), { name: "TypeError", message: "This ReadableStream did not return bytes." });
});

test("body is null without a body and a byte stream with one", async () => {
  assert.equal(new Response().body, null);
  assert.equal(new Response(null).body, null);
  assert.equal(await new Response().text(), "");
  const body = new Response("stream me").body;
  assert.ok(body instanceof ReadableStream);
  const reader = body.getReader({ mode: "byob" });
  const { value } = await reader.read(new Uint8Array(64));
  assert.equal(new TextDecoder().decode(value), "stream me");
});

test("iterables and async iterables of bytes are bodies", async () => {
  async function* chunks() {
    yield encoder.encode("a");
    yield encoder.encode("b");
  }
  assert.equal(await new Response(chunks()).text(), "ab");
  assert.equal(await new Response([encoder.encode("c"), encoder.encode("d")]).text(), "cd");
});

test("buffers are copied when the body is made", async () => {
  const bytes = encoder.encode("abc");
  const response = new Response(bytes);
  bytes[0] = 0x7a;
  assert.equal(await response.text(), "abc");
});

test("reading .body of a Blob body leaves the Blob intact", async () => {
  const blob = new Blob(["blob bytes"]);
  const response = new Response(blob);
  await response.body.getReader().read();
  assert.equal(await blob.text(), "blob bytes");
});

test("formData() needs a Content-Type", async () => {
  await assert.rejects(new Response(new TextEncoder().encode("a=1")).formData(), {
    name: "TypeError",
    message: "Parsing a Body as FormData requires a Content-Type header.",
  });
});

test("formData() parses urlencoded bodies", async () => {
  const form = await new Response(new URLSearchParams("a=1&b=x+y&a=%C3%A9")).formData();
  assert.deepEqual([...form], [["a", "1"], ["b", "x y"], ["a", "\u00e9"]]);
});

test("clone() tees a stream body and copies known bytes", async () => {
  const response = new Response(streamOf(encoder.encode("tee")));
  const copy = response.clone();
  assert.deepEqual([await response.text(), await copy.text()], ["tee", "tee"]);
  const known = new Response("known");
  const other = known.clone();
  assert.deepEqual([await other.text(), await known.text()], ["known", "known"]);
});

test("clone() of a used body fails", async () => {
  const response = new Response("x");
  await response.text();
  assert.throws(() => response.clone(), { name: "TypeError", message: USED });
});
