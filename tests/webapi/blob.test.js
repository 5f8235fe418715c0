// Blob and File as workerd has them (src/workerd/api/blob.c++).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

test("parts: strings as UTF-8, buffers, views and Blobs", async () => {
  const parts = ["\u00e9", new Uint8Array([1, 2]), new Uint16Array([0x0403]).buffer, new Blob(["z"]), new DataView(new Uint8Array([9]).buffer)];
  const blob = new Blob(parts);
  assert.equal(blob.size, 8);
  assert.deepEqual([...(await blob.bytes())], [0xc3, 0xa9, 1, 2, 3, 4, 0x7a, 9]);
});

test("bytes and text round trip", async () => {
  const blob = new Blob(["h\u00e9", new Uint8Array([0x21])]);
  assert.deepEqual([...(await blob.bytes())], [0x68, 0xc3, 0xa9, 0x21]);
  assert.equal(await blob.text(), "h\u00e9!");
  const buffer = await blob.arrayBuffer();
  assert.ok(buffer instanceof ArrayBuffer);
  assert.equal(buffer.byteLength, 4);
});

test("the parts are copied: later writes do not change the Blob", async () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const blob = new Blob([bytes]);
  bytes[0] = 9;
  assert.deepEqual([...(await blob.bytes())], [1, 2, 3]);
  const out = await blob.bytes();
  out[1] = 9;
  assert.deepEqual([...(await blob.bytes())], [1, 2, 3]);
});

test("type is lower-cased, and dropped if it has a control or non-ASCII character", () => {
  assert.equal(new Blob([], { type: "Text/Plain;Charset=UTF-8" }).type, "text/plain;charset=utf-8");
  assert.equal(new Blob([], { type: "a\u0001b" }).type, "");
  assert.equal(new Blob([], { type: "t\u00e9xt/plain" }).type, "");
  assert.equal(new Blob([]).type, "");
  assert.equal(new Blob().size, 0);
});

test("slice() counts from either end and clamps", async () => {
  const blob = new Blob(["0123456789"]);
  const cases = [[[2, 5], "234"], [[-3], "789"], [[-3, -1], "78"], [[5, 2], ""], [[-100, 100], "0123456789"], [[NaN, 3], "012"], [[], "0123456789"]];
  for (const [args, text] of cases) assert.equal(await blob.slice(...args).text(), text, JSON.stringify(args));
  assert.equal(blob.slice(0, 1, "X/Y").type, "x/y");
  assert.equal(blob.slice(0, 1).type, "");
});

test("stream() gives the bytes", async () => {
  const reader = new Blob(["streamed"]).stream().getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), "streamed");
  assert.equal((await reader.read()).done, true);
});

test("text() keeps a byte order mark (V8 decoding, as in workerd)", async () => {
  assert.equal(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61])]).text(), "\ufeffa");
});

test("a non-sequence is a TypeError", () => {
  assert.throws(() => new Blob("abc"), TypeError);
  assert.throws(() => new Blob(5), TypeError);
});

test("File has a name and lastModified", () => {
  const file = new File(["x"], "name.txt", { type: "Text/Plain", lastModified: 42 });
  assert.equal(file.name, "name.txt");
  assert.equal(file.lastModified, 42);
  assert.equal(file.type, "text/plain");
  assert.ok(file instanceof Blob);
  assert.equal(Object.prototype.toString.call(file), "[object File]");
  assert.equal(new File([], "n", { lastModified: NaN }).lastModified, 0);
  const before = Date.now();
  assert.ok(new File([], "n").lastModified >= before);
  assert.throws(() => new File(["x"]), { name: "TypeError", message: "Failed to construct 'File': 2 arguments required, but only 1 present." });
});
