// FormData and the multipart/form-data codec as workerd has them (src/workerd/api/form-data.c++).
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

function post(body, contentType) {
  return new Request("http://x/", { method: "POST", body, headers: contentType === undefined ? {} : { "content-type": contentType } });
}

const B = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a";
const TYPE = `multipart/form-data;boundary=${B}`;

test("append, get, getAll, has, set, delete, iteration", () => {
  const form = new FormData();
  form.append("a", "1");
  form.append("b", "2");
  form.append("a", "3");
  assert.equal(form.get("a"), "1");
  assert.equal(form.get("missing"), null);
  assert.deepEqual(form.getAll("a"), ["1", "3"]);
  assert.equal(form.has("b"), true);
  form.set("a", "4");
  assert.deepEqual([...form], [["a", "4"], ["b", "2"]]);
  form.delete("b");
  assert.deepEqual([...form.keys()], ["a"]);
  assert.deepEqual([...form.values()], ["4"]);
  form.append("n", 5);
  assert.equal(form.get("n"), "5");
  assert.equal(Object.prototype.toString.call(form), "[object FormData]");
  assert.throws(() => form.append("only-name"), { name: "TypeError", message: "Failed to execute 'append' on 'FormData': 2 arguments required, but only 1 present." });
});

test("a Blob becomes a File named after the entry (workerd), or after the filename", () => {
  const form = new FormData();
  form.append("field", new Blob(["x"], { type: "text/x" }));
  form.append("named", new Blob(["y"]), "given.txt");
  const file = new File(["z"], "orig.txt");
  form.append("file", file);
  form.append("renamed", file, "new.txt");
  assert.ok(form.get("field") instanceof File);
  assert.equal(form.get("field").name, "field");
  assert.equal(form.get("field").type, "text/x");
  assert.equal(form.get("named").name, "given.txt");
  assert.equal(form.get("file"), file);
  assert.equal(form.get("renamed").name, "new.txt");
});

test("forEach and iteration are live", () => {
  const form = new FormData();
  form.append("a", "1");
  const seen = [];
  form.forEach((value, name) => {
    seen.push(name);
    if (name === "a") form.append("b", "2");
  });
  assert.deepEqual(seen, ["a", "b"]);
});

test("the constructor ignores its arguments, as workerd's takes none", () => {
  assert.deepEqual([...new FormData({ a: 1 })], []);
});

test("multipart round trip through Response and Body.formData()", async () => {
  const form = new FormData();
  form.append("text", "h\u00e9llo\r\nworld");
  form.append("quote\"d", "v");
  form.append("file", new File([new Uint8Array([0, 1, 255])], "data.bin", { type: "application/x-bin" }));
  form.append("plain", new File(["p"], "p.txt"));
  const response = new Response(form);
  const parsed = await response.formData();
  assert.equal(parsed.get("text"), "h\u00e9llo\r\nworld");
  // workerd escapes '"' as %22 and does not decode it back.
  assert.equal(parsed.get("quote%22d"), "v");
  const file = parsed.get("file");
  assert.ok(file instanceof File);
  assert.equal(file.name, "data.bin");
  assert.equal(file.type, "application/x-bin");
  assert.deepEqual([...(await file.bytes())], [0, 1, 255]);
  assert.equal(parsed.get("plain").type, "application/octet-stream");
});

test("the serialized form is byte for byte workerd's", async () => {
  const form = new FormData();
  form.append("a\nb\\c", "x\ny");
  form.append("f", new Blob(["data"]), 'q"\\.txt');
  const response = new Response(form);
  const boundary = response.headers.get("content-type").split("boundary=")[1];
  assert.ok(/^[0-9a-f]{32}$/.test(boundary));
  assert.equal(
    await response.text(),
    `--${boundary}\r\nContent-Disposition: form-data; name="a%0Ab\\\\c"\r\n\r\nx\ny\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="q%22\\\\.txt"\r\nContent-Type: application/octet-stream\r\n\r\ndata\r\n` +
      `--${boundary}--`
  );
});

test("a name or filename ending with a backslash cannot be sent", () => {
  const form = new FormData();
  form.set("foo", new File(["x"], "foo.txt\\"));
  assert.throws(() => new Request("http://x/", { method: "POST", body: form }), { name: "TypeError", message: "Name or filename can't end with backslash" });
});

test("workerd's parser: LF line ends, quoted boundary, escapes, file types as written", async () => {
  const body = [
    "---",
    'Content-Disposition: form-data; name="field0"',
    "",
    "part0",
    "---",
    'Content-Disposition: form-data; name="f"; filename="qux%0A%22\\\\.txt"',
    "Content-Type: Text/Bary",
    "",
    "content",
    "-----",
  ].join("\n");
  const form = await post(body, 'multipart/form-data; Boundary="-"').formData();
  assert.equal(form.get("field0"), "part0");
  const file = form.get("f");
  assert.equal(file.name, "qux%0A%22\\.txt");
  assert.equal(file.type, "Text/Bary");
  assert.equal(await file.text(), "content");
});

test("multipart parse errors, verbatim", async () => {
  const part = (disposition) => `--${B}\r\nContent-Disposition: ${disposition}\r\n\r\nv\r\n--${B}--`;
  const cases = [
    ["no boundary here", "No initial boundary string (or you have a truncated message)."],
    [`--${B}`, "No initial boundary string (or you have a truncated message)."],
    [`--${B}xx`, "Boundary string was not succeeded by CRLF, LF, or '--'."],
    [`--${B}\r\nContent-Disposition: form-data; name="a"`, "No multipart message header termination found."],
    [`--${B}\r\nbad header line\r\n\r\nv\r\n--${B}--`, "FormData part had invalid headers."],
    [`--${B}\r\nContent-Type: text/plain\r\n\r\nv\r\n--${B}--`, "No valid Content-Disposition header found in FormData part."],
    [part(""), "Invalid Content-Disposition header found in FormData part."],
    [part("foobar"), 'Content-Disposition header for FormData part must have the value "form-data", possibly followed by parameters. Got: "foobar"'],
    [part("form-data; name=unquoted"), "Content-Disposition header in FormData part is missing a name."],
    [`--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end`, "No subsequent boundary string after multipart message."],
  ];
  for (const [body, message] of cases) {
    await assert.rejects(post(body, TYPE).formData(), { name: "TypeError", message }, message);
  }
});

test("Content-Type errors, verbatim", async () => {
  await assert.rejects(post("x", "multipart/form-data").formData(), {
    name: "TypeError",
    message:
      "No boundary string in Content-Type header. The multipart/form-data MIME type requires a boundary parameter, e.g. 'Content-Type: multipart/form-data; boundary=\"abcd\"'. See RFC 7578, section 4.",
  });
  await assert.rejects(post("x", "text/plain").formData(), {
    name: "TypeError",
    message:
      "Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded",
  });
  await assert.rejects(post("a=1", "application/x-www-form-urlencoded; charset=latin1").formData(), {
    name: "TypeError",
    message: "Non-utf-8 application/x-www-form-urlencoded body.",
  });
});

test("an empty urlencoded body is an empty form", async () => {
  const form = await new Request("http://x/", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
  assert.deepEqual([...form], []);
});
