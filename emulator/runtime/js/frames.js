// The payload framing shared with emulator/runtime/bridge.py (pack_meta/unpack_meta): a 4-byte
// little-endian length, that many bytes of UTF-8 JSON, then raw bytes.
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

export function packMeta(meta, body = null) {
  const json = encodeUtf8(JSON.stringify(meta));
  const out = new Uint8Array(4 + json.length + (body === null ? 0 : body.byteLength));
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  if (body !== null) out.set(body, 4 + json.length);
  return out;
}

export function unpackMeta(bytes) {
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const meta = JSON.parse(decodeUtf8(bytes, 4, 4 + length)[0]);
  return [meta, bytes.subarray(4 + length)];
}
