// Fetch "Request" as workerd has it (src/workerd/api/http.c++, Request::constructor): no mode, credentials
// or referrer machinery; a `cf` object; redirect "follow" or "manual" only ("error" is refused: it "does not
// make sense at the edge"); methods limited to the ones kj knows; and `new Request(request)` takes over the
// input's body, leaving the input used.
import { AbortSignal, createSignal, abortSignal } from "./abort.js";
import { BodyState, bodyUsed, cloneBody, extractBody, kBody, mixinBody, shareBody, takeBody } from "./body.js";
import { Headers, copyHeaders, hasHeader, headersFromList } from "./headers.js";

export const kRequest = Symbol("request state");

// kj's HttpMethod list (kj/compat/http.h), which is what workerd accepts; CONNECT is not among them.
const METHODS = new Set([
  "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "PURGE", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL", "MOVE",
  "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH",
  "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE",
]);
const CACHE_MODES = new Set(["no-store", "no-cache"]);

const GET_HEAD_BODY = "Request with a GET or HEAD method cannot have a body.";
const INVALID_REDIRECT =
  'Invalid redirect value, must be one of "follow" or "manual" ("error" won\'t be implemented since it does not make sense at the edge; use "manual" and check the response status code).';
const USED_BODY = "Cannot reconstruct a Request with a used body.";
const INTEGRITY =
  "Subrequest integrity checking is not implemented. The integrity option must be either undefined or an empty string.";

// workerd's upper_case_all_http_methods: a known method in any case is upper-cased; anything else is refused.
function normalizeMethod(method) {
  method = `${method}`;
  if (METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  if (METHODS.has(upper)) return upper;
  throw new TypeError(`Invalid HTTP method string: ${method}`);
}

function parseRedirect(value) {
  const redirect = `${value}`.toLowerCase();
  if (redirect !== "follow" && redirect !== "manual") throw new TypeError(INVALID_REDIRECT);
  return redirect;
}

function parseCache(value) {
  const cache = `${value}`;
  if (!CACHE_MODES.has(cache)) throw new TypeError(`Unsupported cache mode: ${cache}`);
  return cache;
}

// workerd fetch_standard_url: parsed and serialized by the WHATWG URL parser.
export function parseRequestUrl(input) {
  const text = `${input}`;
  try {
    return new URL(text).href;
  } catch {
    throw new TypeError(`Invalid URL: ${text}`);
  }
}

// `cf` is copied, never shared: later changes to the caller's object do not reach the request.
export function cloneCf(cf) {
  return cf === undefined || cf === null ? undefined : JSON.parse(JSON.stringify(cf));
}

function isDictionary(value) {
  return value !== null && (typeof value === "object" || typeof value === "function");
}

export class Request {
  constructor(input, init = undefined) {
    if (arguments.length < 1) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    if (init !== undefined && init !== null && !isDictionary(init)) {
      throw new TypeError("Failed to construct 'Request': The provided value is not of type 'RequestInit'.");
    }
    const initRequest = init instanceof Request ? init : null;
    const dict = initRequest === null && isDictionary(init) ? init : null;
    const state = {
      method: "GET",
      url: "",
      redirect: "follow",
      headers: null,
      signal: null, // null: never aborts (the `signal` getter then makes an idle one)
      idleSignal: null,
      cf: undefined,
      cache: undefined,
      encodeResponseBody: "automatic",
    };
    let body = null;

    if (input instanceof Request) {
      const source = input[kRequest];
      // A body in init replaces the input's, which is then left alone (workerd's answer to whatwg/fetch#674).
      const keepInputBody = initRequest === null && (dict === null || dict.body === undefined);
      state.url = source.url;
      state.method = source.method;
      state.headers = copyHeaders(source.headers, "none");
      state.cf = cloneCf(source.cf);
      if (keepInputBody) {
        if (bodyUsed(input)) throw new TypeError(USED_BODY);
        body = takeBody(input);
      }
      state.cache = source.cache;
      state.redirect = source.redirect;
      state.signal = source.signal;
    } else {
      state.url = parseRequestUrl(input);
    }

    if (initRequest !== null) {
      // Another Request as init reads like a dictionary of its fields; its body is shared, not taken.
      const other = initRequest[kRequest];
      state.method = other.method;
      state.redirect = other.redirect;
      state.cache = other.cache;
      state.encodeResponseBody = other.encodeResponseBody;
      state.signal = other.signal;
      state.headers = copyHeaders(other.headers, "none");
      state.cf = cloneCf(other.cf);
      body = shareBody(initRequest);
    } else if (dict !== null) {
      const integrity = dict.integrity;
      if (integrity !== undefined && `${integrity}` !== "") throw new TypeError(INTEGRITY);
      if (dict.method !== undefined) state.method = normalizeMethod(dict.method);
      if (dict.headers !== undefined) state.headers = new Headers(dict.headers);
      if (dict.signal !== undefined) {
        const signal = dict.signal;
        if (signal !== null && !(signal instanceof AbortSignal)) {
          throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
        }
        state.signal = signal;
      }
      if (dict.cf !== undefined) state.cf = cloneCf(dict.cf);
      const initBody = dict.body;
      let contentType = null;
      if (initBody !== undefined && initBody !== null) {
        [body, contentType] = extractBody(initBody);
        if (state.method === "GET" || state.method === "HEAD") throw new TypeError(GET_HEAD_BODY);
      } else if (initBody === null) {
        body = null;
      }
      if (dict.redirect !== undefined) state.redirect = parseRedirect(dict.redirect);
      if (dict.cache !== undefined) state.cache = parseCache(dict.cache);
      if (dict.encodeResponseBody !== undefined) {
        const encoding = `${dict.encodeResponseBody}`;
        if (encoding !== "manual" && encoding !== "automatic") {
          throw new TypeError(`encodeResponseBody: unexpected value: ${encoding}`);
        }
        state.encodeResponseBody = encoding;
      }
      // Only a new method or body brings the GET/HEAD rule into play: a GET that already had a body (a
      // proxied request) can still be rewritten.
      if ((dict.method !== undefined || initBody !== undefined) && body !== null) {
        if (state.method === "GET" || state.method === "HEAD") throw new TypeError(GET_HEAD_BODY);
      }
      state.headers ??= new Headers();
      if (contentType !== null && !hasHeader(state.headers, "content-type")) state.headers.append("content-type", contentType);
    }

    state.headers ??= new Headers();
    this[kRequest] = state;
    this[kBody] = body;
  }

  get method() { return this[kRequest].method; }
  get url() { return this[kRequest].url; }
  get headers() { return this[kRequest].headers; }
  get redirect() { return this[kRequest].redirect; }
  get fetcher() { return null; }
  get cf() { return this[kRequest].cf; }
  get cache() { return this[kRequest].cache; }
  get integrity() { return ""; }
  get keepalive() { return false; }

  // Always an AbortSignal, as the spec wants; one that can never abort when none was given.
  get signal() {
    const state = this[kRequest];
    if (state.signal !== null) return state.signal;
    state.idleSignal ??= createSignal();
    return state.idleSignal;
  }

  clone() {
    const state = this[kRequest];
    const copy = Object.create(Request.prototype);
    const body = cloneBody(this);
    copy[kRequest] = { ...state, headers: copyHeaders(state.headers), cf: cloneCf(state.cf), idleSignal: null };
    copy[kBody] = body;
    return copy;
  }

  get [Symbol.toStringTag]() {
    return "Request";
  }
}
mixinBody(Request);

// The request a handler receives: built from the bridge's metadata, headers immutable as in workerd, and
// redirect "manual" so that `return fetch(request)` hands a redirect back to the sandbox instead of
// following it. The returned function aborts its signal (the client went away).
export function incomingRequest(method, url, headerPairs, bodyBytes, cf) {
  const request = Object.create(Request.prototype);
  const signal = createSignal();
  request[kRequest] = {
    method,
    url,
    redirect: "manual",
    headers: headersFromList(headerPairs, "immutable"),
    signal,
    idleSignal: null,
    cf,
    cache: undefined,
    encodeResponseBody: "automatic",
  };
  request[kBody] = bodyBytes === null ? null : new BodyState(bodyBytes, null);
  return [request, () => abortSignal(signal)];
}

// What fetch() needs to know beyond the public getters.
export function requestSignal(request) {
  return request[kRequest].signal;
}
