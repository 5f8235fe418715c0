// Fetch "Response" as workerd has it (src/workerd/api/http.c++, Response::constructor and friends):
// `webSocket` and `cf`; status 200-599 (101 only with a webSocket); statusText defaulting to the status's
// reason phrase; a zero-length buffer accepted as "no body" for null-body statuses; immutable headers on
// fetch() results and on Response.redirect().
import { cloneBody, extractBody, kBody, mixinBody } from "./body.js";
import { Headers, copyHeaders, hasHeader, headerList, headersFromList } from "./headers.js";
import { cloneCf } from "./request.js";

export const kResponse = Symbol("response state");

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

const STATUS_RANGE = "Responses may only be constructed with status codes in the range 200 to 599, inclusive.";
const NULL_BODY = "Response with null body status (101, 204, 205, or 304) cannot have a body.";

// workerd's defaultStatusText(): RFC 7231 phrases, else the class of the status.
const STATUS_TEXT = {
  0: "", 100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked",
  424: "Failed Dependency", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
  507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
};

export function defaultStatusText(status) {
  const text = STATUS_TEXT[status];
  if (text !== undefined) return text;
  if (status >= 200 && status < 300) return "Successful";
  if (status >= 300 && status < 400) return "Redirection";
  if (status >= 400 && status < 500) return "Client Error";
  if (status >= 500 && status < 600) return "Server Error";
  return "";
}

// WebIDL `long`: NaN and infinities become 0, the rest is truncated modulo 2^32.
function toLong(value) {
  return Number(value) | 0;
}

function isDictionary(value) {
  return value !== null && (typeof value === "object" || typeof value === "function");
}

function newState(status, statusText, headers, cf, webSocket, encodeBody) {
  return { status, statusText, headers, cf, webSocket, encodeBody, url: "", redirected: false };
}

export class Response {
  constructor(body = undefined, init = undefined) {
    let status = 200;
    let statusText = null; // null: the default phrase for the status
    let headers;
    let cf;
    let webSocket = null;
    let encodeBody = "automatic";
    if (init instanceof Response) {
      // Another Response as init is read like a dictionary of its fields.
      const other = init[kResponse];
      status = other.status;
      encodeBody = other.encodeBody;
      if (other.statusText !== null && other.statusText !== defaultStatusText(status)) statusText = other.statusText;
      headers = copyHeaders(other.headers, "none");
      cf = cloneCf(other.cf);
      webSocket = other.webSocket;
    } else if (init !== undefined && init !== null) {
      if (!isDictionary(init)) {
        throw new TypeError("Failed to construct 'Response': The provided value is not of type 'ResponseInit'.");
      }
      if (init.status !== undefined) status = toLong(init.status);
      if (init.statusText !== undefined) statusText = `${init.statusText}`;
      if (init.encodeBody !== undefined) {
        const encoding = `${init.encodeBody}`;
        if (encoding !== "manual" && encoding !== "automatic") throw new TypeError(`encodeBody: unexpected value: ${encoding}`);
        encodeBody = encoding;
      }
      headers = init.headers !== undefined ? new Headers(init.headers) : new Headers();
      if (init.cf !== undefined) cf = cloneCf(init.cf);
      webSocket = init.webSocket ?? null;
    } else {
      headers = new Headers();
    }

    if (webSocket === null) {
      if (status < 200 || status > 599) throw new RangeError(STATUS_RANGE);
    } else if (status !== 101) {
      throw new RangeError("Responses with a WebSocket must have status code 101.");
    }
    // Control characters (CR and LF above all) would let a handler inject header lines.
    if (statusText !== null && /[\x00-\x1f]/.test(statusText)) throw new TypeError("Invalid statusText");

    let state = null;
    let contentType = null;
    if (body !== undefined && body !== null) {
      [state, contentType] = extractBody(body);
      if (NULL_BODY_STATUS.has(status)) {
        // workerd still accepts a zero-length buffer here (and treats it as no body), as its beta did.
        if (state.source === null || state.source.byteLength !== 0) throw new TypeError(NULL_BODY);
        state = null;
        contentType = null;
      }
    }
    if (contentType !== null && !hasHeader(headers, "content-type")) headers.append("content-type", contentType);
    this[kResponse] = newState(status, statusText, headers, cf, webSocket, encodeBody);
    this[kBody] = state;
  }

  static json(data, init = undefined) {
    // V8's JSON::Stringify turns `undefined` into the text "undefined", so workerd sends that.
    const text = `${JSON.stringify(data)}`;
    let dict = init;
    if (init instanceof Response) {
      const other = init[kResponse];
      dict = {
        status: other.status,
        statusText: other.statusText !== null && other.statusText !== defaultStatusText(other.status) ? other.statusText : undefined,
        headers: other.headers,
        cf: other.cf,
        webSocket: other.webSocket,
        encodeBody: other.encodeBody,
      };
    } else if (init !== undefined && init !== null && !isDictionary(init)) {
      throw new TypeError("Failed to execute 'json' on 'Response': The provided value is not of type 'ResponseInit'.");
    }
    const headers = new Headers(dict?.headers);
    if (!hasHeader(headers, "content-type")) headers.append("content-type", "application/json");
    return new Response(text, {
      status: dict?.status,
      statusText: dict?.statusText,
      headers,
      cf: dict?.cf,
      webSocket: dict?.webSocket,
      encodeBody: dict?.encodeBody,
    });
  }

  static redirect(url, status = undefined) {
    const code = status === undefined ? 302 : toLong(status);
    if (!REDIRECT_STATUS.has(code)) {
      throw new RangeError(`${code} is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308.`);
    }
    const text = `${url}`;
    let href;
    try {
      href = new URL(text).href;
    } catch {
      throw new TypeError(`Unable to parse URL: ${text}`);
    }
    const response = Object.create(Response.prototype);
    response[kResponse] = newState(code, null, headersFromList([["location", href]], "immutable"), undefined, null, "automatic");
    response[kBody] = null;
    return response;
  }

  // A network error: status 0, no body; its (empty) headers stay mutable in workerd.
  static error() {
    const response = Object.create(Response.prototype);
    response[kResponse] = newState(0, null, new Headers(), undefined, null, "automatic");
    response[kBody] = null;
    return response;
  }

  get status() { return this[kResponse].status; }
  get statusText() { return this[kResponse].statusText ?? defaultStatusText(this[kResponse].status); }
  get ok() { return this[kResponse].status >= 200 && this[kResponse].status <= 299; }
  get headers() { return this[kResponse].headers; }
  get url() { return this[kResponse].url; }
  get redirected() { return this[kResponse].redirected; }
  get type() { return this[kResponse].status === 0 ? "error" : "default"; }
  get webSocket() { return this[kResponse].webSocket; }
  get cf() { return this[kResponse].cf; }

  clone() {
    const state = this[kResponse];
    if (state.webSocket !== null) throw new TypeError("Cannot clone a response to a WebSocket handshake.");
    const copy = Object.create(Response.prototype);
    const body = cloneBody(this);
    copy[kResponse] = { ...state, headers: copyHeaders(state.headers), cf: cloneCf(state.cf) };
    copy[kBody] = body;
    return copy;
  }

  get [Symbol.toStringTag]() {
    return "Response";
  }
}
mixinBody(Response);

// A response from fetch(): immutable headers (workerd's RESPONSE guard), the final URL and whether
// redirects were followed; `body` is a BodyState or null.
export function fetchedResponse({ status, statusText, headers, url, redirected, body }) {
  const response = Object.create(Response.prototype);
  const state = newState(status, statusText, headersFromList(headers, "immutable"), undefined, null, "automatic");
  state.url = url;
  state.redirected = redirected;
  response[kResponse] = state;
  response[kBody] = body;
  return response;
}

// What js/bridge.js sends back to the emulator for a handler's Response.
export function responseParts(response) {
  const state = response[kResponse];
  return {
    status: state.status,
    statusText: state.statusText ?? defaultStatusText(state.status),
    headers: headerList(state.headers),
    body: response[kBody],
    url: state.url,
  };
}
