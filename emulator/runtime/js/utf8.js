// UTF-8 conversion without the Python bridge (a Python str handed to JS per request slows pythonmonkey's GC,
// runtime-notes §1.7). Short ASCII strings (header names, URLs, JSON metadata) take the fast paths; everything
// else follows the WHATWG Encoding Standard: lone surrogates encode as U+FFFD, and each maximal invalid
// subpart of the input decodes as one U+FFFD.

const CHUNK = 0x2000;

export function encodeUtf8(string) {
  const length = string.length;
  let i = 0;
  while (i < length && string.charCodeAt(i) < 0x80) i++;
  if (i === length) {
    const out = new Uint8Array(length);
    for (let j = 0; j < length; j++) out[j] = string.charCodeAt(j);
    return out;
  }
  const out = new Uint8Array(i + (length - i) * 3);
  for (let j = 0; j < i; j++) out[j] = string.charCodeAt(j);
  return out.slice(0, i + encodeInto(string, i, out, i).written);
}

// Encodes string[from:] into out[at:] while whole code points fit. Returns the UTF-16 units read (from
// `from`) and the bytes written (from `at`), as TextEncoder.encodeInto reports them.
export function encodeInto(string, from, out, at = 0) {
  const length = string.length;
  const limit = out.length;
  let o = at;
  let i = from;
  while (i < length) {
    let c = string.charCodeAt(i);
    if (c < 0x80) {
      if (o >= limit) break;
      out[o++] = c;
      i++;
      continue;
    }
    if (c < 0x800) {
      if (o + 2 > limit) break;
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
      i++;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < length ? string.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        if (o + 4 > limit) break;
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 0x3f);
        out[o++] = 0x80 | ((c >> 6) & 0x3f);
        out[o++] = 0x80 | (c & 0x3f);
        i += 2;
        continue;
      }
      c = 0xfffd;
    }
    if (o + 3 > limit) break;
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
    i++;
  }
  return { read: i - from, written: o - at };
}

// Decodes bytes[start:end]. With `fatal`, the first invalid sequence throws TypeError (workerd's message);
// otherwise it becomes U+FFFD. With `flush` false, an incomplete sequence at the end is left undecoded: the
// second result says where decoding stopped, so a streaming decoder keeps the rest for its next call.
export function decodeUtf8(bytes, start = 0, end = bytes.length, fatal = false, flush = true) {
  let i = start;
  while (i < end && bytes[i] < 0x80) i++;
  if (i === end) return [latin1Range(bytes, start, end), end];
  let text = i > start ? latin1Range(bytes, start, i) : "";
  const units = new Uint16Array(Math.min(CHUNK + 2, (end - start) + 2));
  let u = 0;
  while (i < end) {
    if (u >= CHUNK) {
      text += String.fromCharCode.apply(null, units.subarray(0, u));
      u = 0;
    }
    const b = bytes[i];
    if (b < 0x80) {
      units[u++] = b;
      i++;
      continue;
    }
    let need;
    let cp;
    let lower = 0x80;
    let upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0xf;
      if (b === 0xe0) lower = 0xa0;
      else if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x7;
      if (b === 0xf0) lower = 0x90;
      else if (b === 0xf4) upper = 0x8f;
    } else {
      if (fatal) throw new TypeError(DECODE_FAILED);
      units[u++] = 0xfffd;
      i++;
      continue;
    }
    let j = i + 1;
    let ok = true;
    for (let seen = 0; seen < need; seen++) {
      if (j >= end) {
        if (!flush) {
          if (u > 0) text += String.fromCharCode.apply(null, units.subarray(0, u));
          return [text, i];
        }
        ok = false;
        break;
      }
      const c = bytes[j];
      if (c < lower || c > upper) {
        ok = false;
        break;
      }
      lower = 0x80;
      upper = 0xbf;
      cp = (cp << 6) | (c & 0x3f);
      j++;
    }
    i = j; // an invalid byte after a valid prefix is not consumed: it starts the next sequence
    if (!ok) {
      if (fatal) throw new TypeError(DECODE_FAILED);
      units[u++] = 0xfffd;
    } else if (cp > 0xffff) {
      cp -= 0x10000;
      units[u++] = 0xd800 + (cp >> 10);
      units[u++] = 0xdc00 + (cp & 0x3ff);
    } else {
      units[u++] = cp;
    }
  }
  if (u > 0) text += String.fromCharCode.apply(null, units.subarray(0, u));
  return [text, end];
}

// workerd's TextDecoder message for invalid input in fatal mode (api/encoding.c++).
export const DECODE_FAILED = "Failed to decode input.";

export function latin1Range(bytes, start = 0, end = bytes.length) {
  let out = "";
  for (let i = start; i < end; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + CHUNK)));
  }
  return out;
}

export function utf8ToString(bytes) {
  return decodeUtf8(bytes)[0];
}
