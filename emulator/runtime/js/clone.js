// structuredClone() as workerd has it (global-scope.c++ -> jsg/ser.c++: V8's ValueSerializer plus workerd's
// host objects), with a recent compatibility date ("enhanced_error_serialization", 2026-04-21):
//   - primitives, boxed primitives, Date, RegExp, Map, Set, arrays (holes kept), ArrayBuffer, typed arrays and
//     DataView (views of one buffer still share the cloned buffer), and shared references and cycles;
//   - any other object is cloned as a plain object of its own enumerable string-keyed properties (getters
//     run), so a class instance loses its prototype, as the HTML standard says;
//   - errors keep their type (by name), message and own properties (stack, cause, ...); an unknown name is
//     kept as an own `name` on an Error;
//   - DOMException, Headers and Blob are cloned; other runtime objects throw DataCloneError;
//   - functions, symbols, Promise, WeakMap, WeakSet, WeakRef and FinalizationRegistry throw DataCloneError;
//   - `transfer` takes ArrayBuffers (or views, meaning their buffer): the clone gets their memory and they are
//     detached; a repeated entry is ignored, anything else is a TypeError.
import { DOMException } from "./events.js";
import { RESOURCE_TYPE } from "./inspect.js";
import { Headers } from "./headers.js";
import { Blob, File } from "./blob.js";

const ERROR_TYPES = new Map(
  [Error, TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError, AggregateError].map((T) => [T.name, T]),
);
// SpiderMonkey's own error properties: kept as they were (non-enumerable), like V8's stack.
const ERROR_INTERNALS = new Set(["stack", "cause", "fileName", "lineNumber", "columnNumber"]);
const UNCLONEABLE = [Promise, WeakMap, WeakSet, WeakRef, FinalizationRegistry];

const TYPED_ARRAYS = Object.fromEntries(
  [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
    Float64Array, BigInt64Array, BigUint64Array, ...(typeof Float16Array === "function" ? [Float16Array] : [])].map((T) => [T.name, T]),
);
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;

function dataCloneError(message) {
  return new DOMException(message, "DataCloneError");
}

function isArrayBuffer(value) {
  if (!(value instanceof ArrayBuffer)) return false;
  try {
    arrayBufferByteLength.call(value);
    return true;
  } catch {
    return false;
  }
}

export function structuredClone(value = undefined, options = undefined) {
  const transfers = new Map(); // original ArrayBuffer -> its transferred memory, once taken
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" && typeof options !== "function") {
      throw new TypeError("Failed to execute 'structuredClone' on 'ServiceWorkerGlobalScope': parameter 2 is not of type 'StructuredSerializeOptions'.");
    }
    if (options.transfer !== undefined) {
      for (const item of options.transfer) {
        const buffer = ArrayBuffer.isView(item) ? item.buffer : isArrayBuffer(item) ? item : null;
        if (buffer === null) throw new TypeError("Object is not transferable");
        if (buffer.detached) throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
        transfers.set(buffer, null);
      }
    }
  }
  const clone = new Cloner(transfers).clone(value);
  // Buffers in the transfer list that the value never reached are detached all the same.
  for (const [buffer, taken] of transfers) if (taken === null) buffer.transfer();
  return clone;
}

class Cloner {
  constructor(transfers) {
    this.transfers = transfers;
    this.memory = new Map();
  }

  clone(value) {
    const type = typeof value;
    if (type === "symbol") throw dataCloneError(`${String(value)} could not be cloned.`);
    if (type === "function") throw dataCloneError(`${Function.prototype.toString.call(value)} could not be cloned.`);
    if (type !== "object" || value === null) return value;
    const seen = this.memory.get(value);
    if (seen !== undefined) return seen;
    return this.cloneObject(value);
  }

  remember(original, copy) {
    this.memory.set(original, copy);
    return copy;
  }

  cloneObject(value) {
    if (value instanceof DOMException) return this.cloneDOMException(value);
    if (value[RESOURCE_TYPE] === true) return this.cloneResource(value);
    if (Array.isArray(value)) return this.copyProperties(value, this.remember(value, new Array(value.length)));
    if (isArrayBuffer(value)) return this.cloneArrayBuffer(value);
    if (ArrayBuffer.isView(value)) return this.cloneView(value);
    if (value instanceof Error || Object.prototype.toString.call(value) === "[object Error]") return this.cloneError(value);
    if (value instanceof Date) return this.remember(value, new Date(Date.prototype.getTime.call(value)));
    if (value instanceof RegExp) return this.remember(value, new RegExp(value.source, value.flags));
    if (value instanceof Map) {
      const copy = this.remember(value, new Map());
      for (const [k, v] of [...Map.prototype.entries.call(value)]) copy.set(this.clone(k), this.clone(v));
      return copy;
    }
    if (value instanceof Set) {
      const copy = this.remember(value, new Set());
      for (const v of [...Set.prototype.values.call(value)]) copy.add(this.clone(v));
      return copy;
    }
    if (value instanceof Number) return this.remember(value, Object(Number.prototype.valueOf.call(value)));
    if (value instanceof String) return this.remember(value, Object(String.prototype.valueOf.call(value)));
    if (value instanceof Boolean) return this.remember(value, Object(Boolean.prototype.valueOf.call(value)));
    if (value instanceof BigInt) return this.remember(value, Object(BigInt.prototype.valueOf.call(value)));
    if (value instanceof Symbol) throw dataCloneError("#<Symbol> could not be cloned.");
    for (const Type of UNCLONEABLE) {
      if (value instanceof Type) throw dataCloneError(`#<${Type.name}> could not be cloned.`);
    }
    return this.copyProperties(value, this.remember(value, {}));
  }

  // Own enumerable string keys, read with [[Get]] (getters run) and defined on the copy as data properties.
  copyProperties(from, to) {
    for (const key of Object.keys(from)) {
      if (!Object.prototype.propertyIsEnumerable.call(from, key)) continue; // removed by an earlier getter
      const value = this.clone(from[key]);
      Object.defineProperty(to, key, { value, writable: true, enumerable: true, configurable: true });
    }
    return to;
  }

  cloneArrayBuffer(buffer) {
    if (this.transfers.has(buffer)) {
      const moved = buffer.transfer();
      this.transfers.set(buffer, moved);
      return this.remember(buffer, moved);
    }
    if (buffer.detached) throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
    if (buffer.resizable) {
      const copy = new ArrayBuffer(buffer.byteLength, { maxByteLength: buffer.maxByteLength });
      new Uint8Array(copy).set(new Uint8Array(buffer));
      return this.remember(buffer, copy);
    }
    return this.remember(buffer, buffer.slice(0));
  }

  cloneView(view) {
    // Read the view's shape before its buffer is cloned: transferring the buffer detaches the view.
    const isDataView = view instanceof DataView;
    const { byteOffset } = view;
    const length = isDataView ? view.byteLength : view.length;
    const buffer = this.clone(view.buffer);
    const copy = isDataView
      ? new DataView(buffer, byteOffset, length)
      : new TYPED_ARRAYS[typedArrayTag.call(view)](buffer, byteOffset, length);
    return this.remember(view, copy);
  }

  cloneError(error) {
    const name = `${error.name}`;
    const message = error.message;
    if (message !== undefined && typeof message !== "string") {
      throw dataCloneError("Deserialization failed: error message is not a string");
    }
    const Type = ERROR_TYPES.get(name);
    const copy = Type === AggregateError ? new AggregateError([], message) : new (Type ?? Error)(message);
    this.remember(error, copy);
    if (Type === undefined) Object.defineProperty(copy, "name", { value: name, writable: true, enumerable: false, configurable: true });
    for (const key of ["fileName", "lineNumber", "columnNumber"]) delete copy[key];
    const keys = Object.getOwnPropertyNames(error).filter((key) => key !== "name" && key !== "message" && !/^(0|[1-9]\d*)$/.test(key));
    if (!keys.includes("stack") && typeof error.stack === "string") keys.unshift("stack");
    for (const key of keys) {
      const value = this.clone(error[key]);
      Object.defineProperty(copy, key, { value, writable: true, enumerable: !ERROR_INTERNALS.has(key), configurable: true });
    }
    return copy;
  }

  cloneDOMException(error) {
    const copy = this.remember(error, new DOMException(error.message, error.name));
    if (typeof error.stack === "string") Object.defineProperty(copy, "stack", { value: error.stack, writable: true, configurable: true });
    return copy;
  }

  // workerd serializes Headers (with its guard) and Blob; File and every other runtime object it refuses.
  cloneResource(value) {
    if (value instanceof Headers) return this.remember(value, new Headers(value));
    if (value instanceof Blob && !(value instanceof File)) return this.remember(value, new Blob([value], { type: value.type }));
    const name = value.constructor?.name ?? "Object";
    throw dataCloneError(`Could not serialize object of type "${name}". This type does not support serialization.`);
  }
}
