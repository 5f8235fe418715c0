// Workers KV (contract §4.1) as a handler sees it, against a real store (tests/bindings/conftest.py): env.KV is
// namespace "kv-test", env.KV2 "kv-other", limits scaled as Miniflare's beingTested (values and bulk reads of
// at most 1024 bytes), env.CLOCK the store's fake clock. The cases are those of Miniflare's
// test/plugins/kv/index.spec.ts (workers-sdk f830836), with messages from workerd src/workerd/api/kv.c++ and
// Miniflare src/workers/kv/. The store is shared by the whole file, so every test starts with fresh(): the
// clock back at TIME_NOW and a key prefix of its own, as Miniflare namespaces keys per test.
import { env } from "cloudflare:workers";
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const TIME_NOW = 1000; // seconds, Miniflare's fake Date.now()
const TIME_FUTURE = 1500; // an expiration that is in the future at TIME_NOW
const MAX_VALUE_SIZE = 1024; // the scaled limit
const PUT_VALUE_TYPES = "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.";
const UNKNOWN_TYPE = 'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".';

let tests = 0;
async function fresh() {
  await env.CLOCK.set({ ms: TIME_NOW * 1000 });
  return `t${++tests}/`;
}

function streamOf(...chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

const bytes = (text) => new TextEncoder().encode(text);
const keyErrors = (method) => [
  ["", { name: "TypeError", message: "Key name cannot be empty." }],
  [".", { name: "TypeError", message: '"." is not allowed as a key name.' }],
  ["..", { name: "TypeError", message: '".." is not allowed as a key name.' }],
  ["x".repeat(513), { name: "Error", message: `KV ${method} failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.` }],
  // The limit counts UTF-8 bytes: 257 "é" are 514 bytes
  ["\u00e9".repeat(257), { name: "Error", message: `KV ${method} failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512.` }],
];

// -- key validation ------------------------------------------------------------------------------------------
for (const [operation, method, call] of [
  ["get", "GET", (key) => env.KV.get(key)],
  ["getWithMetadata", "GET", (key) => env.KV.getWithMetadata(key)],
  ["put", "PUT", (key) => env.KV.put(key, "value")],
  ["delete", "DELETE", (key) => env.KV.delete(key)],
]) {
  test(`${operation}: validates the key as workerd does`, async () => {
    await fresh();
    for (const [key, expected] of keyErrors(method)) {
      const error = await assert.rejects(() => call(key), expected, JSON.stringify(key.slice(0, 8)));
      assert.equal(Object.getPrototypeOf(error), expected.name === "TypeError" ? TypeError.prototype : Error.prototype);
    }
    await call("x".repeat(512)); // 512 bytes is allowed
  });
}

test("put: a bad key is reported before a bad value type, and before a stream is read", async () => {
  await fresh();
  await assert.rejects(() => env.KV.put("", {}), { name: "TypeError", message: "Key name cannot be empty." });
  const stream = streamOf(bytes("unread"));
  await assert.rejects(() => env.KV.put(".", stream), { name: "TypeError", message: '"." is not allowed as a key name.' });
  assert.equal(stream.locked, false);
});

// -- get -----------------------------------------------------------------------------------------------------
test("get: returns the value as text by default", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value");
  assert.equal(await env.KV.get(`${ns}key`), "value");
  assert.equal(await env.KV.get(`${ns}key`, "text"), "value");
  assert.equal(await env.KV.get(`${ns}key`, { type: "text" }), "value");
});

test("get: text is UTF-8, with U+FFFD for bytes that are not", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "h\u00e9llo \u{1f600}");
  assert.equal(await env.KV.get(`${ns}key`), "h\u00e9llo \u{1f600}");
  await env.KV.put(`${ns}bad`, new Uint8Array([0x61, 0xff, 0x62]));
  assert.equal(await env.KV.get(`${ns}bad`), "a\ufffdb");
});

test("get: json parses the value", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, '{"a":[1,true,null]}');
  assert.deepEqual(await env.KV.get(`${ns}key`, "json"), { a: [1, true, null] });
  await env.KV.put(`${ns}text`, "not json");
  await assert.rejects(() => env.KV.get(`${ns}text`, "json"), SyntaxError);
});

test("get: arrayBuffer returns every byte", async () => {
  const ns = await fresh();
  const value = Uint8Array.from([0, 1, 2, 127, 128, 254, 255]);
  await env.KV.put(`${ns}key`, value.buffer);
  const result = await env.KV.get(`${ns}key`, "arrayBuffer");
  assert.ok(result instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(result), value);
});

test("get: stream returns a ReadableStream of the value", async () => {
  const ns = await fresh();
  const value = Uint8Array.from([255, 0, 10, 20, 30, 200]);
  await env.KV.put(`${ns}key`, new Blob([value]).stream());
  const result = await env.KV.get(`${ns}key`, "stream");
  assert.ok(result instanceof ReadableStream);
  assert.deepEqual(new Uint8Array(await new Response(result).arrayBuffer()), value);
  await env.KV.put(`${ns}empty`, "");
  assert.deepEqual(new Uint8Array(await new Response(await env.KV.get(`${ns}empty`, "stream")).arrayBuffer()), new Uint8Array(0));
});

test("get: an unknown type is a TypeError for a present key, and null for a missing one", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value");
  await assert.rejects(() => env.KV.get(`${ns}key`, "blob"), { name: "TypeError", message: UNKNOWN_TYPE });
  await assert.rejects(() => env.KV.get(`${ns}key`, { type: "bytes" }), { name: "TypeError", message: UNKNOWN_TYPE });
  assert.equal(await env.KV.get(`${ns}missing`, "blob"), null);
});

test("get: returns null for missing keys", async () => {
  const ns = await fresh();
  assert.equal(await env.KV.get(`${ns}key`), null);
  assert.equal(await env.KV.get(`${ns}key`, "stream"), null);
});

test("get: returns null once a key has expired", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value", { expirationTtl: 60 });
  await env.CLOCK.advance({ seconds: 59.999 });
  assert.equal(await env.KV.get(`${ns}key`), "value");
  await env.CLOCK.advance({ seconds: 0.001 }); // expiration <= now: expired
  assert.equal(await env.KV.get(`${ns}key`), null);
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}key`), { value: null, metadata: null, cacheStatus: null });
});

test("get: validates but ignores cacheTtl", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value");
  await assert.rejects(() => env.KV.get(`${ns}key`, { cacheTtl: "not a number" }), {
    name: "Error",
    message: "KV GET failed: 400 Invalid cache_ttl of 0. Cache TTL must be at least 30.",
  });
  await assert.rejects(() => env.KV.get(`${ns}key`, { cacheTtl: 10 }), {
    name: "Error",
    message: "KV GET failed: 400 Invalid cache_ttl of 10. Cache TTL must be at least 30.",
  });
  assert.equal(await env.KV.get(`${ns}key`, { cacheTtl: 30 }), "value");
  assert.equal(await env.KV.get(`${ns}key`, { cacheTtl: 60 }), "value");
  await assert.rejects(() => env.KV.get(`${ns}key`, { cacheTtl: 2 ** 31 }), {
    name: "TypeError",
    message: "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).",
  });
});

test("getWithMetadata: value, metadata and cacheStatus null; missing key gives nulls", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value", { metadata: { testing: true } });
  await env.KV.put(`${ns}plain`, "value");
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}key`), { value: "value", metadata: { testing: true }, cacheStatus: null });
  await assert.rejects(() => env.KV.getWithMetadata(`${ns}plain`, "json"), SyntaxError);
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}plain`), { value: "value", metadata: null, cacheStatus: null });
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}missing`), { value: null, metadata: null, cacheStatus: null });
});

// -- bulk get ------------------------------------------------------------------------------------------------
test("bulk get: a Map in request order, null for missing keys", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key1`, "value1");
  await env.KV.put(`${ns}key3`, "value3");
  const result = await env.KV.get([`${ns}key3`, `${ns}key2`, `${ns}key1`]);
  assert.ok(result instanceof Map);
  assert.deepEqual([...result], [[`${ns}key3`, "value3"], [`${ns}key2`, null], [`${ns}key1`, "value1"]]);
});

test("bulk get: at most 100 keys", async () => {
  const ns = await fresh();
  const keys = Array.from({ length: 101 }, (_, i) => `${ns}key${i}`);
  await assert.rejects(() => env.KV.get(keys), { name: "Error", message: "KV GET_BULK failed: 400 You can request a maximum of 100 keys" });
  assert.equal((await env.KV.get(keys.slice(0, 100))).size, 100);
});

test("bulk get: at least 1 key", async () => {
  await fresh();
  await assert.rejects(() => env.KV.get([]), { name: "Error", message: "KV GET_BULK failed: 400 You must request a minimum of 1 key" });
  await assert.rejects(() => env.KV.getWithMetadata([]), { name: "Error", message: "KV GET_BULK failed: 400 You must request a minimum of 1 key" });
});

test("bulk get: only text and json types", async () => {
  const ns = await fresh();
  for (const type of ["invalid", "arrayBuffer", "stream"]) {
    await assert.rejects(() => env.KV.get([`${ns}key`], { type }), {
      name: "Error",
      message: `KV GET_BULK failed: 400 "${type}" is not a valid type. Use "json" or "text"`,
    });
  }
  await assert.rejects(() => env.KV.get([`${ns}key`], "invalid"), {
    name: "Error",
    message: 'KV GET_BULK failed: 400 "invalid" is not a valid type. Use "json" or "text"',
  });
});

test("bulk get: json type parses, and a non-json value fails the whole request", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key1`, '{"example": "ex"}');
  await env.KV.put(`${ns}key2`, "example");
  assert.deepEqual(await env.KV.get([`${ns}key1`]), new Map([[`${ns}key1`, '{"example": "ex"}']]));
  assert.deepEqual(await env.KV.get([`${ns}key1`], "json"), new Map([[`${ns}key1`, { example: "ex" }]]));
  assert.deepEqual(await env.KV.get([`${ns}key1`, `${ns}missing`], { type: "json" }), new Map([[`${ns}key1`, { example: "ex" }], [`${ns}missing`, null]]));
  await assert.rejects(() => env.KV.get([`${ns}key1`, `${ns}key2`], "json"), {
    name: "Error",
    message: "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value",
  });
});

test("bulk get: validates keys and cacheTtl as the KV service does", async () => {
  const ns = await fresh();
  const cases = [
    [[""], "400 Key names must not be empty"],
    [[`${ns}ok`, "."], '400 Illegal key name ".". Please use a different name.'],
    [[".."], '400 Illegal key name "..". Please use a different name.'],
    [["x".repeat(513)], "414 UTF-8 encoded length of 513 exceeds key length limit of 512."],
  ];
  for (const [keys, text] of cases) {
    await assert.rejects(() => env.KV.get(keys), { name: "Error", message: `KV GET_BULK failed: ${text}` });
  }
  await assert.rejects(() => env.KV.get([`${ns}key`], { cacheTtl: 10 }), {
    name: "Error",
    message: "KV GET_BULK failed: 400 Invalid cache_ttl of 10. Cache TTL must be at least 30.",
  });
  assert.deepEqual(await env.KV.get([`${ns}key`], { cacheTtl: 30 }), new Map([[`${ns}key`, null]]));
});

test("bulk getWithMetadata: {value, metadata} per key, metadata null when none", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key1`, "value1", { expiration: TIME_FUTURE, metadata: { testing: true } });
  await env.KV.put(`${ns}key2`, "value2");
  await env.KV.put(`${ns}key3`, "value3", { metadata: 123 });
  await env.KV.put(`${ns}key4`, "value4", { metadata: "example" });
  const result = await env.KV.getWithMetadata([`${ns}key1`, `${ns}key2`, `${ns}key3`, `${ns}key4`, `${ns}missing`]);
  assert.deepEqual(
    result,
    new Map([
      [`${ns}key1`, { value: "value1", metadata: { testing: true } }],
      [`${ns}key2`, { value: "value2", metadata: null }],
      [`${ns}key3`, { value: "value3", metadata: 123 }],
      [`${ns}key4`, { value: "value4", metadata: "example" }],
      [`${ns}missing`, null],
    ]),
  );
});

test("bulk getWithMetadata: falsy values keep their metadata", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}empty`, "", { metadata: { testing: true } });
  await env.KV.put(`${ns}zero`, "0", { metadata: { testing: "zero" } });
  await env.KV.put(`${ns}false`, "false", { metadata: { testing: "false" } });
  assert.deepEqual(await env.KV.getWithMetadata([`${ns}empty`]), new Map([[`${ns}empty`, { value: "", metadata: { testing: true } }]]));
  assert.deepEqual(
    await env.KV.getWithMetadata([`${ns}zero`, `${ns}false`], "json"),
    new Map([
      [`${ns}zero`, { value: 0, metadata: { testing: "zero" } }],
      [`${ns}false`, { value: false, metadata: { testing: "false" } }],
    ]),
  );
});

test("bulk get: the decoded values' total size is limited (scaled to 1024)", async () => {
  const ns = await fresh();
  const big = "x".repeat(1024);
  await env.KV.put(`${ns}key1`, big);
  await env.KV.put(`${ns}key2`, big);
  assert.equal((await env.KV.get([`${ns}key1`])).get(`${ns}key1`), big); // exactly at the limit
  await assert.rejects(() => env.KV.getWithMetadata([`${ns}key1`, `${ns}key2`]), {
    name: "Error",
    message: "KV GET_BULK failed: 413 Total size of request exceeds the limit of 0.0009765625MB",
  });
});

// -- put -----------------------------------------------------------------------------------------------------
test("put: stores value, metadata and expiration", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value", { expiration: TIME_FUTURE, metadata: { testing: true } });
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}key`), { value: "value", metadata: { testing: true }, cacheStatus: null });
  const page = await env.KV.list({ prefix: ns });
  assert.deepEqual(page.keys, [{ name: `${ns}key`, expiration: TIME_FUTURE, metadata: { testing: true } }]);
});

test("put: an empty value", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "");
  assert.equal(await env.KV.get(`${ns}key`), "");
  await env.KV.put(`${ns}buffer`, new ArrayBuffer(0));
  assert.equal((await env.KV.get(`${ns}buffer`, "arrayBuffer")).byteLength, 0);
});

test("put: every value type: string, ArrayBuffer, views, ReadableStream", async () => {
  const ns = await fresh();
  const backing = new Uint8Array([9, 1, 2, 3, 9]);
  const cases = [
    ["string", "\u00e9", [0xc3, 0xa9]],
    ["ArrayBuffer", new Uint8Array([1, 2]).buffer, [1, 2]],
    ["Uint8Array view", backing.subarray(1, 4), [1, 2, 3]],
    ["DataView", new DataView(backing.buffer, 3, 2), [3, 9]],
    ["Uint16Array", new Uint16Array([0x0201]), [1, 2]],
    ["stream", streamOf(new Uint8Array([4]), new Uint8Array([5, 6])), [4, 5, 6]],
  ];
  for (const [name, value, expected] of cases) {
    await env.KV.put(`${ns}${name}`, value);
    assert.deepEqual([...new Uint8Array(await env.KV.get(`${ns}${name}`, "arrayBuffer"))], expected, name);
  }
});

test("put: other primitives are stored as their string, as jsg converts them", async () => {
  const ns = await fresh();
  for (const [value, text] of [[42, "42"], [true, "true"], [null, "null"], [undefined, "undefined"]]) {
    await env.KV.put(`${ns}key`, value);
    assert.equal(await env.KV.get(`${ns}key`), text);
  }
});

test("put: objects that are not buffers or streams are a TypeError", async () => {
  const ns = await fresh();
  for (const value of [{}, [1, 2], new Blob(["x"]), new Response("x"), () => 1]) {
    await assert.rejects(() => env.KV.put(`${ns}key`, value), { name: "TypeError", message: PUT_VALUE_TYPES });
  }
  assert.equal(await env.KV.get(`${ns}key`), null);
});

test("put: overwriting replaces value and metadata, and removes the old value's blob", async () => {
  const ns = await fresh();
  const before = await env.STORE.blobCount({ kind: "kv", name: "kv-test" });
  await env.KV.put(`${ns}key`, "value1");
  assert.equal(await env.STORE.blobCount({ kind: "kv", name: "kv-test" }), before + 1);
  await env.KV.put(`${ns}key`, "value2", { expiration: TIME_FUTURE, metadata: { testing: true } });
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}key`), { value: "value2", metadata: { testing: true }, cacheStatus: null });
  assert.equal(await env.STORE.blobCount({ kind: "kv", name: "kv-test" }), before + 1);
  await env.KV.delete(`${ns}key`);
  assert.equal(await env.STORE.blobCount({ kind: "kv", name: "kv-test" }), before);
});

test("put: keys are case-sensitive", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "lower");
  await env.KV.put(`${ns}KEY`, "upper");
  assert.equal(await env.KV.get(`${ns}key`), "lower");
  assert.equal(await env.KV.get(`${ns}KEY`), "upper");
});

test("put: validates expirationTtl", async () => {
  const ns = await fresh();
  const cases = [
    ["nan", "Invalid expiration_ttl of 0. Please specify integer greater than 0."],
    [0, "Invalid expiration_ttl of 0. Please specify integer greater than 0."],
    [-5, "Invalid expiration_ttl of -5. Please specify integer greater than 0."],
    [30, "Invalid expiration_ttl of 30. Expiration TTL must be at least 60."],
    [59.9, "Invalid expiration_ttl of 59. Expiration TTL must be at least 60."],
  ];
  for (const [expirationTtl, text] of cases) {
    await assert.rejects(() => env.KV.put(`${ns}key`, "value", { expirationTtl }), { name: "Error", message: `KV PUT failed: 400 ${text}` });
  }
  await env.KV.put(`${ns}key`, "value", { expirationTtl: 60 });
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys, [{ name: `${ns}key`, expiration: TIME_NOW + 60 }]);
});

test("put: validates expiration", async () => {
  const ns = await fresh();
  const cases = [
    ["nan", "Invalid expiration of 0. Please specify integer greater than the current number of seconds since the UNIX epoch."],
    [TIME_NOW, `Invalid expiration of ${TIME_NOW}. Please specify integer greater than the current number of seconds since the UNIX epoch.`],
    [TIME_NOW + 30, `Invalid expiration of ${TIME_NOW + 30}. Expiration times must be at least 60 seconds in the future.`],
  ];
  for (const [expiration, text] of cases) {
    await assert.rejects(() => env.KV.put(`${ns}key`, "value", { expiration }), { name: "Error", message: `KV PUT failed: 400 ${text}` });
  }
  await assert.rejects(() => env.KV.put(`${ns}key`, "value", { expiration: 2 ** 31 }), {
    name: "TypeError",
    message: "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).",
  });
  await env.KV.put(`${ns}key`, "value", { expiration: TIME_NOW + 60 });
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys, [{ name: `${ns}key`, expiration: TIME_NOW + 60 }]);
});

test("put: expirationTtl wins over expiration", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value", { expiration: TIME_NOW, expirationTtl: 120 }); // the expiration alone is invalid
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys, [{ name: `${ns}key`, expiration: TIME_NOW + 120 }]);
});

test("put: validates value size (limit scaled to 1024)", async () => {
  const ns = await fresh();
  const message = `KV PUT failed: 413 Value length of ${MAX_VALUE_SIZE + 1} exceeds limit of ${MAX_VALUE_SIZE}.`;
  const chunk = new Uint8Array(MAX_VALUE_SIZE / 2 + 1).fill(0x78);
  await assert.rejects(() => env.KV.put(`${ns}key`, streamOf(chunk, chunk.slice(1))), { name: "Error", message });
  await assert.rejects(() => env.KV.put(`${ns}key`, "x".repeat(MAX_VALUE_SIZE + 1)), { name: "Error", message });
  await assert.rejects(() => env.KV.put(`${ns}key`, new Uint8Array(3000)), {
    name: "Error",
    message: `KV PUT failed: 413 Value length of 3000 exceeds limit of ${MAX_VALUE_SIZE}.`,
  });
  assert.equal(await env.KV.get(`${ns}key`), null);
  await env.KV.put(`${ns}key`, streamOf(chunk, chunk.slice(2))); // one byte less is accepted
  assert.equal((await env.KV.get(`${ns}key`)).length, MAX_VALUE_SIZE);
});

test("put: validates metadata size (1024 bytes of JSON)", async () => {
  const ns = await fresh();
  const overhead = '{"key":""}'.length;
  await assert.rejects(() => env.KV.put(`${ns}key`, new Blob(["value"]).stream(), { metadata: { key: "x".repeat(1024 - overhead + 1) } }), {
    name: "Error",
    message: "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.",
  });
  // UTF-8 bytes, not UTF-16 units: 512 "é" are 1024 bytes plus the quotes
  await assert.rejects(() => env.KV.put(`${ns}key`, "v", { metadata: "\u00e9".repeat(512) }), {
    name: "Error",
    message: "KV PUT failed: 413 Metadata length of 1026 exceeds limit of 1024.",
  });
  await env.KV.put(`${ns}key`, "value", { metadata: { key: "x".repeat(1024 - overhead) } });
  assert.equal((await env.KV.getWithMetadata(`${ns}key`)).metadata.key.length, 1024 - overhead);
});

test("put: null metadata is no metadata", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value", { metadata: null });
  assert.deepEqual(await env.KV.getWithMetadata(`${ns}key`), { value: "value", metadata: null, cacheStatus: null });
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys, [{ name: `${ns}key` }]);
});

// -- delete --------------------------------------------------------------------------------------------------
test("delete: deletes existing keys", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "value");
  assert.equal(await env.KV.get(`${ns}key`), "value");
  assert.equal(await env.KV.delete(`${ns}key`), undefined);
  assert.equal(await env.KV.get(`${ns}key`), null);
});

test("delete: does nothing for missing keys", async () => {
  const ns = await fresh();
  assert.equal(await env.KV.delete(`${ns}key`), undefined);
});

// -- list ----------------------------------------------------------------------------------------------------
// Puts `values`, then lists with `options` (prefix inside the test's namespace) page by page, following the
// cursor, and checks every page's keys and that only the last page is complete and has no cursor.
async function checkList({ values, options = {}, pages }) {
  const ns = await fresh();
  for (const [key, { value, expiration, metadata }] of Object.entries(values)) {
    await env.KV.put(ns + key, value, { expiration, metadata });
  }
  let cursor;
  for (const [i, page] of pages.entries()) {
    const result = await env.KV.list({ prefix: ns + (options.prefix ?? ""), limit: options.limit, cursor });
    assert.deepEqual(result.keys, page.map((key) => ({ ...key, name: ns + key.name })), `page ${i}`);
    assert.equal(result.cacheStatus, null);
    if (i === pages.length - 1) {
      assert.ok(result.list_complete === true && !("cursor" in result), `page ${i} is the last`);
    } else {
      assert.ok(result.list_complete === false && typeof result.cursor === "string", `page ${i} is not the last`);
      cursor = result.cursor;
    }
  }
}

test("list: keys in sorted order", () =>
  checkList({
    values: { key3: { value: "value3" }, key1: { value: "value1" }, key2: { value: "value2" } },
    pages: [[{ name: "key1" }, { name: "key2" }, { name: "key3" }]],
  }));

test("list: keys matching a prefix", () =>
  checkList({
    values: { section1key1: { value: "value11" }, section1key2: { value: "value12" }, section2key1: { value: "value21" } },
    options: { prefix: "section1" },
    pages: [[{ name: "section1key1" }, { name: "section1key2" }]],
  }));

test("list: the prefix is case-sensitive", () =>
  checkList({
    values: { key1: { value: "lower1" }, key2: { value: "lower2 " }, KEY1: { value: "upper1" }, KEY2: { value: "upper2" } },
    options: { prefix: "KEY" },
    pages: [[{ name: "KEY1" }, { name: "KEY2" }]],
  }));

test("list: %, _ and \\ in a prefix are literal", () =>
  checkList({
    values: {
      "key\\_%1": { value: "value1" },
      "key\\a": { value: "bad1" },
      "key\\_%2": { value: "value2" },
      "key\\bbb": { value: "bad2" },
      "key\\_%3": { value: "value3" },
      "keyX_%4": { value: "bad3" },
    },
    options: { prefix: "key\\_%" },
    pages: [[{ name: "key\\_%1" }, { name: "key\\_%2" }, { name: "key\\_%3" }]],
  }));

test("list: keys with expiration and metadata, each only when set", () =>
  checkList({
    values: {
      key1: { value: "value1", expiration: TIME_FUTURE },
      key2: { value: "value2", metadata: { testing: 2 } },
      key3: { value: "value3", expiration: TIME_FUTURE + 200, metadata: { testing: 3 } },
      key4: { value: "value4", metadata: "text" },
    },
    pages: [
      [
        { name: "key1", expiration: TIME_FUTURE },
        { name: "key2", metadata: { testing: 2 } },
        { name: "key3", expiration: TIME_FUTURE + 200, metadata: { testing: 3 } },
        { name: "key4", metadata: "text" },
      ],
    ],
  }));

test("list: empty when there are no keys", () => checkList({ values: {}, pages: [[]] }));

test("list: empty when no key matches", () =>
  checkList({
    values: { key1: { value: "value1" }, key2: { value: "value2" } },
    options: { prefix: "none" },
    pages: [[]],
  }));

test("list: paginates", () =>
  checkList({
    values: { key1: { value: "value1" }, key2: { value: "value2" }, key3: { value: "value3" } },
    options: { limit: 2 },
    pages: [[{ name: "key1" }, { name: "key2" }], [{ name: "key3" }]],
  }));

test("list: paginates keys matching a prefix", () =>
  checkList({
    values: {
      section1key1: { value: "value11" },
      section1key2: { value: "value12" },
      section1key3: { value: "value13" },
      section2key1: { value: "value21" },
    },
    options: { prefix: "section1", limit: 2 },
    pages: [[{ name: "section1key1" }, { name: "section1key2" }], [{ name: "section1key3" }]],
  }));

test("list: a full last page still says complete (no empty extra page)", () =>
  checkList({
    values: { key1: { value: "value1" }, key2: { value: "value2" } },
    options: { limit: 2 },
    pages: [[{ name: "key1" }, { name: "key2" }]],
  }));

test("list: the limit may change between pages", async () => {
  const ns = await fresh();
  for (const i of [1, 2, 3]) await env.KV.put(`${ns}key${i}`, `value${i}`);
  let page = await env.KV.list({ prefix: ns, limit: 1 });
  assert.deepEqual(page.keys, [{ name: `${ns}key1` }]);
  assert.ok(!page.list_complete && typeof page.cursor === "string");
  page = await env.KV.list({ prefix: ns, limit: 2, cursor: page.cursor });
  assert.deepEqual(page.keys, [{ name: `${ns}key2` }, { name: `${ns}key3` }]);
  assert.ok(page.list_complete);
});

test("list: the cursor starts after the last key, so keys inserted later are seen only past it", async () => {
  const ns = await fresh();
  for (const i of [1, 3, 5]) await env.KV.put(`${ns}key${i}`, `value${i}`);
  let page = await env.KV.list({ prefix: ns, limit: 2 });
  assert.deepEqual(page.keys, [{ name: `${ns}key1` }, { name: `${ns}key3` }]);
  await env.KV.put(`${ns}key2`, "value2");
  await env.KV.put(`${ns}key4`, "value4");
  page = await env.KV.list({ prefix: ns, limit: 2, cursor: page.cursor });
  assert.deepEqual(page.keys, [{ name: `${ns}key4` }, { name: `${ns}key5` }]);
  assert.ok(page.list_complete);
});

test("list: accepts a prefix as long as the longest key", async () => {
  const ns = await fresh();
  const longKey = ns + "x".repeat(512 - ns.length);
  await env.KV.put(longKey, "value");
  assert.deepEqual((await env.KV.list({ prefix: longKey })).keys, [{ name: longKey }]);
  await assert.rejects(() => env.KV.list({ prefix: `${longKey}x` }), {
    name: "Error",
    message: "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
  });
});

test("list: ignores expired keys", async () => {
  const ns = await fresh();
  for (const i of [1, 2, 3]) await env.KV.put(`${ns}key${i}`, `value${i}`, { expiration: TIME_NOW + i * 60 });
  await env.CLOCK.advance({ seconds: 130 });
  assert.deepEqual(await env.KV.list({ prefix: ns }), {
    keys: [{ name: `${ns}key3`, expiration: TIME_NOW + 3 * 60 }],
    list_complete: true,
    cacheStatus: null,
  });
  await env.CLOCK.advance({ seconds: 50 }); // now == key3's expiration: expired
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys, []);
});

test("list: sorts lexicographically", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}, `, "value");
  await env.KV.put(`${ns}!`, "value");
  assert.deepEqual(await env.KV.list({ prefix: ns }), {
    keys: [{ name: `${ns}!` }, { name: `${ns}, ` }],
    list_complete: true,
    cacheStatus: null,
  });
});

test("list: sorts by UTF-8 bytes, not UTF-16 code units", async () => {
  const ns = await fresh();
  // U+FFFF is EF BF BF in UTF-8 and U+10000 is F0 90 80 80; in UTF-16 U+10000 (D800 DC00) sorts first.
  for (const key of ["\u{10000}", "\uffff", "\u00e9", "z"]) await env.KV.put(ns + key, "value");
  const names = (await env.KV.list({ prefix: ns })).keys.map((key) => key.name.slice(ns.length));
  assert.deepEqual(names, ["z", "\u00e9", "\uffff", "\u{10000}"]);
  const paged = [];
  let cursor;
  do {
    const page = await env.KV.list({ prefix: ns, limit: 1, cursor });
    paged.push(...page.keys.map((key) => key.name.slice(ns.length)));
    cursor = page.cursor;
  } while (cursor !== undefined);
  assert.deepEqual(paged, names);
});

test("list: validates the limit; 0 and below mean the default", async () => {
  const ns = await fresh();
  await assert.rejects(() => env.KV.list({ limit: 1001 }), {
    name: "Error",
    message: "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000.",
  });
  await env.KV.put(`${ns}key`, "value");
  for (const limit of [1000, 0, -1]) assert.deepEqual((await env.KV.list({ prefix: ns, limit })).keys, [{ name: `${ns}key` }]);
});

test("list: the result has Cloudflare's shape", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}a`, "1");
  await env.KV.put(`${ns}b`, "2");
  const first = await env.KV.list({ prefix: ns, limit: 1 });
  assert.deepEqual(Object.keys(first), ["keys", "list_complete", "cursor", "cacheStatus"]);
  const last = await env.KV.list({ prefix: ns, cursor: first.cursor });
  assert.deepEqual(Object.keys(last), ["keys", "list_complete", "cacheStatus"]);
});

// -- the binding object --------------------------------------------------------------------------------------
test("KV2 is a separate namespace", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}key`, "one");
  assert.equal(await env.KV2.get(`${ns}key`), null);
  await env.KV2.put(`${ns}key`, "two");
  assert.equal(await env.KV.get(`${ns}key`), "one");
  assert.equal(await env.KV2.get(`${ns}key`), "two");
  assert.deepEqual((await env.KV2.list({ prefix: ns })).keys, [{ name: `${ns}key` }]);
});

test("the binding shows no own properties, only KVNamespace's methods", () => {
  assert.deepEqual(Object.keys(env.KV), []);
  assert.deepEqual(Object.getOwnPropertyNames(env.KV), []);
  assert.equal(JSON.stringify(env.KV), "{}");
  for (const method of ["get", "getWithMetadata", "put", "delete", "list"]) assert.equal(typeof env.KV[method], "function", method);
});

test("keys are coerced to strings, as workerd does", async () => {
  const ns = await fresh();
  await env.KV.put(`${ns}42`, "number key");
  assert.equal(await env.KV.get({ toString: () => `${ns}42` }), "number key");
  await assert.rejects(() => env.KV.get(Symbol("k")), TypeError);
});

test("concurrent puts and gets on many keys all land", async () => {
  const ns = await fresh();
  const keys = Array.from({ length: 40 }, (_, i) => `${ns}k${String(i).padStart(2, "0")}`);
  await Promise.all(keys.map((key) => env.KV.put(key, key)));
  const values = await Promise.all(keys.map((key) => env.KV.get(key)));
  assert.deepEqual(values, keys);
  assert.deepEqual((await env.KV.list({ prefix: ns })).keys.map((key) => key.name), keys);
});
