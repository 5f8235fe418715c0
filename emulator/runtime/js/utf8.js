// UTF-8 conversion without the Python bridge. Short ASCII strings (header names, URLs, JSON metadata) take
// the fast paths; everything else follows the WHATWG Encoding Standard (lone surrogates become U+FFFD).

const CHUNK = 0x2000;

export function encodeUtf8(string) {
  const length = string.length;
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (string.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = string.charCodeAt(i);
    return out;
  }
  const out = new Uint8Array(length * 3);
  let o = 0;
  for (let i = 0; i < length; i++) {
    let c = string.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < length ? string.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 0x3f);
        out[o++] = 0x80 | ((c >> 6) & 0x3f);
        out[o++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  }
  return out.slice(0, o);
}

// Decodes bytes[start:end]. With fatal, invalid sequences throw TypeError; otherwise each maximal invalid
// subpart becomes U+FFFD (Encoding Standard "UTF-8 decoder"). Returns [string, consumedUpTo] so that a
// streaming decoder can keep an incomplete trailing sequence for the next call.
export function decodeUtf8(bytes, start = 0, end = bytes.length, fatal = false, flush = true) {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (bytes[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return [latin1Range(bytes, start, end), end];
  const units = [];
  let parts = "";
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      units.push(b);
      i++;
    } else {
      let need = 0;
      let cp = 0;
      let lower = 0x80;
      let upper = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        cp = b & 0xf;
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        cp = b & 0x7;
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
      } else {
        if (fatal) throw new TypeError("The encoded data was not valid for encoding utf-8");
        units.push(0xfffd);
        i++;
        need = -1;
      }
      if (need > 0) {
        let j = i + 1;
        let seen = 0;
        let ok = true;
        while (seen < need) {
          if (j >= end) {
            if (!flush) {
              // Incomplete sequence at the end of a streamed chunk: leave it for the next call.
              flushUnits();
              return [parts, i];
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
          seen++;
        }
        if (!ok) {
          if (fatal) throw new TypeError("The encoded data was not valid for encoding utf-8");
          units.push(0xfffd);
          i = j;
        } else {
          if (cp > 0xffff) {
            cp -= 0x10000;
            units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
          } else {
            units.push(cp);
          }
          i = j;
        }
      }
    }
    if (units.length >= CHUNK) flushUnits();
  }
  flushUnits();
  return [parts, end];

  function flushUnits() {
    if (units.length) {
      parts += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
}

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
