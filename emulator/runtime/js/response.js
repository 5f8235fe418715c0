// Fetch "Response" as Workers has it: `webSocket`, `cf`, status 101 allowed only with a webSocket, and
// immutable headers on responses that came from fetch().
import { BodyState, bodyUsed, cloneBody, extractBody, kBody, mixinBody } from "./body.js";
import { Headers, headerList, headersFromList, kGuard } from "./headers.js";

export const kResponse = Symbol("response state");

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

export class Response {
  constructor(body = null, init = undefined) {
    init = init ?? {};
    const status = init.status === undefined ? 200 : Number(init.status);
    const webSocket = init.webSocket ?? null;
    if (!Number.isInteger(status) || ((status < 200 || status > 599) && !(status === 101 && webSocket !== null))) {
      throw new RangeError(`Responses may only be constructed with status codes in the range 200 to 599, inclusive.`);
    }
    const statusText = init.statusText === undefined ? "" : String(init.statusText);
    if (!REASON.test(statusText)) throw new TypeError("Invalid statusText.");

    const headers = new Headers(init.headers);
    let state = null;
    if (body !== null && body !== undefined) {
      if (NULL_BODY_STATUS.has(status)) {
        throw new TypeError(`Response with null body status (${status}) cannot have a body.`);
      }
      const [extracted, contentType] = extractBody(body);
      state = extracted;
      if (contentType !== null && !headers.has("content-type")) headers.append("content-type", contentType);
    }
    headers[kGuard] = "response";
    this[kResponse] = { status, statusText, headers, url: "", redirected: false, type: "default", webSocket, cf: init.cf, urlList: [] };
    this[kBody] = state;
  }

  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("The data is not JSON serializable.");
    const headers = new Headers(init?.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(text, { ...init, headers });
  }

  static redirect(url, status = 302) {
    let href;
    try {
      href = new URL(String(url)).href;
    } catch {
      throw new TypeError(`Invalid URL: ${String(url)}`);
    }
    status = Number(status);
    if (!REDIRECT_STATUS.has(status)) {
      throw new RangeError(`Invalid status code: ${status}. Status code must be one of 301, 302, 303, 307, 308.`);
    }
    const response = new Response(null, { status });
    response.headers.set("location", href);
    return response;
  }

  static error() {
    const response = new Response(null, { status: 200 });
    const state = response[kResponse];
    state.status = 0;
    state.type = "error";
    state.headers[kGuard] = "immutable";
    return response;
  }

  get status() { return this[kResponse].status; }
  get statusText() { return this[kResponse].statusText; }
  get ok() { return this[kResponse].status >= 200 && this[kResponse].status <= 299; }
  get headers() { return this[kResponse].headers; }
  get url() { return this[kResponse].url; }
  get redirected() { return this[kResponse].redirected; }
  get type() { return this[kResponse].type; }
  get webSocket() { return this[kResponse].webSocket; }
  get cf() { return this[kResponse].cf; }

  clone() {
    if (bodyUsed(this)) throw new TypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    const copy = Object.create(Response.prototype);
    const state = this[kResponse];
    const headers = headersFromList(headerList(state.headers).map(([n, v]) => [n, v]), state.headers[kGuard]);
    copy[kResponse] = { ...state, headers };
    copy[kBody] = cloneBody(this);
    return copy;
  }

  get [Symbol.toStringTag]() {
    return "Response";
  }
}
mixinBody(Response);

// A response from fetch(): headers immutable, url and redirected set, body bytes or a stream.
export function fetchedResponse({ status, statusText, headers, url, redirected, body }) {
  const response = Object.create(Response.prototype);
  response[kResponse] = {
    status,
    statusText,
    headers: headersFromList(headers, "immutable"),
    url,
    redirected,
    type: "default",
    webSocket: null,
    cf: undefined,
  };
  response[kBody] = body === null ? null : body instanceof Uint8Array ? new BodyState(body, null) : new BodyState(null, body);
  return response;
}

export function responseParts(response) {
  const state = response[kResponse];
  return { status: state.status, statusText: state.statusText, headers: headerList(state.headers), body: response[kBody] };
}

