// DurableObjectNamespace: env.<binding> for a durable_objects binding whose class is a Container or Sandbox
// (issue 4 part 6). Ids come from names as production derives them (a hash, so an id names one object for
// good); a stub's methods are RPC calls to the emulator (emulator/runtime/env/durable_objects.py), which owns
// the sandboxes: the ten egress methods of @cloudflare/containers (contract §1.5, with its errors verbatim) and
// the Sandbox SDK's exec, writeFile, readFile and gitCheckout.
import { readAll } from "../body.js";
import { ReadableStream } from "../streams.js";
import { sha256Hex } from "../sha256.js";
import { encodeUtf8 } from "../utf8.js";
import { callBinding } from "./rpc.js";

// workerd's ActorIdFactoryImpl (src/workerd/server/server.c++), verbatim.
const NOT_HEX = "Invalid Durable Object ID: must be 64 hex digits";
const OTHER_NAMESPACE = "Durable Object ID is not valid for this namespace.";
const HEX_ID = /^[0-9a-fA-F]{64}$/;

export const RUNTIME_METHODS = [
  "setOutboundHandler", "setOutboundByHost", "removeOutboundByHost", "setOutboundByHosts", "setAllowedHosts",
  "setDeniedHosts", "allowHost", "denyHost", "removeAllowedHost", "removeDeniedHost",
];

// The same text as Python's emulator.sandbox.container_id(export_name, name).
export function durableObjectId(exportName, name) {
  return sha256Hex(`outbound-durable-object:${exportName}:${name}`);
}

const kNamespace = Symbol("namespace");
const kName = Symbol("name"); // known to this process even for an id from idFromString

export class DurableObjectId {
  #hex;

  constructor(token, namespace, hex, name, knownName) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#hex = hex;
    this[kNamespace] = namespace;
    this[kName] = knownName;
    // workerd sets `name` only on ids made by idFromName.
    Object.defineProperty(this, "name", { value: name, enumerable: true });
  }

  toString() {
    return this.#hex;
  }

  equals(other) {
    return other instanceof DurableObjectId && other.toString() === this.#hex;
  }
}

const INTERNAL = Symbol("internal construction");

export class DurableObjectNamespace {
  #binding;
  #exportName;
  #names = new Map(); // hex id -> name, for ids this process derived

  constructor(binding, exportName) {
    this.#binding = binding;
    this.#exportName = exportName;
  }

  idFromName(name) {
    const text = `${name}`;
    const hex = durableObjectId(this.#exportName, text);
    this.#names.set(hex, text);
    return new DurableObjectId(INTERNAL, this, hex, text, text);
  }

  idFromString(text) {
    const hex = `${text}`;
    if (!HEX_ID.test(hex)) throw new TypeError(NOT_HEX);
    const lower = hex.toLowerCase();
    return new DurableObjectId(INTERNAL, this, lower, undefined, this.#names.get(lower));
  }

  newUniqueId() {
    throw new Error(
      `env.${this.#binding}.newUniqueId() is not supported by outbound: its sandboxes are named. ` +
        "Use idFromName(name), getByName(name) or getSandbox(ns, id).",
    );
  }

  get(id) {
    if (!(id instanceof DurableObjectId) || id[kNamespace] !== this) throw new TypeError(OTHER_NAMESPACE);
    return sandboxStub(this.#binding, id);
  }

  getByName(name) {
    return this.get(this.idFromName(name));
  }
}

// A stub's calls: the RPC carries the id and, when this process knows it, the name (the sandbox's id in the
// emulator); the emulator finds the name of an id from idFromString among the sandboxes it knows.
function sandboxStub(binding, id) {
  const target = { id: id.toString(), name: id[kName] };
  const callWithBytes = (method, args, body = null) =>
    callBinding(binding, method, { ...target, args: trimUndefined(args) }, body);
  const call = async (method, args, body = null) => (await callWithBytes(method, args, body))[0];
  const methods = { fetch: unsupported("fetch") };
  for (const method of RUNTIME_METHODS) {
    methods[method] = async (...args) => {
      await call(method, args);
    };
  }
  Object.assign(methods, {
    async exec(command, options = {}) {
      const { onOutput, onComplete, onError, signal, ...rest } = options ?? {};
      signal?.throwIfAborted?.();
      let result;
      try {
        result = await call("exec", [`${command}`, rest]);
      } catch (error) {
        if (typeof onError === "function") onError(error);
        throw error;
      }
      // The command's output arrives when it ends: the callbacks run then, not while it runs.
      if (typeof onOutput === "function") {
        if (result.stdout) onOutput("stdout", result.stdout);
        if (result.stderr) onOutput("stderr", result.stderr);
      }
      if (typeof onComplete === "function") onComplete(result);
      return result;
    },
    async writeFile(path, content, options = {}) {
      const { encoding } = options ?? {};
      if (content instanceof ReadableStream) {
        return call("writeFile", [`${path}`, null, { encoding: "bytes" }], await readAll(content));
      }
      if (typeof content !== "string") throw new TypeError("writeFile() content must be a string or a ReadableStream");
      return call("writeFile", [`${path}`, null, { encoding }], encodeUtf8(content));
    },
    async readFile(path, options = {}) {
      const { encoding } = options ?? {};
      const [result, bytes] = await callWithBytes("readFile", [`${path}`, { encoding }]);
      // encoding "none": the content as a stream of the file's bytes (the SDK's RPC transport).
      if (encoding === "none") result.content = bytesStream(bytes);
      return result;
    },
    async gitCheckout(repoUrl, options = {}) {
      const { branch, targetDir, depth, cloneTimeoutMs } = options ?? {};
      return call("gitCheckout", [`${repoUrl}`, { branch, targetDir, depth, cloneTimeoutMs }]);
    },
  });
  return new Proxy(methods, {
    get(object, property) {
      if (property === "id") return id;
      if (property === "name") return id.name;
      // Not methods: what `await stub` and JSON.stringify(stub) look for.
      if (typeof property !== "string" || property === "then" || property === "toJSON") return undefined;
      if (Object.hasOwn(object, property)) return object[property];
      return unsupported(property);
    },
  });
}

function bytesStream(bytes) {
  return new ReadableStream({
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

function unsupported(method) {
  return async () => {
    throw new Error(
      `${method}() is not emulated by outbound: a sandbox stub supports ${RUNTIME_METHODS.join(", ")}, ` +
        "exec, writeFile, readFile and gitCheckout.",
    );
  };
}

// An argument left undefined is an argument not given: `setOutboundHandler("x", undefined)` stores no params,
// which the handler then sees as ctx.params === undefined, as in production (JSON has no undefined).
function trimUndefined(args) {
  const list = [...args];
  while (list.length > 0 && list[list.length - 1] === undefined) list.pop();
  return list;
}
