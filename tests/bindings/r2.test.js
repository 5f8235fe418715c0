// R2 (contract §4.2) as a handler sees it, against a real bucket: env.R2 is bucket "r2-test" with Miniflare's
// test limits (minimum part size 50 bytes) and a fake clock at 1_000_000 ms (tests/bindings/conftest.py).
// Ported from Miniflare's test/plugins/r2/index.spec.ts (workers-sdk f830836); the workerd client-side
// checks are from src/workerd/api/r2-bucket.c++ and r2-multipart.c++. Keys are namespaced per test, as
// Miniflare's suite does, because every test in this file shares the bucket.
import { env } from "cloudflare:workers";
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const r2 = env.R2;
const PART_SIZE = 50;
const HASH = {
  md5: "2063c1608d6e0baf80249c42e2be5804",
  sha1: "f32b67c7e26342af42efabc674d441dca0a281c5",
  sha256: "cd42404d52ad55ccfa9aca4adc828aa5800ad9d385a0671fbcbf724118320619",
  sha384: "b46c7c39e15d3dc2cdc50e42a7a28181a074ceef18c7c4aa2f6d987fb80e16593839c6aecf4fe38f879ce14e6dfd08c5",
  sha512:
    "ec2c83edecb60304d154ebdb85bdfaf61a92bd142e71c4f7b25a15b9cb5f3c0ae301cfb3569cf240e4470031385348bc296d8d99d09e06b26f09591a97527296",
};
const MD5_OF_1 = "c4ca4238a0b923820dcc509a6f75849b";
const MD5_OF_GHOST = "3d6baa6639892d2264406e0fe3ba8f6e";
const HTTP_METADATA = {
  contentType: "text/plain",
  contentLanguage: "en-GB",
  contentDisposition: 'attachment; filename="value.txt"',
  contentEncoding: "gzip",
  cacheControl: "max-age=3600",
  cacheExpiry: new Date("Fri, 24 Feb 2023 00:00:00 GMT"),
};

let counter = 0;
function namespace() {
  counter += 1;
  return `ns${String(counter).padStart(3, "0")}/`;
}

function r2Error(action, message, code) {
  return { name: "Error", message: `${action}: ${message} (${code})` };
}
const INVALID_NAME = (action) => r2Error(action, "The specified object name is not valid.", 10020);
const NOT_SATISFIABLE = r2Error("get", "The requested range is not satisfiable", 10039);
const LONG_KEY = "x".repeat(1025);

async function blobCount() {
  return env.STORE.blobCount({ kind: "r2", name: "r2-test" });
}

function bytesOf(text) {
  return new TextEncoder().encode(text);
}

// --- head / get --------------------------------------------------------------------------------------------

test("head: returns null for non-existent keys", async () => {
  assert.equal(await r2.head(`${namespace()}key`), null);
});

async function checkMetadata(object, key, now) {
  assert.equal(object.key, key);
  assert.ok(/^[0-9a-f]{32}$/.test(object.version), `version ${object.version}`);
  assert.equal(object.size, 5);
  assert.equal(object.etag, HASH.md5);
  assert.equal(object.httpEtag, `"${HASH.md5}"`);
  assert.deepEqual(object.checksums.toJSON(), { md5: HASH.md5 });
  assert.deepEqual(object.httpMetadata, HTTP_METADATA);
  assert.deepEqual(object.customMetadata, { key: "value" });
  assert.ok(object.uploaded instanceof Date, "uploaded is a Date");
  assert.equal(object.uploaded.getTime(), now);
  assert.equal(object.storageClass, "Standard");
  const headers = new Headers({ "X-Key": "value" });
  assert.equal(object.writeHttpMetadata(headers), undefined);
  assert.deepEqual(
    [...headers],
    [
      ["cache-control", "max-age=3600"],
      ["content-disposition", 'attachment; filename="value.txt"'],
      ["content-encoding", "gzip"],
      ["content-language", "en-GB"],
      ["content-type", "text/plain"],
      ["expires", "Fri, 24 Feb 2023 00:00:00 GMT"],
      ["x-key", "value"],
    ],
  );
}

test("head: returns metadata for existing keys", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  await r2.put(key, "value", { httpMetadata: HTTP_METADATA, customMetadata: { key: "value" } });
  const object = await r2.head(key);
  await checkMetadata(object, key, now);
  assert.deepEqual(object.range, { offset: 0, length: 5 });
  assert.equal("body" in object, false, "head answers an R2Object without a body");
  assert.equal(Object.prototype.toString.call(object), "[object R2Object]");
});

test("head/get/put/delete/createMultipartUpload: validate the key length (10020)", async () => {
  await assert.rejects(() => r2.head(LONG_KEY), INVALID_NAME("head"));
  await assert.rejects(() => r2.get(LONG_KEY), INVALID_NAME("get"));
  await assert.rejects(() => r2.put(LONG_KEY, "v"), INVALID_NAME("put"));
  await assert.rejects(() => r2.delete(LONG_KEY), INVALID_NAME("delete"));
  await assert.rejects(() => r2.delete(["valid key", LONG_KEY]), INVALID_NAME("delete"));
  await assert.rejects(() => r2.createMultipartUpload(LONG_KEY), INVALID_NAME("createMultipartUpload"));
  // 1024 bytes is allowed, and the limit is in UTF-8 bytes, not characters.
  await r2.put("k".repeat(1024), "v");
  await r2.delete("k".repeat(1024));
  await assert.rejects(() => r2.put("é".repeat(513), "v"), INVALID_NAME("put"));
});

test("get: returns null for non-existent keys", async () => {
  assert.equal(await r2.get(`${namespace()}key`), null);
});

test("get: returns metadata and body for existing keys", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  await r2.put(key, "value", { httpMetadata: HTTP_METADATA, customMetadata: { key: "value" } });
  const body = await r2.get(key);
  await checkMetadata(body, key, now);
  assert.deepEqual(body.range, { offset: 0, length: 5 });
  assert.equal(Object.prototype.toString.call(body), "[object R2ObjectBody]");
  assert.ok(body.body instanceof ReadableStream, "body is a ReadableStream");
  assert.equal(body.body, body.body, "the same stream each time");
  assert.equal(body.bodyUsed, false);
  assert.equal(await body.text(), "value");
  assert.equal(body.bodyUsed, true);
  await assert.rejects(() => body.text(), {
    name: "TypeError",
    message: "Body has already been used. It can only be used once. Use tee() first if you need to read it twice.",
  });
});

test("get: body methods arrayBuffer, bytes, json, blob and the body stream", async () => {
  const key = `${namespace()}key`;
  await r2.put(key, '{"a":[1,2]}', { httpMetadata: { contentType: "application/json; charset=utf-8" } });
  const buffer = await (await r2.get(key)).arrayBuffer();
  assert.ok(buffer instanceof ArrayBuffer, "arrayBuffer() gives an ArrayBuffer");
  assert.equal(new TextDecoder().decode(buffer), '{"a":[1,2]}');
  const bytes = await (await r2.get(key)).bytes();
  assert.ok(bytes instanceof Uint8Array, "bytes() gives a Uint8Array");
  assert.equal(bytes.byteLength, 11);
  assert.deepEqual(await (await r2.get(key)).json(), { a: [1, 2] });
  const blob = await (await r2.get(key)).blob();
  assert.equal(blob.type, "application/json; charset=utf-8");
  assert.equal(await blob.text(), '{"a":[1,2]}');
  const streamed = await new Response((await r2.get(key)).body).text();
  assert.equal(streamed, '{"a":[1,2]}');
});

test("get: range using object", async () => {
  const key = `${namespace()}key`;
  await r2.put(key, "value");
  const cases = [
    [{ offset: 3 }, { offset: 3, length: 2 }, "ue"],
    [{ length: 3 }, { offset: 0, length: 3 }, "val"],
    [{ length: 42 }, { offset: 0, length: 5 }, "value"],
    [{ offset: 1, length: 3 }, { offset: 1, length: 3 }, "alu"],
    [{ suffix: 3 }, { offset: 2, length: 3 }, "lue"],
    [{ suffix: 42 }, { offset: 0, length: 5 }, "value"],
  ];
  for (const [range, expected, text] of cases) {
    const body = await r2.get(key, { range });
    assert.deepEqual(body.range, expected, JSON.stringify(range));
    assert.equal(await body.text(), text, JSON.stringify(range));
  }
  await assert.rejects(() => r2.get(key, { range: { offset: 42 } }), NOT_SATISFIABLE);
  await assert.rejects(() => r2.get(key, { range: { length: 0 } }), NOT_SATISFIABLE);
  await assert.rejects(() => r2.get(key, { range: { suffix: 0 } }), NOT_SATISFIABLE);
});

test("get: range objects are checked by workerd before the call (RangeError/TypeError)", async () => {
  const key = `${namespace()}key`;
  await r2.put(key, "value");
  const cases = [
    [{ offset: -1 }, "RangeError", "Invalid range. Starting offset (-1) must be greater than or equal to 0."],
    [{ offset: 1.5 }, "RangeError", "Invalid range. Starting offset (1.5) must be an integer, not floating point."],
    [{ length: -2 }, "RangeError", "Invalid range. Length (-2) must be greater than or equal to 0."],
    [{ length: 0.5 }, "RangeError", "Invalid range. Length (0.5) must be an integer, not floating point."],
    [{ offset: 1, suffix: 2 }, "TypeError", "Suffix is incompatible with offset."],
    [{ length: 1, suffix: 2 }, "TypeError", "Suffix is incompatible with length."],
    [{ suffix: -3 }, "RangeError", "Invalid suffix. Suffix (-3) must be greater than or equal to 0."],
    [{ suffix: 2.5 }, "RangeError", "Invalid range. Suffix (2.5) must be an integer, not floating point."],
  ];
  for (const [range, name, message] of cases) {
    await assert.rejects(() => r2.get(key, { range }), { name, message }, JSON.stringify(range));
  }
});

test('get: range using "Range" header', async () => {
  const key = `${namespace()}key`;
  const value = "abcdefghijklmnopqrstuvwxyz";
  await r2.put(key, value);
  const cases = [
    [null, value, { offset: 0, length: 26 }],
    ["bytes=3-6", "defg", { offset: 3, length: 4 }],
    ["bytes=10-", "klmnopqrstuvwxyz", { offset: 10, length: 16 }],
    ["bytes=-5", "vwxyz", { offset: 21, length: 5 }],
    ["bytes=5-6,10-11", value, { offset: 0, length: 26 }],
    ["bytes=30-40", value, { offset: 0, length: 26 }],
    ["nibbles=0-1", value, { offset: 0, length: 26 }],
  ];
  for (const [header, text, range] of cases) {
    const headers = new Headers();
    if (header !== null) headers.set("Range", header);
    const body = await r2.get(key, { range: headers });
    assert.equal(await body.text(), text, String(header));
    assert.deepEqual(body.range, range, String(header));
  }
});

test("get: returns body only if passes onlyIf", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  const pastDate = new Date(now - 60_000);
  await r2.put(key, "value");
  const futureDate = new Date(now + 60_000);
  const pass = async (onlyIf) => {
    const object = await r2.get(key, { onlyIf });
    assert.ok(object !== null && "body" in object, `passes: ${JSON.stringify(onlyIf)}`);
  };
  const fail = async (onlyIf) => {
    const object = await r2.get(key, { onlyIf });
    assert.ok(object !== null && !("body" in object), `fails: ${JSON.stringify(onlyIf)}`);
    assert.deepEqual(object.range, { offset: 0, length: 5 });
  };
  await pass({ etagMatches: HASH.md5 });
  await fail({ etagMatches: MD5_OF_GHOST });
  await fail({ etagDoesNotMatch: HASH.md5 });
  await pass({ etagDoesNotMatch: MD5_OF_GHOST });
  await pass({ uploadedBefore: futureDate });
  await fail({ uploadedBefore: pastDate });
  await fail({ uploadedAfter: futureDate });
  await pass({ uploadedAfter: pastDate });
  await pass({ etagMatches: "*" });
  // A failed condition wins over an unsatisfiable range: the object comes back without a body.
  const object = await r2.get(key, { onlyIf: { etagMatches: MD5_OF_GHOST }, range: { offset: 42 } });
  assert.ok(object !== null && !("body" in object), "no body, no range error");
});

test("get: onlyIf from Headers (If-Match, If-None-Match, dates with seconds granularity)", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  await r2.put(key, "value");
  const hasBody = async (headers) => "body" in (await r2.get(key, { onlyIf: new Headers(headers) }));
  assert.equal(await hasBody({ "If-Match": `"${HASH.md5}"` }), true);
  assert.equal(await hasBody({ "If-Match": `"nope", "${HASH.md5}"` }), true);
  assert.equal(await hasBody({ "If-Match": `W/"${HASH.md5}"` }), false, "If-Match compares strongly");
  assert.equal(await hasBody({ "If-None-Match": `W/"${HASH.md5}"` }), false, "If-None-Match compares weakly");
  assert.equal(await hasBody({ "If-None-Match": "*" }), false);
  assert.equal(await hasBody({ "If-Modified-Since": new Date(now).toUTCString() }), false);
  assert.equal(await hasBody({ "If-Modified-Since": new Date(now - 1000).toUTCString() }), true);
  assert.equal(await hasBody({ "If-Unmodified-Since": new Date(now).toUTCString() }), false);
  assert.equal(await hasBody({ "If-Unmodified-Since": new Date(now + 1000).toUTCString() }), true);
  await assert.rejects(() => r2.get(key, { onlyIf: new Headers({ "If-Match": "nope" }) }), {
    name: "Error",
    message: "Invalid ETag in if-match header",
  });
  await assert.rejects(() => r2.get(key, { onlyIf: new Headers({ "If-None-Match": '"a" "b"' }) }), {
    name: "Error",
    message:
      "Comma was expected to separate etags. Encountered a double quote character '\"' instead. This would otherwise indicate the start of a new strong etag.",
  });
  await assert.rejects(() => r2.get(key, { onlyIf: { etagMatches: `"${HASH.md5}"` } }), {
    name: "TypeError",
    message: `Conditional ETag should not be wrapped in quotes ("${HASH.md5}").`,
  });
});

// --- put ---------------------------------------------------------------------------------------------------

test("put: returns metadata for created object", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  const object = await r2.put(key, "value", { httpMetadata: HTTP_METADATA, customMetadata: { key: "value" } });
  await checkMetadata(object, key, now);
  assert.equal(object.range, undefined);
  assert.equal("body" in object, false);
});

test("put: accepts every value type workerd does, and rejects others", async () => {
  const ns = namespace();
  const text = "value";
  const values = [
    ["string", text],
    ["ArrayBuffer", bytesOf(text).buffer],
    ["Uint8Array view", new Uint8Array([0, ...bytesOf(text), 0]).subarray(1, 6)],
    ["DataView", new DataView(bytesOf(text).buffer)],
    ["Blob", new Blob([text])],
  ];
  for (const [name, value] of values) {
    const object = await r2.put(`${ns}${name}`, value);
    assert.equal(object.etag, HASH.md5, name);
    assert.equal(await (await r2.get(`${ns}${name}`)).text(), text, name);
  }
  assert.equal((await r2.put(`${ns}null`, null)).size, 0);
  await assert.rejects(() => r2.put(`${ns}number`, 42), {
    name: "TypeError",
    message:
      "Failed to execute 'put' on 'R2Bucket': parameter 2 is not of type 'ReadableStream or ArrayBuffer or ArrayBufferView or string or Blob'.",
  });
});

test("put: a ReadableStream needs a known length", async () => {
  const key = `${namespace()}key`;
  const unknown = new ReadableStream({
    start(controller) {
      controller.enqueue(bytesOf("value"));
      controller.close();
    },
  });
  await assert.rejects(() => r2.put(key, unknown), {
    name: "TypeError",
    message:
      "Provided readable stream must have a known length (request/response body or readable half of FixedLengthStream)",
  });
  const { readable, writable } = new FixedLengthStream(5);
  const writer = writable.getWriter();
  writer.write(bytesOf("val"));
  writer.write(bytesOf("ue"));
  writer.close();
  const object = await r2.put(key, readable);
  assert.equal(object.size, 5);
  assert.equal(object.etag, HASH.md5);
  assert.equal(await (await r2.get(key)).text(), "value");
});

test("put: Request and Response bodies of known bytes have a known length", async () => {
  const ns = namespace();
  const request = new Request("https://example.com/upload", { method: "POST", body: "value" });
  assert.equal((await r2.put(`${ns}request`, request.body)).etag, HASH.md5);
  assert.equal((await r2.put(`${ns}response`, new Response(bytesOf("value")).body)).etag, HASH.md5);
  assert.equal((await r2.put(`${ns}empty`, new Response("").body)).size, 0);
  assert.equal(await (await r2.get(`${ns}request`)).text(), "value");
});

test("put: a stream that breaks its length fails the put and stores nothing", async () => {
  const key = `${namespace()}key`;
  const before = await blobCount();
  const { readable, writable } = new FixedLengthStream(10);
  const writer = writable.getWriter();
  writer.write(bytesOf("short")).catch(() => {});
  writer.close().catch(() => {});
  await assert.rejects(() => r2.put(key, readable), {
    name: "TypeError",
    message: "FixedLengthStream did not see all expected bytes before close().",
  });
  assert.equal(await r2.head(key), null);
  assert.equal(await blobCount(), before);
});

test("put: can copy values from get bodies (whole and ranged)", async () => {
  const ns = namespace();
  await r2.put(`${ns}key`, "0123456789");
  const copy = async (name, options) => {
    const object = await r2.get(`${ns}key`, options);
    await r2.put(`${ns}${name}`, object.body);
    return (await r2.get(`${ns}${name}`)).text();
  };
  const range = new Headers({ Range: "bytes=0-5" });
  assert.equal(await copy("copy", undefined), "0123456789");
  assert.equal(await copy("copy-range-1", { range: { offset: 1, length: 4 } }), "1234");
  assert.equal(await copy("copy-range-2", { range: { length: 3 } }), "012");
  assert.equal(await copy("copy-range-3", { range: { suffix: 5 } }), "56789");
  assert.equal(await copy("copy-range-4", { range }), "012345");
});

test("put: puts empty value", async () => {
  const key = `${namespace()}key`;
  const object = await r2.put(key, "");
  assert.equal(object.size, 0);
  assert.equal(object.etag, "d41d8cd98f00b204e9800998ecf8427e");
  const body = await r2.get(key);
  assert.deepEqual(body.range, { offset: 0, length: 0 });
  assert.equal(await body.text(), "");
});

test("put: overrides existing keys and removes the old blob", async () => {
  const key = `${namespace()}key`;
  await r2.put(key, "value1");
  const before = await blobCount();
  const first = await r2.head(key);
  await r2.put(key, "value2");
  assert.equal(await (await r2.get(key)).text(), "value2");
  assert.equal(await blobCount(), before, "the old value's blob is gone");
  assert.ok((await r2.head(key)).version !== first.version, "a new version");
});

test("put: validates checksums", async () => {
  const key = `${namespace()}key`;
  const checksumError = (name, provided, expected) =>
    r2Error(
      "put",
      [
        `The ${name} checksum you specified did not match what we received.`,
        `You provided a ${name} checksum with value: ${provided}`,
        `Actual ${name} was: ${expected}`,
      ].join("\n"),
      10037,
    );
  const algorithms = [
    ["md5", "MD5"],
    ["sha1", "SHA-1"],
    ["sha256", "SHA-256"],
    ["sha384", "SHA-384"],
    ["sha512", "SHA-512"],
  ];
  for (const [field, name] of algorithms) {
    // Stored lowercase even when given uppercase.
    await r2.put(key, "value", { [field]: field === "sha256" ? HASH[field].toUpperCase() : HASH[field] });
    const bad = HASH[field].replace("0", "1");
    await assert.rejects(() => r2.put(key, "value", { [field]: bad }), checksumError(name, bad, HASH[field]), field);
    const expected = field === "md5" ? { md5: HASH.md5 } : { md5: HASH.md5, [field]: HASH[field] };
    assert.deepEqual((await r2.head(key)).checksums.toJSON(), expected, field);
    assert.deepEqual((await r2.get(key)).checksums.toJSON(), expected, field);
  }
  // Binary checksums work too, and are ArrayBuffers on the object.
  const sha1 = Uint8Array.from(HASH.sha1.match(/../g).map((h) => parseInt(h, 16)));
  const object = await r2.put(key, "value", { sha1 });
  assert.ok(object.checksums.sha1 instanceof ArrayBuffer, "checksums.sha1 is an ArrayBuffer");
  assert.deepEqual(new Uint8Array(object.checksums.sha1), sha1);
  assert.equal(object.checksums.sha256, undefined);
});

test("put: workerd's checksum option errors", async () => {
  const key = `${namespace()}key`;
  const cases = [
    [{ md5: HASH.md5, sha1: HASH.sha1 }, "You cannot specify multiple hashing algorithms."],
    [{ md5: "abc" }, "MD5 is 32 hex characters, not 3"],
    [{ md5: "z".repeat(32) }, "Provided MD5 wasn't a valid hex string"],
    [{ md5: new Uint8Array(3) }, "MD5 is 16 bytes, not 3"],
    [{ sha1: "0".repeat(39) }, "SHA-1 is 40 hex characters, not 39"],
    [{ sha256: new ArrayBuffer(31) }, "SHA-256 is 32 bytes, not 31"],
    [{ sha384: "g".repeat(96) }, "Provided SHA-384 wasn't a valid hex string"],
    [{ sha512: "0".repeat(127) }, "SHA-512 is 128 hex characters, not 127"],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(() => r2.put(key, "value", options), { name: "TypeError", message }, message);
  }
  assert.equal(await r2.head(key), null);
});

test("put: stores only if passes onlyIf", async () => {
  const key = `${namespace()}key`;
  const now = await env.CLOCK.now();
  const pastDate = new Date(now - 60_000);
  const futureDate = new Date(now + 300_000);
  const reset = () => r2.put(key, "1");
  await reset();
  const pass = async (onlyIf) => {
    assert.ok((await r2.put(key, "2", { onlyIf })) !== null, `passes: ${JSON.stringify(onlyIf)}`);
    assert.equal(await (await r2.get(key)).text(), "2");
    await reset();
  };
  const fail = async (onlyIf) => {
    assert.equal(await r2.put(key, "2", { onlyIf }), null, `fails: ${JSON.stringify(onlyIf)}`);
    assert.equal(await (await r2.get(key)).text(), "1");
  };
  const blobs = await blobCount();
  await pass({ etagMatches: MD5_OF_1 });
  await fail({ etagMatches: MD5_OF_GHOST });
  await fail({ etagDoesNotMatch: MD5_OF_1 });
  await pass({ etagDoesNotMatch: MD5_OF_GHOST });
  await pass({ uploadedBefore: futureDate });
  await fail({ uploadedBefore: pastDate });
  await fail({ uploadedAfter: futureDate });
  await pass({ uploadedAfter: pastDate });
  assert.equal(await blobCount(), blobs, "a refused put leaves no blob behind");
  // A missing key fails etagMatches.
  assert.equal(await r2.put(`${key}-none`, "2", { onlyIf: { etagMatches: MD5_OF_1 } }), null);
  assert.equal(await r2.head(`${key}-none`), null);
});

test("put: validates metadata size (serialised length, 2048)", async () => {
  const key = `${namespace()}key`;
  const tooLarge = r2Error("put", "Your metadata headers exceed the maximum allowed metadata size.", 10012);
  await r2.put(key, "value", { customMetadata: { key: "x".repeat(2045) } });
  await assert.rejects(() => r2.put(key, "value", { customMetadata: { key: "x".repeat(2046) } }), tooLarge);
  await r2.put(key, "value", { customMetadata: { hi: "x".repeat(2046) } });
  // "🙂" is 2 UTF-16 units, doubled because it is beyond U+00FF.
  await r2.put(key, "value", { customMetadata: { key: "🙂".repeat(511) } }); // 3 + 4*511 = 2047
  await r2.put(key, "value", { customMetadata: { key1: "🙂".repeat(511) } }); // 4 + 4*511 = 2048
  await assert.rejects(() => r2.put(key, "value", { customMetadata: { key12: "🙂".repeat(511) } }), tooLarge);
  await assert.rejects(() => r2.put(key, "value", { customMetadata: { key: "🙂".repeat(512) } }), tooLarge);
});

test("put: httpMetadata from Headers, and storageClass", async () => {
  const key = `${namespace()}key`;
  const headers = new Headers({
    "Content-Type": "text/html",
    "Cache-Control": "no-store",
    Expires: "Fri, 24 Feb 2023 00:00:00 GMT",
    "X-Other": "ignored",
  });
  const object = await r2.put(key, "<p>", { httpMetadata: headers, storageClass: "InfrequentAccess" });
  assert.deepEqual(object.httpMetadata, {
    contentType: "text/html",
    cacheControl: "no-store",
    cacheExpiry: new Date("Fri, 24 Feb 2023 00:00:00 GMT"),
  });
  assert.equal(object.storageClass, "InfrequentAccess");
  assert.equal((await r2.head(key)).storageClass, "InfrequentAccess");
});

// --- delete ------------------------------------------------------------------------------------------------

test("delete: deletes existing keys", async () => {
  const ns = namespace();
  await r2.delete(`${ns}key`); // nothing to delete: no error
  await r2.put(`${ns}key`, "value");
  const blobs = await blobCount();
  assert.ok((await r2.head(`${ns}key`)) !== null);
  await r2.delete(`${ns}key`);
  assert.equal(await r2.head(`${ns}key`), null);
  assert.equal(await blobCount(), blobs - 1, "the blob is gone");
  await r2.put(`${ns}key1`, "value1");
  await r2.put(`${ns}key2`, "value2");
  await r2.put(`${ns}key3`, "value3");
  await r2.delete([`${ns}key1`, `${ns}key200`, `${ns}key3`]);
  assert.equal(await r2.head(`${ns}key1`), null);
  assert.ok((await r2.head(`${ns}key2`)) !== null);
  assert.equal(await r2.head(`${ns}key3`), null);
});

// --- list --------------------------------------------------------------------------------------------------

async function testList({ keys, options = {}, pages }) {
  const ns = namespace();
  for (let i = 0; i < keys.length; i++) await r2.put(`${ns}${keys[i]}`, `value${i}`);
  let lastCursor;
  for (let page = 0; page < pages.length; page++) {
    const result = await r2.list({
      ...options,
      prefix: ns + (options.prefix ?? ""),
      cursor: options.cursor ?? lastCursor,
      startAfter: options.startAfter ? ns + options.startAfter : undefined,
    });
    assert.deepEqual(
      result.objects.map(({ key }) => key.substring(ns.length)),
      pages[page],
      `page ${page}`,
    );
    if (page === pages.length - 1) {
      assert.equal(result.truncated, false);
      assert.equal(result.cursor, undefined);
      assert.equal("cursor" in result, false);
    } else {
      assert.equal(result.truncated, true);
      assert.equal(typeof result.cursor, "string");
    }
    lastCursor = result.cursor;
  }
}

test("list: lists keys in sorted order", () =>
  testList({ keys: ["key3", "key1", "key2", ", ", "!"], pages: [["!", ", ", "key1", "key2", "key3"]] }));
test("list: sorts by UTF-8 bytes", () => testList({ keys: ["é", "z", "Z", "a"], pages: [["Z", "a", "z", "é"]] }));
test("list: lists keys matching prefix", () =>
  testList({
    keys: ["section1key1", "section1key2", "section2key1"],
    options: { prefix: "section1" },
    pages: [["section1key1", "section1key2"]],
  }));
test("list: prefix is literal and case-sensitive", () =>
  testList({ keys: ["a%b", "axb", "A%b", "a_c"], options: { prefix: "a%" }, pages: [["a%b"]] }));
test("list: returns an empty list with no keys", () => testList({ keys: [], pages: [[]] }));
test("list: returns an empty list with no matching keys", () =>
  testList({ keys: ["key1", "key2", "key3"], options: { prefix: "none" }, pages: [[]] }));
test("list: returns an empty list with an invalid cursor", () =>
  testList({ keys: ["key1", "key2", "key3"], options: { cursor: "bad" }, pages: [[]] }));
test("list: paginates keys", () =>
  testList({ keys: ["key1", "key2", "key3"], options: { limit: 2 }, pages: [["key1", "key2"], ["key3"]] }));
test("list: paginates keys matching prefix", () =>
  testList({
    keys: ["section1key1", "section1key2", "section1key3", "section2key1"],
    options: { prefix: "section1", limit: 2 },
    pages: [["section1key1", "section1key2"], ["section1key3"]],
  }));
test("list: lists keys starting from startAfter exclusive", () =>
  testList({ keys: ["key1", "key2", "key3", "key4"], options: { startAfter: "key2" }, pages: [["key3", "key4"]] }));
test("list: lists keys with startAfter and limit (where startAfter matches key)", () =>
  testList({
    keys: ["key1", "key2", "key3", "key4"],
    options: { startAfter: "key1", limit: 2 },
    pages: [["key2", "key3"], ["key4"]],
  }));
test("list: lists keys with startAfter and limit (where startAfter doesn't match key)", () =>
  testList({
    keys: ["key1", "key2", "key3", "key4"],
    options: { startAfter: "key", limit: 2 },
    pages: [
      ["key1", "key2"],
      ["key3", "key4"],
    ],
  }));

test("list: accepts long prefix", async () => {
  const longKey = "x".repeat(1024);
  await r2.put(longKey, "value");
  const { objects } = await r2.list({ prefix: longKey });
  assert.deepEqual(
    objects.map((o) => o.key),
    [longKey],
  );
  await r2.delete(longKey);
});

test("list: returns metadata with objects", async () => {
  const ns = namespace();
  const now = await env.CLOCK.now();
  await r2.put(`${ns}key`, "value", { httpMetadata: { contentType: "text/plain" }, customMetadata: { a: "b" } });
  const result = await r2.list({ prefix: ns });
  assert.deepEqual(Object.keys(result), ["objects", "truncated", "delimitedPrefixes"]);
  assert.equal(result.objects.length, 1);
  const object = result.objects[0];
  assert.equal(object.key, `${ns}key`);
  assert.ok(/^[0-9a-f]{32}$/.test(object.version));
  assert.equal(object.size, 5);
  assert.equal(object.etag, HASH.md5);
  assert.equal(object.httpEtag, `"${HASH.md5}"`);
  assert.deepEqual(object.checksums.toJSON(), { md5: HASH.md5 });
  assert.deepEqual(object.httpMetadata, {});
  assert.deepEqual(object.customMetadata, {});
  assert.equal(object.range, undefined);
  assert.equal(object.uploaded.getTime(), now);
});

test("list: paginates with variable limit", async () => {
  const ns = namespace();
  for (const k of ["key1", "key2", "key3"]) await r2.put(`${ns}${k}`, "v");
  let result = await r2.list({ prefix: ns, limit: 1 });
  assert.deepEqual(
    result.objects.map((o) => o.key),
    [`${ns}key1`],
  );
  assert.equal(result.truncated, true);
  result = await r2.list({ prefix: ns, limit: 2, cursor: result.cursor });
  assert.deepEqual(
    result.objects.map((o) => o.key),
    [`${ns}key2`, `${ns}key3`],
  );
  assert.equal(result.truncated, false);
});

test("list: returns keys inserted whilst paginating", async () => {
  const ns = namespace();
  for (const k of ["key1", "key3", "key5"]) await r2.put(`${ns}${k}`, "v");
  let result = await r2.list({ prefix: ns, limit: 2 });
  assert.deepEqual(
    result.objects.map((o) => o.key),
    [`${ns}key1`, `${ns}key3`],
  );
  await r2.put(`${ns}key2`, "v");
  await r2.put(`${ns}key4`, "v");
  result = await r2.list({ prefix: ns, limit: 2, cursor: result.cursor });
  assert.deepEqual(
    result.objects.map((o) => o.key),
    [`${ns}key4`, `${ns}key5`],
  );
  assert.equal(result.truncated, false);
});

test("list: validates limit (10022)", async () => {
  const invalid = r2Error("list", "MaxKeys params must be positive integer <= 1000.", 10022);
  await assert.rejects(() => r2.list({ limit: 0 }), invalid);
  await assert.rejects(() => r2.list({ limit: 1_001 }), invalid);
  await r2.list({ limit: 1000 });
});

test("list: includes httpMetadata and customMetadata if specified, and rejects other include values", async () => {
  const ns = namespace();
  await r2.put(`${ns}key1`, "value1", { httpMetadata: { contentEncoding: "gzip" }, customMetadata: { foo: "bar" } });
  await r2.put(`${ns}key2`, "value2", { httpMetadata: { contentType: "dinosaur" }, customMetadata: { bar: "fiz" } });
  const http = [{ contentEncoding: "gzip" }, { contentType: "dinosaur" }];
  const custom = [{ foo: "bar" }, { bar: "fiz" }];
  const check = async (include, expectHttp, expectCustom) => {
    const { objects } = await r2.list({ prefix: ns, include });
    assert.deepEqual(
      objects.map((o) => o.httpMetadata),
      expectHttp ? http : [{}, {}],
      JSON.stringify(include),
    );
    assert.deepEqual(
      objects.map((o) => o.customMetadata),
      expectCustom ? custom : [{}, {}],
      JSON.stringify(include),
    );
  };
  await check(undefined, false, false);
  await check(["httpMetadata"], true, false);
  await check(["customMetadata"], false, true);
  await check(["httpMetadata", "customMetadata"], true, true);
  await assert.rejects(() => r2.list({ include: ["nope"] }), { name: "RangeError", message: "Unsupported include value nope" });
});

test("list: returns correct delimitedPrefixes for delimiter and prefix", async () => {
  const ns = namespace();
  const allKeys = [
    "dir0/file0",
    "dir0/file1",
    "dir0/sub0/file2",
    "dir0/sub0/file3",
    "dir0/sub1/file4",
    "dir0/sub1/file5",
    "dir1/file6",
    "dir1/file7",
    "file8",
    "file9",
  ];
  for (const key of allKeys) await r2.put(ns + key, "v");
  const keys = (result) => result.objects.map(({ key }) => key.substring(ns.length));
  const prefixes = (result) => result.delimitedPrefixes.map((p) => p.substring(ns.length));
  const cases = [
    [{ prefix: ns }, allKeys, []],
    [{ prefix: ns, delimiter: "" }, allKeys, []],
    [{ prefix: ns, delimiter: "file8" }, allKeys.filter((k) => k !== "file8"), ["file8"]],
    [{ prefix: `${ns}dir1/`, delimiter: "file6" }, ["dir1/file7"], ["dir1/file6"]],
    [{ prefix: ns, delimiter: "/" }, ["file8", "file9"], ["dir0/", "dir1/"]],
    [{ prefix: `${ns}dir0/`, delimiter: "/" }, ["dir0/file0", "dir0/file1"], ["dir0/sub0/", "dir0/sub1/"]],
    [{ prefix: `${ns}dir0`, delimiter: "/" }, [], ["dir0/"]],
  ];
  for (const [options, expectKeys, expectPrefixes] of cases) {
    const result = await r2.list(options);
    assert.equal(result.truncated, false, JSON.stringify(options));
    assert.deepEqual(keys(result), expectKeys, JSON.stringify(options));
    assert.deepEqual(prefixes(result), expectPrefixes, JSON.stringify(options));
  }
  // The limit counts objects and delimited prefixes together.
  const options = { prefix: `${ns}dir0/`, delimiter: "/", limit: 2 };
  let result = await r2.list(options);
  assert.equal(result.truncated, true);
  assert.deepEqual(keys(result), ["dir0/file0", "dir0/file1"]);
  assert.deepEqual(prefixes(result), []);
  result = await r2.list({ ...options, cursor: result.cursor });
  assert.equal(result.truncated, false);
  assert.deepEqual(keys(result), []);
  assert.deepEqual(prefixes(result), ["dir0/sub0/", "dir0/sub1/"]);
  // A page that ends on a delimited prefix continues after all of its keys.
  result = await r2.list({ prefix: ns, delimiter: "/", limit: 1 });
  assert.deepEqual(prefixes(result), ["dir0/"]);
  result = await r2.list({ prefix: ns, delimiter: "/", limit: 1, cursor: result.cursor });
  assert.deepEqual(prefixes(result), ["dir1/"]);
});

test("operations permit empty key", async () => {
  await r2.put("", "empty");
  assert.equal((await r2.head("")).key, "");
  assert.equal(await (await r2.get("")).text(), "empty");
  const { objects } = await r2.list();
  assert.equal(objects.filter((o) => o.key === "").length, 1);
  await r2.delete("");
  assert.equal(await r2.head(""), null);
});

// --- multipart ---------------------------------------------------------------------------------------------

const NO_SUCH_UPLOAD = (action) => r2Error(action, "The specified multipart upload does not exist.", 10024);
const INTERNAL = (action) => r2Error(action, "We encountered an internal error. Please try again.", 10001);
const PART_NOT_FOUND = r2Error("completeMultipartUpload", "One or more of the specified parts could not be found.", 10025);
const TOO_SMALL = r2Error(
  "completeMultipartUpload",
  "Your proposed upload is smaller than the minimum allowed object size.",
  10011,
);
const BAD_UPLOAD = r2Error("completeMultipartUpload", "There was a problem with the multipart upload.", 10048);

test("createMultipartUpload", async () => {
  const key = `${namespace()}key`;
  const upload1 = await r2.createMultipartUpload(key, {
    customMetadata: { key: "value" },
    httpMetadata: { contentType: "text/plain" },
  });
  assert.equal(upload1.key, key);
  assert.ok(upload1.uploadId.length > 0);
  assert.equal(Object.prototype.toString.call(upload1), "[object R2MultipartUpload]");
  const upload2 = await r2.createMultipartUpload(key);
  assert.ok(upload2.uploadId !== upload1.uploadId, "distinct upload ids");
});

test("uploadPart", async () => {
  const key = `${namespace()}key`;
  const upload = await r2.createMultipartUpload(key);
  const part1 = await upload.uploadPart(1, "value1");
  assert.equal(part1.partNumber, 1);
  assert.ok(part1.etag.length > 0);
  const part2 = await upload.uploadPart(2, "value two");
  assert.ok(part2.etag !== part1.etag);
  const part1b = await upload.uploadPart(1, "value1");
  assert.ok(part1b.etag !== part1.etag, "re-uploading a part number gives a new etag");
  const part100 = await upload.uploadPart(100, "value1");
  assert.ok(part100.etag !== part1.etag);
  await assert.rejects(() => r2.resumeMultipartUpload(key, "bad").uploadPart(1, "value"), NO_SUCH_UPLOAD("uploadPart"));
  await assert.rejects(
    () => r2.resumeMultipartUpload(`${key}-other`, upload.uploadId).uploadPart(1, "value"),
    NO_SUCH_UPLOAD("uploadPart"),
  );
  await assert.rejects(() => r2.resumeMultipartUpload(LONG_KEY, "bad").uploadPart(1, "value"), INVALID_NAME("uploadPart"));
  for (const number of [0, 10001]) {
    await assert.rejects(() => upload.uploadPart(number, "value"), {
      name: "TypeError",
      message: `Part number must be between 1 and 10000 (inclusive). Actual value was: ${number}`,
    });
  }
});

test("abortMultipartUpload", async () => {
  const key = `${namespace()}key`;
  const blobs = await blobCount();
  const upload1 = await r2.createMultipartUpload(key);
  const upload2 = await r2.createMultipartUpload(key);
  await upload1.uploadPart(1, "value1");
  await upload1.uploadPart(2, "value2");
  await upload1.uploadPart(3, "value3");
  assert.equal(await blobCount(), blobs + 3);
  await upload1.abort();
  assert.equal(await blobCount(), blobs, "the parts' blobs are gone");
  await assert.rejects(() => upload1.uploadPart(4, "value4"), NO_SUCH_UPLOAD("uploadPart"));
  await upload1.abort(); // aborting again is fine
  const part1 = await upload2.uploadPart(1, "value1");
  await upload2.complete([part1]);
  await upload2.abort(); // so is aborting a completed upload, which keeps the object
  assert.equal(await (await r2.get(key)).text(), "value1");
  const upload3 = await r2.createMultipartUpload(key);
  await assert.rejects(() => r2.resumeMultipartUpload(key, "bad").abort(), INTERNAL("abortMultipartUpload"));
  await assert.rejects(() => r2.resumeMultipartUpload("bad", upload3.uploadId).abort(), INTERNAL("abortMultipartUpload"));
  await assert.rejects(() => r2.resumeMultipartUpload(LONG_KEY, "bad").abort(), INVALID_NAME("abortMultipartUpload"));
});

test("completeMultipartUpload", async () => {
  const key = `${namespace()}key`;
  const upload1 = await r2.createMultipartUpload(key, {
    customMetadata: { key: "value" },
    httpMetadata: { contentType: "text/plain" },
  });
  const upload2 = await r2.createMultipartUpload(key);
  let part1 = await upload1.uploadPart(1, "1".repeat(PART_SIZE));
  let part2 = await upload1.uploadPart(2, "2".repeat(PART_SIZE));
  let part3 = await upload1.uploadPart(3, "3");
  let object = await upload1.complete([part1, part2, part3]);
  assert.equal(object.key, key);
  assert.equal(object.size, 2 * PART_SIZE + 1);
  assert.equal(object.etag, "3b676245e58d988dc75f80c0c27a9645-3");
  assert.equal(object.httpEtag, '"3b676245e58d988dc75f80c0c27a9645-3"');
  assert.equal(object.range, undefined);
  assert.deepEqual(object.checksums.toJSON(), {});
  assert.deepEqual(object.customMetadata, { key: "value" });
  assert.deepEqual(object.httpMetadata, { contentType: "text/plain" });
  assert.equal(await (await r2.get(key)).text(), `${"1".repeat(PART_SIZE)}${"2".repeat(PART_SIZE)}3`);
  const blobsWithUpload1 = await blobCount();

  // All but the last part must reach the minimum size (50 bytes under test).
  part1 = await upload2.uploadPart(1, "1");
  part2 = await upload2.uploadPart(2, "2");
  part3 = await upload2.uploadPart(3, "3");
  await assert.rejects(() => upload2.complete([part1, part2, part3]), TOO_SMALL);
  await assert.rejects(() => upload2.complete([part1, part2]), TOO_SMALL);
  object = await upload2.complete([part1]);
  assert.equal(object.size, 1);
  assert.equal(object.etag, "46d1741e8075da4ac72c71d8130fcb71-1");
  // The first upload's three parts, and upload2's unused two, are gone; upload2's part 1 is new.
  assert.equal(await blobCount(), blobsWithUpload1 - 3 + 1);
  assert.equal(await (await r2.get(key)).text(), "1");

  // An overridden part's old etag no longer completes.
  const upload3 = await r2.createMultipartUpload(key);
  let part1a = await upload3.uploadPart(1, "value");
  let part1b = await upload3.uploadPart(1, "value");
  await assert.rejects(() => upload3.complete([part1a]), PART_NOT_FOUND);
  assert.equal((await upload3.complete([part1b])).size, 5);

  // The same part number twice is an internal error.
  const upload4 = await r2.createMultipartUpload(key);
  part1a = await upload4.uploadPart(1, "1".repeat(PART_SIZE));
  part1b = await upload4.uploadPart(1, "2".repeat(PART_SIZE));
  const part1c = await upload4.uploadPart(1, "3".repeat(PART_SIZE));
  await assert.rejects(() => upload4.complete([part1a, part1b, part1c]), INTERNAL("completeMultipartUpload"));

  // Parts given out of order are assembled in part-number order.
  const upload5a = await r2.createMultipartUpload(key);
  part1 = await upload5a.uploadPart(1, "1".repeat(PART_SIZE));
  part2 = await upload5a.uploadPart(2, "2".repeat(PART_SIZE));
  part3 = await upload5a.uploadPart(3, "3".repeat(PART_SIZE));
  object = await upload5a.complete([part2, part3, part1]);
  assert.equal(object.size, 3 * PART_SIZE);
  assert.equal(object.etag, "f1115cc5564e7e0b25bbd87d95c72c86-3");
  assert.equal(await (await r2.get(key)).text(), `${"1".repeat(PART_SIZE)}${"2".repeat(PART_SIZE)}${"3".repeat(PART_SIZE)}`);
  // Sizes are checked in the order given first (the last argument is exempt)...
  const upload5b = await r2.createMultipartUpload(key);
  part1 = await upload5b.uploadPart(1, "1");
  part2 = await upload5b.uploadPart(2, "2".repeat(PART_SIZE));
  part3 = await upload5b.uploadPart(3, "3".repeat(PART_SIZE));
  await assert.rejects(() => upload5b.complete([part2, part3, part1]), BAD_UPLOAD);
  // ...so a small part that is not last in the arguments is "too small".
  const upload5c = await r2.createMultipartUpload(key);
  part1 = await upload5c.uploadPart(1, "1".repeat(PART_SIZE));
  part2 = await upload5c.uploadPart(2, "2".repeat(PART_SIZE));
  part3 = await upload5c.uploadPart(3, "3");
  await assert.rejects(() => upload5c.complete([part2, part3, part1]), TOO_SMALL);

  // Part numbers need not be contiguous.
  const upload6 = await r2.createMultipartUpload(key);
  part2 = await upload6.uploadPart(2, "2".repeat(PART_SIZE));
  const part5 = await upload6.uploadPart(5, "5".repeat(PART_SIZE));
  const part9 = await upload6.uploadPart(9, "9".repeat(PART_SIZE));
  object = await upload6.complete([part2, part5, part9]);
  assert.equal(object.etag, "471d773597286301a10c61cd8c84e659-3");
  assert.equal(await (await r2.get(key)).text(), `${"2".repeat(PART_SIZE)}${"5".repeat(PART_SIZE)}${"9".repeat(PART_SIZE)}`);

  // No parts at all: an empty object.
  const upload7 = await r2.createMultipartUpload(key);
  object = await upload7.complete([]);
  assert.equal(object.size, 0);
  assert.equal(object.etag, "d41d8cd98f00b204e9800998ecf8427e-0");
  assert.equal(await (await r2.get(key)).text(), "");

  // Parts of another upload do not count.
  const upload8a = await r2.createMultipartUpload(key);
  const upload8b = await r2.createMultipartUpload(key);
  part1 = await upload8b.uploadPart(1, "value");
  await assert.rejects(() => upload8a.complete([part1]), PART_NOT_FOUND);

  // Completing twice, or after abort: 10024.
  const upload9 = await r2.createMultipartUpload(key);
  part1 = await upload9.uploadPart(1, "value");
  await upload9.complete([part1]);
  await assert.rejects(() => upload9.complete([part1]), NO_SUCH_UPLOAD("completeMultipartUpload"));
  const upload10 = await r2.createMultipartUpload(key);
  part1 = await upload10.uploadPart(1, "value");
  await upload10.abort();
  await assert.rejects(() => upload10.complete([part1]), NO_SUCH_UPLOAD("completeMultipartUpload"));

  // Unknown upload ids (or another key's): 10001; a key too long: 10020.
  const upload11 = await r2.createMultipartUpload(key);
  await assert.rejects(() => r2.resumeMultipartUpload(key, "bad").complete([]), INTERNAL("completeMultipartUpload"));
  await assert.rejects(
    () => r2.resumeMultipartUpload(`${key}-other`, upload11.uploadId).complete([]),
    INTERNAL("completeMultipartUpload"),
  );
  await assert.rejects(() => r2.resumeMultipartUpload(LONG_KEY, "bad").complete([]), INVALID_NAME("completeMultipartUpload"));

  // All but the last part the same size, and the last no larger.
  const upload13 = await r2.createMultipartUpload(key);
  part1 = await upload13.uploadPart(1, "1".repeat(PART_SIZE));
  part2 = await upload13.uploadPart(2, "2".repeat(PART_SIZE + 1));
  part3 = await upload13.uploadPart(3, "3".repeat(PART_SIZE));
  await assert.rejects(() => upload13.complete([part1, part2, part3]), BAD_UPLOAD);
  part2 = await upload13.uploadPart(2, "2".repeat(PART_SIZE));
  part3 = await upload13.uploadPart(3, "3".repeat(PART_SIZE + 1));
  await assert.rejects(() => upload13.complete([part1, part2, part3]), BAD_UPLOAD);
  part3 = await upload13.uploadPart(3, "3".repeat(PART_SIZE - 1));
  assert.equal((await upload13.complete([part1, part2, part3])).size, 3 * PART_SIZE - 1);

  // Parts that do not exist, or whose etag does not match.
  const upload14 = await r2.createMultipartUpload(key);
  part1 = await upload14.uploadPart(1, "1".repeat(PART_SIZE));
  part2 = await upload14.uploadPart(2, "2");
  await assert.rejects(() => upload14.complete([part1, { partNumber: 3, etag: part2.etag }]), PART_NOT_FOUND);
  await assert.rejects(() => upload14.complete([part1, { partNumber: 2, etag: "bad" }]), PART_NOT_FOUND);
  await assert.rejects(() => upload14.complete([part1, { partNumber: 4, etag: "very bad" }]), PART_NOT_FOUND);
  await assert.rejects(() => upload14.complete([{ partNumber: 0, etag: "x" }]), {
    name: "TypeError",
    message: "Part number must be between 1 and 10000 (inclusive). Actual value was: 0",
  });
});

async function threeParts(key, letters = "123") {
  const upload = await r2.createMultipartUpload(key, {
    customMetadata: { key: "value" },
    httpMetadata: { contentType: "text/plain" },
  });
  const parts = [];
  for (let i = 0; i < 3; i++) parts.push(await upload.uploadPart(i + 1, letters[i].repeat(PART_SIZE)));
  return [upload, parts];
}

test("head: is multipart aware", async () => {
  const key = `${namespace()}key`;
  const [upload, parts] = await threeParts(key);
  assert.equal(await r2.head(key), null, "an upload in progress is invisible");
  const completed = await upload.complete(parts);
  const object = await r2.head(key);
  assert.equal(object.version, completed.version);
  assert.equal(object.size, 3 * PART_SIZE);
  assert.equal(object.etag, "f1115cc5564e7e0b25bbd87d95c72c86-3");
  assert.deepEqual(object.range, { offset: 0, length: 150 });
  assert.deepEqual(object.checksums.toJSON(), {});
  assert.deepEqual(object.customMetadata, { key: "value" });
  assert.deepEqual(object.httpMetadata, { contentType: "text/plain" });
});

test("get: is multipart aware (whole and ranged reads across parts)", async () => {
  const key = `${namespace()}key`;
  const [upload, parts] = await threeParts(key, "abc");
  assert.equal(await r2.get(key), null);
  const completed = await upload.complete(parts);
  let object = await r2.get(key);
  assert.equal(object.version, completed.version);
  assert.equal(object.etag, "d63a28fd44cfddc0215c8da47e582eb7-3");
  assert.deepEqual(object.range, { offset: 0, length: 150 });
  assert.equal(await object.text(), `${"a".repeat(PART_SIZE)}${"b".repeat(PART_SIZE)}${"c".repeat(PART_SIZE)}`);
  const half = PART_SIZE / 2;
  const quarter = Math.floor(PART_SIZE / 4);
  object = await r2.get(key, { range: { offset: half, length: quarter } });
  assert.equal(await object.text(), "a".repeat(quarter));
  object = await r2.get(key, { range: { offset: half, length: half + PART_SIZE + quarter } });
  assert.equal(await object.text(), `${"a".repeat(half)}${"b".repeat(PART_SIZE)}${"c".repeat(quarter)}`);
  object = await r2.get(key, { range: { suffix: quarter + PART_SIZE } });
  assert.equal(await object.text(), `${"b".repeat(quarter)}${"c".repeat(PART_SIZE)}`);
});

test("put and delete: are multipart aware", async () => {
  const key = `${namespace()}key`;
  const blobs = await blobCount();
  const [upload, parts] = await threeParts(key);
  await r2.put(key, "value"); // does not touch the parts of an upload in progress
  await r2.delete(key);
  assert.equal(await blobCount(), blobs + 3);
  await upload.complete(parts);
  assert.equal((await r2.head(key)).size, 3 * PART_SIZE);
  await r2.put(key, "new-value"); // replaces the object and removes its parts
  assert.equal(await blobCount(), blobs + 1);
  const [upload2, parts2] = await threeParts(key);
  await upload2.complete(parts2);
  assert.equal(await blobCount(), blobs + 3, "completing over a single-part object removes its blob");
  await r2.delete(key);
  assert.equal(await blobCount(), blobs);
});

test("delete: a body read after the delete still returns its bytes", async () => {
  const key = `${namespace()}key`;
  const [upload, parts] = await threeParts(key);
  await upload.complete(parts);
  const whole = await r2.get(key);
  const ranged = await r2.get(key, { range: { offset: PART_SIZE } });
  await r2.delete(key);
  assert.equal(await whole.text(), `${"1".repeat(PART_SIZE)}${"2".repeat(PART_SIZE)}${"3".repeat(PART_SIZE)}`);
  assert.equal(await ranged.text(), `${"2".repeat(PART_SIZE)}${"3".repeat(PART_SIZE)}`);
});

test("list: is multipart aware", async () => {
  const ns = namespace();
  const [upload, parts] = await threeParts(`${ns}key`, "xyz");
  let { objects } = await r2.list({ prefix: ns, include: ["httpMetadata", "customMetadata"] });
  assert.equal(objects.length, 0);
  const completed = await upload.complete(parts);
  ({ objects } = await r2.list({ prefix: ns, include: ["httpMetadata", "customMetadata"] }));
  assert.equal(objects.length, 1);
  assert.equal(objects[0].version, completed.version);
  assert.equal(objects[0].etag, "9f4271a2af6d83c1d3fef1cc6d170f9f-3");
  assert.equal(objects[0].range, undefined);
  assert.deepEqual(objects[0].checksums.toJSON(), {});
  assert.deepEqual(objects[0].customMetadata, { key: "value" });
  assert.deepEqual(objects[0].httpMetadata, { contentType: "text/plain" });
});

test("multipart: parts from streams and large buffers", async () => {
  const key = `${namespace()}key`;
  const size = 1.5 * 1024 * 1024;
  const upload = await r2.createMultipartUpload(key);
  const { readable, writable } = new FixedLengthStream(size);
  const writer = writable.getWriter();
  const writing = (async () => {
    for (let at = 0; at < size; at += 100_000) await writer.write(new Uint8Array(Math.min(100_000, size - at)).fill(1));
    await writer.close();
  })();
  const part1 = await upload.uploadPart(1, readable);
  await writing;
  const part2 = await upload.uploadPart(2, new Uint8Array(size).fill(2));
  const part3 = await upload.uploadPart(3, "3");
  const object = await upload.complete([part1, part2, part3]);
  assert.equal(object.size, 2 * size + 1);
  const bytes = await (await r2.get(key)).bytes();
  assert.deepEqual([bytes[0], bytes[size - 1], bytes[size], bytes[2 * size - 1], bytes[2 * size]], [1, 1, 2, 2, 51]);
  const unknown = new ReadableStream({ pull: (c) => c.close() });
  await assert.rejects(() => upload.uploadPart(4, unknown), { name: "TypeError" });
});

test("large values go through uploads and streamed bodies (2.5 MiB)", async () => {
  const key = `${namespace()}key`;
  const size = 2.5 * 1024 * 1024;
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i++) value[i] = (i * 7) & 0xff;
  const object = await r2.put(key, value);
  assert.equal(object.size, size);
  const body = await r2.get(key);
  const reader = body.body.getReader();
  let read = 0;
  let chunks = 0;
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    for (let i = 0; i < chunk.length; i += 4099) {
      if (chunk[i] !== ((read + i) * 7) % 256) throw new Error(`byte ${read + i} differs`);
    }
    read += chunk.byteLength;
    chunks += 1;
  }
  assert.equal(read, size);
  assert.ok(chunks >= 3, `streamed in chunks (${chunks})`);
  const part = await (await r2.get(key, { range: { offset: size - 3 } })).bytes();
  assert.deepEqual([...part], [...value.subarray(size - 3)]);
});
