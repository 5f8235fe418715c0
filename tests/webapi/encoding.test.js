// TextEncoder, TextDecoder, atob and btoa against workerd's behaviour and messages (api/encoding.c++,
// api/global-scope.c++) and the WHATWG Encoding Standard.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const bytes = (...values) => new Uint8Array(values);

test("TextEncoder encodes UTF-8, lone surrogates as U+FFFD", () => {
  const encoder = new TextEncoder();
  assert.equal(encoder.encoding, "utf-8");
  assert.deepEqual(encoder.encode("a\u00e9\u20ac\u{1f600}"), bytes(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
  assert.deepEqual(encoder.encode("\ud800x\udc00"), bytes(0xef, 0xbf, 0xbd, 0x78, 0xef, 0xbf, 0xbd));
  assert.deepEqual(encoder.encode(), bytes());
  assert.deepEqual(encoder.encode(12), bytes(0x31, 0x32));
});

test("encodeInto writes whole code points only and reports units read", () => {
  const encoder = new TextEncoder();
  const small = new Uint8Array(5);
  assert.deepEqual(encoder.encodeInto("a\u20ac\u{1f600}", small), { read: 2, written: 4 });
  assert.deepEqual(small, bytes(0x61, 0xe2, 0x82, 0xac, 0));
  assert.deepEqual(encoder.encodeInto("a\u20ac\u{1f600}", new Uint8Array(8)), { read: 4, written: 8 });
  assert.deepEqual(encoder.encodeInto("", new Uint8Array(0)), { read: 0, written: 0 });
  assert.throws(() => encoder.encodeInto("x", new Uint16Array(4)), {
    name: "TypeError",
    message: "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.",
  });
});

test("TextDecoder decodes UTF-8 and strips one BOM unless ignoreBOM", () => {
  const withBom = bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x68, 0x69);
  assert.equal(new TextDecoder().decode(withBom), "\ufeffhi");
  assert.equal(new TextDecoder("utf-8", { ignoreBOM: true }).decode(withBom), "\ufeff\ufeffhi");
  assert.equal(new TextDecoder().decode(new Uint16Array([0x6968]).buffer), "hi");
  assert.equal(new TextDecoder().decode(new DataView(bytes(0x41, 0x42).buffer, 1)), "B");
  assert.equal(new TextDecoder().decode(), "");
});

test("each maximal invalid UTF-8 subpart becomes one U+FFFD", () => {
  const decode = (...b) => new TextDecoder().decode(bytes(...b));
  assert.equal(decode(0xf0, 0x90, 0x80, 0x41), "\ufffdA");
  assert.equal(decode(0xc3), "\ufffd");
  assert.equal(decode(0xed, 0xa0, 0x80), "\ufffd\ufffd\ufffd");
  assert.equal(decode(0xc0, 0xaf, 0xe0, 0x80), "\ufffd\ufffd\ufffd\ufffd");
  assert.equal(decode(0xf4, 0x90, 0x80, 0x80), "\ufffd\ufffd\ufffd\ufffd");
  assert.equal(decode(0x61, 0xe2, 0x82, 0x62), "a\ufffdb");
});

test("fatal decoding throws workerd's TypeError", () => {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  assert.equal(decoder.fatal, true);
  assert.throws(() => decoder.decode(bytes(0x61, 0xff)), { name: "TypeError", message: "Failed to decode input." });
  assert.equal(decoder.decode(bytes(0x61)), "a", "the decoder is usable after an error");
  decoder.decode(bytes(0xe2), { stream: true });
  assert.throws(() => decoder.decode(), { name: "TypeError", message: "Failed to decode input." });
});

test("streaming keeps a split sequence and a split BOM for the next call", () => {
  const decoder = new TextDecoder();
  assert.equal(decoder.decode(bytes(0xef, 0xbb), { stream: true }), "");
  assert.equal(decoder.decode(bytes(0xbf, 0xe2, 0x82), { stream: true }), "");
  assert.equal(decoder.decode(bytes(0xac, 0xf0, 0x9f), { stream: true }), "\u20ac");
  assert.equal(decoder.decode(bytes(0x98, 0x80)), "\u{1f600}");
  assert.equal(decoder.decode(bytes(0xef, 0xbb, 0xbf, 0x41)), "A", "a new stream strips a BOM again");
  assert.equal(decoder.decode(bytes(0xe2, 0x82), { stream: true }), "");
  assert.equal(decoder.decode(), "\ufffd", "an incomplete sequence at the end becomes U+FFFD");
});

test("labels are trimmed, case-folded and mapped to the canonical name", () => {
  assert.equal(new TextDecoder(" UTF8 ").encoding, "utf-8");
  assert.equal(new TextDecoder("latin1").encoding, "windows-1252");
  assert.equal(new TextDecoder("ascii").encoding, "windows-1252");
  assert.equal(new TextDecoder("utf-16").encoding, "utf-16le");
  assert.equal(new TextDecoder("ISO-8859-8-I").encoding, "iso-8859-8-i");
  assert.equal(new TextDecoder("unicodefffe").encoding, "utf-16be");
  assert.throws(() => new TextDecoder("nope"), { name: "RangeError", message: '"nope" is not a valid encoding.' });
  assert.throws(() => new TextDecoder("replacement"), { name: "RangeError", message: '"replacement" is not a valid encoding.' });
  assert.throws(() => new TextDecoder("iso-2022-kr"), { name: "RangeError", message: '"iso-2022-kr" is not a valid encoding.' });
});

test("windows-1252 (latin1) maps 0x80-0x9F like the standard", () => {
  assert.equal(new TextDecoder("latin1").decode(bytes(0x80, 0x81, 0x9f, 0xe9, 0x41)), "\u20ac\u0081\u0178\u00e9A");
});

test("single-byte encodings decode with their tables", () => {
  assert.equal(new TextDecoder("iso-8859-2").decode(bytes(0xa1, 0xb1)), "\u0104\u0105");
  assert.equal(new TextDecoder("koi8-u").decode(bytes(0xae, 0xbe, 0xc1)), "\u045e\u040e\u0430");
  assert.equal(new TextDecoder("windows-1251").decode(bytes(0xcf, 0xf0, 0xe8)), "\u041f\u0440\u0438");
  assert.equal(new TextDecoder("macintosh").decode(bytes(0x80)), "\u00c4");
  assert.equal(new TextDecoder("x-user-defined").decode(bytes(0x41, 0x80, 0xff)), "A\uf780\uf7ff");
  assert.equal(new TextDecoder("windows-874").decode(bytes(0xdb)), "\ufffd");
  assert.throws(() => new TextDecoder("windows-874", { fatal: true }).decode(bytes(0xdb)), {
    name: "TypeError",
    message: "Failed to decode input.",
  });
});

test("UTF-16LE and UTF-16BE, with BOM, surrogate pairs and errors", () => {
  assert.equal(new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x68, 0x00, 0x3d, 0xd8, 0x00, 0xde)), "h\u{1f600}");
  assert.equal(new TextDecoder("utf-16be").decode(bytes(0xfe, 0xff, 0x00, 0x68)), "h");
  assert.equal(new TextDecoder("utf-16le").decode(bytes(0x00, 0xd8, 0x41, 0x00)), "\ufffdA");
  assert.equal(new TextDecoder("utf-16le").decode(bytes(0x41, 0x00, 0x42)), "A\ufffd");
  const streaming = new TextDecoder("utf-16le");
  assert.equal(streaming.decode(bytes(0x3d), { stream: true }) + streaming.decode(bytes(0xd8, 0x00), { stream: true }), "");
  assert.equal(streaming.decode(bytes(0xde)), "\u{1f600}");
  assert.throws(() => new TextDecoder("utf-16le", { fatal: true }).decode(bytes(0x00, 0xdc)), { message: "Failed to decode input." });
});

test("the CJK decoders are refused with an explanation", () => {
  assert.throws(() => new TextDecoder("shift_jis"), {
    name: "RangeError",
    message: 'TextDecoder: outbound does not implement the "shift_jis" decoder (Workers has it).',
  });
});

test("decode() refuses what is not a BufferSource", () => {
  const message = "Failed to execute 'decode' on 'TextDecoder': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'.";
  assert.throws(() => new TextDecoder().decode(null), { name: "TypeError", message });
  assert.throws(() => new TextDecoder().decode("abc"), { name: "TypeError", message });
});

test("a megabyte of mixed text round-trips quickly", () => {
  const text = "h\u00e9llo w\u00f6rld \u2713 \u{1f600} ".repeat(50000);
  const started = Date.now();
  const encoded = new TextEncoder().encode(text);
  assert.equal(new TextDecoder().decode(encoded), text);
  assert.ok(Date.now() - started < 1000, "round trip under a second");
});

test("btoa encodes Latin-1 and refuses wider characters with workerd's DOMException", () => {
  assert.equal(btoa(""), "");
  assert.equal(btoa("a"), "YQ==");
  assert.equal(btoa("ab"), "YWI=");
  assert.equal(btoa("\u00ff\u00fe\u0000"), "//4A");
  assert.equal(btoa(undefined), "dW5kZWZpbmVk");
  const error = assert.throws(() => btoa("\u0100"), {
    name: "InvalidCharacterError",
    message: "btoa() can only operate on characters in the Latin1 (ISO/IEC 8859-1) range.",
  });
  assert.ok(error instanceof DOMException);
  assert.equal(error.code, 5);
});

test("atob is forgiving about whitespace and padding, strict about the rest", () => {
  assert.equal(atob(" YW\tJj\n"), "abc");
  assert.equal(atob("YQ"), "a");
  assert.equal(atob("YQ=="), "a");
  assert.equal(atob("//4A"), "\u00ff\u00fe\u0000");
  assert.equal(atob(""), "");
  const message =
    "atob() called with invalid base64-encoded data. (Only whitespace, '+', '/', alphanumeric ASCII, and up to " +
    "two terminal '=' signs when the input data length is divisible by 4 are allowed.)";
  for (const bad of ["YQ=", "Y", "YQ===", "Y-Q=", "\u00e9AAA", "YQ==YQ=="]) {
    assert.throws(() => atob(bad), { name: "InvalidCharacterError", message }, JSON.stringify(bad));
  }
});

test("atob and btoa round-trip every byte value", () => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  assert.equal(atob(btoa(all)), all);
});
