// Fetch "Request" as Workers has it: no mode/credentials/referrer machinery, a `cf` object, redirect
// "follow" | "manual" | "error", and an always-present `signal`.
import { AbortSignal, createSignal, abortSignal } from "./abort.js";
import { BodyState, bodyUsed, cloneBody, extractBody, kBody, mixinBody, BODY_USED } from "./body.js";
import { Headers, headerList, headersFromList, kGuard } from "./headers.js";
import { isDisturbed } from "./streams.js";

export const kRequest = Symbol("request state");

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const REDIRECT_MODES = new Set(["follow", "manual", "error"]);

function normalizeMethod(method) {
  method = String(method);
  if (!METHOD.test(method)) throw new TypeError(`Invalid HTTP method string: ${method}`);
  const upper = method.toUpperCase();
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

export function parseUrl(input) {
  try {
    return new URL(String(input)).href;
  } catch {
    throw new TypeError(`Fetch API cannot load: ${String(input)}`);
  }
}

export class Request {
  constructor(input, init = undefined) {
    if (arguments.length < 1) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    init = init ?? {};
    let state;
    let inputBody = null;
    if (input instanceof Request) {
      const source = input[kRequest];
      state = {
        method: source.method,
        url: source.url,
        redirect: source.redirect,
        signal: source.signal,
        cf: source.cf,
        headers: headerList(input.headers).map(([n, v]) => [n, v]),
      };
      inputBody = input[kBody];
    } else {
      state = { method: "GET", url: parseUrl(input), redirect: "follow", signal: null, cf: undefined, headers: [] };
    }

    if (init.method !== undefined) state.method = normalizeMethod(init.method);
    if (init.redirect !== undefined) {
      const redirect = String(init.redirect);
      if (!REDIRECT_MODES.has(redirect)) {
        throw new TypeError(`Failed to construct 'Request': The provided value '${redirect}' is not a valid enum value of type RequestRedirect.`);
      }
      state.redirect = redirect;
    }
    if (init.signal !== undefined) {
      if (init.signal !== null && !(init.signal instanceof AbortSignal)) {
        throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
      }
      state.signal = init.signal;
    }
    if (init.cf !== undefined) state.cf = init.cf;

    const headers = init.headers !== undefined ? new Headers(init.headers) : headersFromList(state.headers, "none");

    const hasInitBody = init.body !== undefined && init.body !== null;
    if ((hasInitBody || (inputBody !== null && init.body === undefined)) && (state.method === "GET" || state.method === "HEAD")) {
      throw new TypeError("Request with a GET or HEAD method cannot have a body.");
    }

    let body = null;
    if (hasInitBody) {
      const [extracted, contentType] = extractBody(init.body);
      body = extracted;
      if (contentType !== null && !headers.has("content-type")) headers.append("content-type", contentType);
    } else if (inputBody !== null && init.body === undefined) {
      // The new request takes over the input's body; the input is left disturbed (Fetch, Request constructor).
      if (bodyUsed(input)) throw new TypeError(BODY_USED);
      body = new BodyState(inputBody.source, inputBody.stream);
      inputBody.source = null;
      inputBody.stream = null;
      inputBody.used = true;
    }

    headers[kGuard] = "request";
    this[kRequest] = { ...state, headers };
    this[kBody] = body;
    if (this[kRequest].signal === null) this[kRequest].signal = createSignal();
  }

  get method() { return this[kRequest].method; }
  get url() { return this[kRequest].url; }
  get headers() { return this[kRequest].headers; }
  get redirect() { return this[kRequest].redirect; }
  get signal() { return this[kRequest].signal; }
  get cf() { return this[kRequest].cf; }
  get fetcher() { return null; }
  get integrity() { return ""; }
  get keepalive() { return false; }

  clone() {
    if (bodyUsed(this)) throw new TypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    const copy = Object.create(Request.prototype);
    const state = this[kRequest];
    const headers = headersFromList(headerList(state.headers).map(([n, v]) => [n, v]), state.headers[kGuard]);
    copy[kRequest] = { ...state, headers };
    copy[kBody] = cloneBody(this);
    return copy;
  }

  get [Symbol.toStringTag]() {
    return "Request";
  }
}
mixinBody(Request);

// The request a handler receives: built from the bridge's metadata, headers immutable as in workerd.
export function incomingRequest(method, url, headerPairs, bodyBytes, cf) {
  const request = Object.create(Request.prototype);
  const signal = createSignal();
  request[kRequest] = {
    method,
    url,
    redirect: "manual",
    signal,
    cf,
    headers: headersFromList(headerPairs, "immutable"),
  };
  request[kBody] = bodyBytes === null ? null : new BodyState(bodyBytes, null);
  return [request, () => abortSignal(signal)];
}

export function requestBodyState(request) {
  return request[kBody];
}
