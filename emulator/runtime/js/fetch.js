// fetch(): builds a Request as workerd does (so every constructor error is fetch's error too), hands it to
// Python (emulator/runtime/host/fetch.py) as one payload, and turns the reply into a Response whose body is
// pulled from Python a chunk at a time, so a large download is never held in memory.
//
// Wire format, both ways a packMeta() payload (JSON meta, then raw bytes):
//   to Python    {i: id, m: method, u: url, h: [[name, value]...], b?: 1 body follows, f?: 1 follow
//                 redirects, o?: 1 the body was a stream (cannot be sent again after a redirect)}
//   from Python  {s: status, t: reason, h: [[name, value]...], b: 0 no body | 1 pull it | 2 it follows,
//                 u?: final URL when redirects were followed}
//             or {e: "type" | "lost" | "internal" | "aborted", m: message}
//   host.fetchRead(id) then answers the body's chunks, nothing at its end, and an empty chunk if it broke.
//
// Known difference from Workers: response bodies are not decompressed. Workers decodes a gzip/br body for
// the Worker (encodeResponseBody "automatic") and compresses it again when the Worker returns it; here the
// bytes and Content-Encoding stay as received, which is what a sandbox sees in both cases.
import { host, fromHost } from "./host.js";
import { packMeta, unpackMeta } from "./frames.js";
import { BodyState, consumeBody, kBody } from "./body.js";
import { atob } from "./encoding.js";
import { parseMimeType, serializeMimeType } from "./formdata.js";
import { hasHeader, headerList, headersFromList } from "./headers.js";
import { Request, requestSignal } from "./request.js";
import { Response, fetchedResponse } from "./response.js";
import { ReadableStream, declareLength } from "./streams.js";
import { encodeUtf8, latin1Range } from "./utf8.js";

const NETWORK_LOST = "Network connection lost."; // jsg/util.c++: what a DISCONNECTED kj exception becomes
const BODY_NONE = 0;
const BODY_PULLED = 1;
const BODY_INLINE = 2;
const LOG_ERROR = 4;

let lastId = 0;

export async function fetch(input, init = undefined) {
  if (arguments.length < 1) {
    throw new TypeError("Failed to execute 'fetch' on 'WorkerGlobalScope': 1 argument required, but only 0 present.");
  }
  const request = new Request(input, init);
  const signal = requestSignal(request);
  if (signal !== null && signal.aborted) throw signal.reason;

  const url = request.url;
  if (url.startsWith("data:")) {
    const response = dataUrlResponse(request);
    if (response !== null) return response;
  }
  if (!url.startsWith("http:") && !url.startsWith("https:")) throw new TypeError(`Fetch API cannot load: ${url}`);

  const oneTime = request[kBody] !== null && request[kBody].oneTime;
  const body = request[kBody] === null ? null : await consumeBody(request);
  const id = (lastId = (lastId % 0x7fffffff) + 1);
  const meta = { i: id, m: request.method, u: url, h: outgoingHeaders(request) };
  if (body !== null) meta.b = 1;
  if (request.redirect === "follow") meta.f = 1;
  if (oneTime) meta.o = 1;

  const reply = await untilAborted(host.fetch(packMeta(meta, body)), signal, id);
  const [head, rest] = unpackMeta(fromHost(reply));
  if (head.e !== undefined) throw fetchError(head, url);
  if (signal !== null && signal.aborted) {
    if (head.b === BODY_PULLED) host.fetchCancel(id);
    throw signal.reason;
  }

  let responseBody = null;
  if (head.b === BODY_INLINE) responseBody = new BodyState(rest, null);
  else if (head.b === BODY_PULLED) responseBody = new BodyState(null, withLength(pulledBody(id, signal), head.h));
  const hash = url.indexOf("#");
  return fetchedResponse({
    status: head.s,
    statusText: head.t,
    headers: head.h,
    url: head.u ?? (hash === -1 ? url : url.slice(0, hash)),
    redirected: head.u !== undefined,
    body: responseBody,
  });
}

// workerd adds these for a `cache` mode unless the request already has them (http.c++ fetchImplNoOutputLock).
function outgoingHeaders(request) {
  const list = headerList(request.headers);
  if (request.cache === undefined) return list;
  const out = list.slice();
  if (!hasHeader(request.headers, "cache-control")) out.push(["cache-control", "no-cache"]);
  if (!hasHeader(request.headers, "pragma")) out.push(["pragma", "no-cache"]);
  return out;
}

// Resolves with the reply, or rejects with the signal's reason as soon as it aborts (Python is told to drop
// the request; its late reply is ignored).
function untilAborted(pending, signal, id) {
  if (signal === null) return pending;
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => {
      host.fetchCancel(id);
      reject(signal.reason);
    };
  });
  signal.addEventListener("abort", onAbort);
  return Promise.race([pending, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}

// A response body read from Python on demand. Aborting the request's signal errors it with the reason.
// A response with a Content-Length (and no content coding to undo) is a stream of known length, as workerd
// sees it, so it can go straight into R2 put() or back out with the same Content-Length.
function withLength(stream, headers) {
  let length = null;
  for (const [name, value] of headers) {
    if (name === "content-encoding") return stream;
    if (name === "content-length" && /^\d+$/.test(value)) length = Number(value);
  }
  return length === null ? stream : declareLength(stream, length);
}

function pulledBody(id, signal) {
  let controller;
  let finished = false;
  let onAbort = null;
  const finish = () => {
    finished = true;
    if (onAbort !== null) signal.removeEventListener("abort", onAbort);
  };
  const stream = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
    },
    // host.fetchRead answers a chunk (never empty), nothing at the end, or an empty chunk if the body broke.
    async pull(c) {
      const chunk = await host.fetchRead(id);
      if (finished) return;
      if (chunk === null || chunk === undefined) {
        finish();
        c.close();
      } else if (chunk.byteLength === 0) {
        finish();
        c.error(new Error(NETWORK_LOST));
      } else {
        c.enqueue(fromHost(chunk));
      }
    },
    cancel() {
      if (!finished) {
        finish();
        host.fetchCancel(id);
      }
    },
  });
  if (signal !== null) {
    onAbort = () => {
      if (finished) return;
      finish();
      host.fetchCancel(id);
      controller.error(signal.reason);
    };
    signal.addEventListener("abort", onAbort);
  }
  return stream;
}

// Failures as workerd reports them: its TypeErrors verbatim; a broken connection as "Network connection
// lost."; anything else (DNS, TLS, a malformed response) as an opaque internal error whose cause goes to the
// log with the same reference, as workerd logs it.
function fetchError(head, url) {
  if (head.e === "type") return new TypeError(head.m);
  if (head.e === "lost" || head.e === "aborted") return new Error(NETWORK_LOST);
  const reference = referenceId();
  host.log(LOG_ERROR, encodeUtf8(`fetch(${url}) failed: ${head.m} (internal error; reference = ${reference})`));
  return new Error(`internal error; reference = ${reference}`);
}

function referenceId() {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  const random = new Uint8Array(24);
  crypto.getRandomValues(random);
  let id = "";
  for (const b of random) id += alphabet[b % alphabet.length];
  return id;
}

// workerd answers data: URLs itself (Fetch's "data: URL processor"); a malformed one falls through to
// "Fetch API cannot load". Only GET gets the body.
function dataUrlResponse(request) {
  const parsed = parseDataUrl(request.url);
  if (parsed === null) return null;
  const headers = headersFromList([["content-type", parsed.type]], "none");
  return new Response(request.method === "GET" ? parsed.body : null, { status: 200, headers });
}

function parseDataUrl(url) {
  const hash = url.indexOf("#");
  const input = url.slice("data:".length, hash === -1 ? url.length : hash);
  const comma = input.indexOf(",");
  if (comma === -1) return null;
  let type = input.slice(0, comma).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "");
  let body = percentDecode(input.slice(comma + 1));
  const base64 = /;[\t\n\f\r ]*base64[\t\n\f\r ]*$/i.exec(type);
  if (base64 !== null) {
    type = type.slice(0, base64.index);
    let binary;
    try {
      binary = atob(latin1Range(body));
    } catch {
      return null;
    }
    body = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }
  if (type.startsWith(";")) type = `text/plain${type}`;
  const mime = parseMimeType(type);
  return { type: mime === null ? "text/plain;charset=US-ASCII" : serializeMimeType(mime), body };
}

function percentDecode(text) {
  const bytes = encodeUtf8(text);
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[o++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      out[o++] = b;
    }
  }
  return out.slice(0, o);
}

function isHex(b) {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}
