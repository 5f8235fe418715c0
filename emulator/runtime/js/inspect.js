// What console.log prints. workerd formats console arguments with its port of Node's util.format/inspect
// (src/node/internal/internal_inspect.ts, formatLog), so `wrangler dev` shows Node's notation; this module
// reproduces that notation for SpiderMonkey values, written from Node's documented behaviour:
//   - breakLength 80, depth 2, compact 3, at most 100 array items and 10,000 string characters;
//   - Workers runtime objects (Headers, Request, Event, URL, ...) print as `Name { prop: value, ... }` from
//     their getters (workerd's "JSG resource type" inspection), map-like ones as `Headers(1) { 'a' => '1' }`;
//   - errors print their stack in V8's shape (`Error: message\n    at fn (file:line:col)`): SpiderMonkey's
//     own frames (`fn@file:line:col`) are rewritten and the runtime's frames are dropped.
// Differences that SpiderMonkey forces: a Promise's state cannot be read (`Promise { <unknown> }`), a Proxy
// cannot be detected, and iterators are not previewed. No other module is imported: tests load this file
// on its own.

// Marks the prototype of a Workers runtime class (js/index.js sets it on every global class the runtime
// installs); clone.js uses it too, to refuse such objects as workerd's serializer does.
export const RESOURCE_TYPE = Symbol.for("outbound.resourceType");

const DEFAULTS = {
  depth: 2,
  showHidden: false,
  breakLength: 80,
  compact: 3,
  maxArrayLength: 100,
  maxStringLength: 10000,
};

const kObjectType = 0;
const kArrayType = 1;
const kArrayExtrasType = 2;
const kMinLineLength = 16;

// The stack frames of the emulator's own runtime bundle (emulator/runtime/worker.py RUNTIME_FILENAME).
const RUNTIME_FILE = "outbound:runtime.js";

const TypedArray = Object.getPrototypeOf(Uint8Array);
const TooMuchRecursion = globalThis.InternalError ?? RangeError; // SpiderMonkey's; index.js deletes the global
const kEntries = Symbol("entries");
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArray.prototype, Symbol.toStringTag).get;
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;

let builtInNames = null;
// The global classes (Node's "builtInObjects"), read on first use so that the runtime's globals count.
function builtIns() {
  if (builtInNames === null) {
    builtInNames = new Set(Object.getOwnPropertyNames(globalThis).filter((name) => /^[A-Z][a-zA-Z0-9]+$/.test(name)));
  }
  return builtInNames;
}

export function inspect(value, options = undefined) {
  const ctx = {
    ...DEFAULTS,
    seen: [],
    circular: undefined,
    indentationLvl: 0,
    currentDepth: 0,
    budget: {},
  };
  if (options !== undefined) {
    for (const key of Object.keys(options)) if (key in DEFAULTS) ctx[key] = options[key];
  }
  if (ctx.depth === null) ctx.depth = Infinity;
  if (ctx.maxArrayLength === null) ctx.maxArrayLength = Infinity;
  if (ctx.maxStringLength === null) ctx.maxStringLength = Infinity;
  return formatValue(ctx, value, 0);
}

// util.format(): printf-style placeholders in a first string argument, then every other argument inspected.
export function format(...args) {
  return formatWithOptions(undefined, args);
}

export function formatWithOptions(inspectOptions, args) {
  const first = args[0];
  let a = 0;
  let str = "";
  let join = "";
  if (typeof first === "string") {
    if (args.length === 1) return first;
    let lastPos = 0;
    let tempStr;
    for (let i = 0; i < first.length - 1; i++) {
      if (first.charCodeAt(i) !== 37) continue; // '%'
      const next = first.charCodeAt(++i);
      if (a + 1 !== args.length) {
        switch (next) {
          case 115: { // %s
            const arg = args[++a];
            if (typeof arg === "number") tempStr = formatNumber(arg);
            else if (typeof arg === "bigint") tempStr = `${arg}n`;
            else if (typeof arg !== "object" || arg === null || !hasBuiltInToString(arg)) tempStr = String(arg);
            else tempStr = inspect(arg, { ...inspectOptions, compact: 3, depth: 0 });
            break;
          }
          case 106: // %j
            tempStr = tryStringify(args[++a]);
            break;
          case 100: { // %d
            const arg = args[++a];
            if (typeof arg === "bigint") tempStr = `${arg}n`;
            else if (typeof arg === "symbol") tempStr = "NaN";
            else tempStr = formatNumber(Number(arg));
            break;
          }
          case 79: // %O
            tempStr = inspect(args[++a], inspectOptions);
            break;
          case 111: // %o
            tempStr = inspect(args[++a], { ...inspectOptions, showHidden: true, depth: 4 });
            break;
          case 105: { // %i
            const arg = args[++a];
            if (typeof arg === "bigint") tempStr = `${arg}n`;
            else if (typeof arg === "symbol") tempStr = "NaN";
            else tempStr = formatNumber(Number.parseInt(arg));
            break;
          }
          case 102: { // %f
            const arg = args[++a];
            tempStr = typeof arg === "symbol" ? "NaN" : formatNumber(Number.parseFloat(arg));
            break;
          }
          case 99: // %c: CSS, dropped
            a += 1;
            tempStr = "";
            break;
          case 37: // %%
            str += first.slice(lastPos, i);
            lastPos = i + 1;
            continue;
          default:
            continue;
        }
        if (lastPos !== i - 1) str += first.slice(lastPos, i - 1);
        str += tempStr;
        lastPos = i + 1;
      } else if (next === 37) {
        str += first.slice(lastPos, i);
        lastPos = i + 1;
      }
    }
    if (lastPos !== 0) {
      a++;
      join = " ";
      if (lastPos < first.length) str += first.slice(lastPos);
    }
  }
  while (a < args.length) {
    const value = args[a];
    str += join;
    str += typeof value !== "string" ? inspect(value, inspectOptions) : value;
    join = " ";
    a++;
  }
  return str;
}

function tryStringify(value) {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof TypeError && /cyclic|circular/i.test(error.message)) return "[Circular]";
    throw error;
  }
}

function hasBuiltInToString(value) {
  if (typeof value.toString !== "function") return true;
  if (Object.prototype.hasOwnProperty.call(value, "toString")) return false;
  let pointer = value;
  do {
    pointer = Object.getPrototypeOf(pointer);
  } while (pointer !== null && !Object.prototype.hasOwnProperty.call(pointer, "toString"));
  if (pointer === null) return true;
  const descriptor = Object.getOwnPropertyDescriptor(pointer, "constructor");
  return descriptor !== undefined && typeof descriptor.value === "function" && builtIns().has(descriptor.value.name);
}

// ---- primitives ---------------------------------------------------------------------------------------

function formatNumber(number) {
  return Object.is(number, -0) ? "-0" : `${number}`;
}

const ESCAPES = new Map([
  [8, "\\b"], [9, "\\t"], [10, "\\n"], [11, "\\x0B"], [12, "\\f"], [13, "\\r"], [39, "\\'"], [92, "\\\\"],
]);

function escapeChar(code) {
  const known = ESCAPES.get(code);
  if (known !== undefined) return known;
  if (code < 0x20 || (code > 0x7e && code < 0xa0)) return `\\x${code.toString(16).toUpperCase().padStart(2, "0")}`;
  return `\\u${code.toString(16)}`;
}

// Node's quoting: single quotes, unless the string has one and lacks double quotes (then double quotes),
// or has both and lacks backticks (then backticks). Control characters and lone surrogates are escaped.
export function quoteString(str) {
  let quote = 39;
  if (str.includes("'")) {
    if (!str.includes('"')) quote = 34;
    else if (!str.includes("`") && !str.includes("${")) quote = 96;
  }
  let result = "";
  let last = 0;
  for (let i = 0; i < str.length; i++) {
    const code = str.charCodeAt(i);
    if ((code === 39 && quote === 39) || code === 92 || code < 32 || (code > 126 && code < 160)) {
      result += str.slice(last, i) + escapeChar(code);
      last = i + 1;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      if (code <= 0xdbff && i + 1 < str.length) {
        const next = str.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
      }
      result += `${str.slice(last, i)}\\u${code.toString(16)}`;
      last = i + 1;
    }
  }
  result += str.slice(last);
  const q = String.fromCharCode(quote);
  return q + result + q;
}

function formatPrimitive(value, ctx) {
  switch (typeof value) {
    case "string": {
      let trailer = "";
      if (value.length > ctx.maxStringLength) {
        const remaining = value.length - ctx.maxStringLength;
        value = value.slice(0, ctx.maxStringLength);
        trailer = `... ${remaining} more character${remaining > 1 ? "s" : ""}`;
      }
      if (value.length > kMinLineLength && value.length > ctx.breakLength - ctx.indentationLvl - 4) {
        return (
          value
            .split(/(?<=\n)/)
            .map((line) => quoteString(line))
            .join(` +\n${" ".repeat(ctx.indentationLvl + 2)}`) + trailer
        );
      }
      return quoteString(value) + trailer;
    }
    case "number":
      return formatNumber(value);
    case "bigint":
      return `${value}n`;
    case "boolean":
      return `${value}`;
    case "undefined":
      return "undefined";
    default:
      return Symbol.prototype.toString.call(value);
  }
}

// ---- type checks (instanceof first, then a brand check so a lookalike prototype does not fool them) ----

function branded(value, Type, check) {
  if (!(value instanceof Type)) return false;
  try {
    check.call(value);
    return true;
  } catch {
    return false;
  }
}

const getter = (proto, key) => Object.getOwnPropertyDescriptor(proto, key).get;
const isMap = (v) => branded(v, Map, getter(Map.prototype, "size"));
const isSet = (v) => branded(v, Set, getter(Set.prototype, "size"));
const isDate = (v) => branded(v, Date, Date.prototype.getTime);
const isRegExp = (v) => branded(v, RegExp, getter(RegExp.prototype, "source"));
const isArrayBuffer = (v) => branded(v, ArrayBuffer, getter(ArrayBuffer.prototype, "byteLength"));
const isDataView = (v) => branded(v, DataView, getter(DataView.prototype, "byteLength"));
const isTypedArray = (v) => typedArrayTag.call(v) !== undefined;
const isWeakMap = (v) => branded(v, WeakMap, WeakMap.prototype.has);
const isWeakSet = (v) => branded(v, WeakSet, WeakSet.prototype.has);
const isError = (v) => v instanceof Error || Object.prototype.toString.call(v) === "[object Error]";

function boxedType(v) {
  if (branded(v, Number, Number.prototype.valueOf)) return ["Number", Number.prototype.valueOf];
  if (branded(v, String, String.prototype.valueOf)) return ["String", String.prototype.valueOf];
  if (branded(v, Boolean, Boolean.prototype.valueOf)) return ["Boolean", Boolean.prototype.valueOf];
  if (branded(v, BigInt, BigInt.prototype.valueOf)) return ["BigInt", BigInt.prototype.valueOf];
  if (branded(v, Symbol, Symbol.prototype.valueOf)) return ["Symbol", Symbol.prototype.valueOf];
  return null;
}

// ---- objects ------------------------------------------------------------------------------------------

function formatValue(ctx, value, recurseTimes, typedArray = false) {
  if (typeof value !== "object" && typeof value !== "function") return formatPrimitive(value, ctx);
  if (value === null) return "null";

  if (ctx.seen.includes(value)) {
    let index = 1;
    if (ctx.circular === undefined) {
      ctx.circular = new Map([[value, index]]);
    } else {
      index = ctx.circular.get(value);
      if (index === undefined) {
        index = ctx.circular.size + 1;
        ctx.circular.set(value, index);
      }
    }
    return `[Circular *${index}]`;
  }

  if (isResource(value)) {
    const text = formatResource(ctx, value, recurseTimes);
    return ctx.indentationLvl === 0 ? text : text.replaceAll("\n", `\n${" ".repeat(ctx.indentationLvl)}`);
  }
  return formatRaw(ctx, value, recurseTimes, typedArray);
}

function isResource(value) {
  let marked;
  try {
    marked = value[RESOURCE_TYPE] === true;
  } catch {
    return false;
  }
  // A runtime class's prototype itself prints as a plain object.
  return marked && !(value.constructor && value.constructor.prototype === value);
}

function getConstructorName(obj) {
  let current = obj;
  while (current !== null) {
    const descriptor = Object.getOwnPropertyDescriptor(current, "constructor");
    if (descriptor !== undefined && typeof descriptor.value === "function" && descriptor.value.name !== "") {
      let isInstance = false;
      try {
        isInstance = obj instanceof descriptor.value;
      } catch {
        // a constructor with a throwing Symbol.hasInstance
      }
      if (isInstance) return String(descriptor.value.name);
    }
    current = Object.getPrototypeOf(current);
  }
  return null;
}

function getPrefix(constructor, tag, fallback, size = "") {
  if (constructor === null) {
    if (tag !== "" && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
    return `[${fallback}${size}: null prototype] `;
  }
  if (tag !== "" && constructor !== tag) return `${constructor}${size} [${tag}] `;
  return `${constructor}${size} `;
}

function getKeys(value, showHidden) {
  const symbols = Object.getOwnPropertySymbols(value);
  let keys;
  if (showHidden) {
    keys = Object.getOwnPropertyNames(value);
    keys.push(...symbols);
  } else {
    keys = Object.keys(value);
    for (const symbol of symbols) if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol);
  }
  return keys;
}

const isIndex = (key) => typeof key === "string" && /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1;

function getNonIndexKeys(value, showHidden) {
  return getKeys(value, showHidden).filter((key) => !isIndex(key));
}

function formatRaw(ctx, value, recurseTimes, typedArray) {
  const constructor = getConstructorName(value);
  let tag = "";
  try {
    tag = value[Symbol.toStringTag];
  } catch {
    tag = "";
  }
  if (
    typeof tag !== "string" ||
    (tag !== "" &&
      (ctx.showHidden ? Object.prototype.hasOwnProperty : Object.prototype.propertyIsEnumerable).call(value, Symbol.toStringTag))
  ) {
    tag = "";
  }
  let base = "";
  let formatter = () => [];
  let braces;
  let keys;
  let extrasType = kObjectType;
  let noIterator = true;

  const entries = Object.prototype.hasOwnProperty.call(value, kEntries) ? value[kEntries] : undefined;
  if (Symbol.iterator in value || constructor === null || entries !== undefined) {
    noIterator = false;
    if (entries !== undefined) {
      // A runtime object's record with entries (formatResource): printed like a Map.
      const prefix = getPrefix(constructor, tag, "Object", `(${entries.length})`);
      keys = getKeys(value, ctx.showHidden).filter((key) => key !== kEntries && key !== "size");
      formatter = (c, v, r) => formatMap(c, entries, r, entries.length);
      if (entries.length === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, "}"];
    } else if (Array.isArray(value)) {
      const prefix = constructor !== "Array" || tag !== "" ? getPrefix(constructor, tag, "Array", `(${value.length})`) : "";
      keys = getNonIndexKeys(value, ctx.showHidden);
      braces = [`${prefix}[`, "]"];
      if (value.length === 0 && keys.length === 0) return `${braces[0]}]`;
      extrasType = kArrayExtrasType;
      formatter = formatArray;
    } else if (isSet(value)) {
      const size = getter(Set.prototype, "size").call(value);
      const prefix = getPrefix(constructor, tag, "Set", `(${size})`);
      keys = getKeys(value, ctx.showHidden);
      formatter = (c, v, r) => formatSet(c, Set.prototype.values.call(v), r, size);
      if (size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, "}"];
    } else if (isMap(value)) {
      const size = getter(Map.prototype, "size").call(value);
      const prefix = getPrefix(constructor, tag, "Map", `(${size})`);
      keys = getKeys(value, ctx.showHidden);
      formatter = (c, v, r) => formatMap(c, Map.prototype.entries.call(v), r, size);
      if (size === 0 && keys.length === 0) return `${prefix}{}`;
      braces = [`${prefix}{`, "}"];
    } else if (isTypedArray(value)) {
      keys = getNonIndexKeys(value, ctx.showHidden);
      const size = value.length;
      const fallback = constructor === null ? typedArrayTag.call(value) : "";
      const prefix = getPrefix(constructor, tag, fallback, `(${size})`);
      braces = [`${prefix}[`, "]"];
      if (size === 0 && keys.length === 0 && !ctx.showHidden) return `${braces[0]}]`;
      formatter = formatTypedArray;
      extrasType = kArrayExtrasType;
    } else {
      noIterator = true;
    }
  }
  if (noIterator) {
    keys = getKeys(value, ctx.showHidden);
    braces = ["{", "}"];
    if (constructor === "Object") {
      if (tag !== "") braces[0] = `${getPrefix(constructor, tag, "Object")}{`;
      if (keys.length === 0) return `${braces[0]}}`;
    } else if (typeof value === "function") {
      base = getFunctionBase(value, constructor, tag);
      if (ctx.showHidden) keys = keys.filter((key) => key !== "arguments" && key !== "caller");
      if (keys.length === 0) return base;
    } else if (isRegExp(value)) {
      base = RegExp.prototype.toString.call(value);
      const prefix = getPrefix(constructor, tag, "RegExp");
      if (prefix !== "RegExp ") base = `${prefix}${base}`;
      if (ctx.showHidden) keys = keys.filter((key) => key !== "lastIndex");
      if (keys.length === 0 || recurseTimes > ctx.depth) return base;
    } else if (isDate(value)) {
      base = Number.isNaN(Date.prototype.getTime.call(value))
        ? Date.prototype.toString.call(value)
        : Date.prototype.toISOString.call(value);
      const prefix = getPrefix(constructor, tag, "Date");
      if (prefix !== "Date ") base = `${prefix}${base}`;
      if (keys.length === 0) return base;
    } else if (isError(value)) {
      keys = keys.filter((key) => key !== "fileName" && key !== "lineNumber" && key !== "columnNumber");
      base = formatError(value, constructor, tag, ctx, keys);
      if (keys.length === 0) return base;
    } else if (isArrayBuffer(value)) {
      const prefix = getPrefix(constructor, tag, "ArrayBuffer");
      if (!typedArray) {
        formatter = formatArrayBuffer;
      } else if (keys.length === 0) {
        return `${prefix}{ byteLength: ${formatNumber(value.byteLength)} }`;
      }
      braces[0] = `${prefix}{`;
      keys.unshift("byteLength");
    } else if (isDataView(value)) {
      braces[0] = `${getPrefix(constructor, tag, "DataView")}{`;
      keys.unshift("byteLength", "byteOffset", "buffer");
    } else if (value instanceof Promise) {
      braces[0] = `${getPrefix(constructor, tag, "Promise")}{`;
      formatter = () => ["<unknown>"];
    } else if (isWeakSet(value)) {
      braces[0] = `${getPrefix(constructor, tag, "WeakSet")}{`;
      formatter = () => ["<items unknown>"];
    } else if (isWeakMap(value)) {
      braces[0] = `${getPrefix(constructor, tag, "WeakMap")}{`;
      formatter = () => ["<items unknown>"];
    } else {
      const boxed = boxedType(value);
      if (boxed !== null) {
        base = getBoxedBase(value, ctx, keys, constructor, tag, boxed);
        if (keys.length === 0) return base;
      } else {
        const style = getPrefix(constructor, tag, constructor === null ? "Object" : "");
        if (keys.length === 0) return `${style}{}`;
        braces[0] = `${style}{`;
      }
    }
  }

  if (recurseTimes > ctx.depth) {
    let name = getPrefix(constructor, tag, constructor === null ? "Object" : "").slice(0, -1);
    if (constructor !== null) name = `[${name}]`;
    return name;
  }
  recurseTimes += 1;
  ctx.seen.push(value);
  ctx.currentDepth = recurseTimes;
  let output;
  try {
    output = formatter(ctx, value, recurseTimes);
    for (const key of keys) output.push(formatProperty(ctx, value, recurseTimes, key, extrasType));
  } catch (error) {
    ctx.seen.pop();
    if (error instanceof TooMuchRecursion || error instanceof RangeError) {
      const name = getPrefix(constructor, tag, "Object").slice(0, -1);
      return `[${name}: Inspection interrupted prematurely. Maximum call stack size exceeded.]`;
    }
    throw error;
  }
  if (ctx.circular !== undefined) {
    const index = ctx.circular.get(value);
    if (index !== undefined) base = base === "" ? `<ref *${index}>` : `<ref *${index}> ${base}`;
  }
  ctx.seen.pop();
  return reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
}

function getBoxedBase(value, ctx, keys, constructor, tag, [type, valueOf]) {
  if (type === "String") keys.splice(0, value.length);
  let base = `[${type}`;
  if (type !== constructor) base += constructor === null ? " (null prototype)" : ` (${constructor})`;
  const primitive = valueOf.call(value);
  base += `: ${formatPrimitive(primitive, { ...ctx, breakLength: Infinity })}]`;
  if (tag !== "" && tag !== constructor) base += ` [${tag}]`;
  return base;
}

function getFunctionBase(value, constructor, tag) {
  let source = "";
  try {
    source = Function.prototype.toString.call(value);
  } catch {
    // not a real function
  }
  if (source.startsWith("class") && source.endsWith("}")) {
    const name = (Object.prototype.hasOwnProperty.call(value, "name") && value.name) || "(anonymous)";
    let base = `class ${name}`;
    if (constructor !== "Function" && constructor !== null) base += ` [${constructor}]`;
    if (tag !== "" && constructor !== tag) base += ` [${tag}]`;
    if (constructor !== null) {
      const superName = Object.getPrototypeOf(value).name;
      if (superName) base += ` extends ${superName}`;
    } else {
      base += " extends [null prototype]";
    }
    return `[${base}]`;
  }
  let type = "Function";
  if (value instanceof GeneratorFunction) type = "GeneratorFunction";
  else if (value instanceof AsyncGeneratorFunction) type = "AsyncGeneratorFunction";
  else if (value instanceof AsyncFunction) type = "AsyncFunction";
  let base = `[${type}`;
  if (constructor === null) base += " (null prototype)";
  base += value.name === "" ? " (anonymous)" : `: ${typeof value.name === "string" ? value.name : String(value.name)}`;
  base += "]";
  if (constructor !== type && constructor !== null && constructor !== "Function") base += ` ${constructor}`;
  if (tag !== "" && constructor !== tag) base += ` [${tag}]`;
  return base;
}

function formatArray(ctx, value, recurseTimes) {
  const length = value.length;
  const shown = Math.min(Math.max(0, ctx.maxArrayLength), length);
  const output = [];
  for (let i = 0; i < shown; i++) {
    if (!Object.prototype.hasOwnProperty.call(value, i)) return formatSparseArray(ctx, value, recurseTimes, shown, output, i);
    output.push(formatProperty(ctx, value, recurseTimes, i, kArrayType));
  }
  if (length > shown) output.push(moreItems(length - shown));
  return output;
}

function moreItems(remaining) {
  return `... ${remaining} more item${remaining > 1 ? "s" : ""}`;
}

function formatSparseArray(ctx, value, recurseTimes, maxLength, output, i) {
  const keys = Object.keys(value);
  let index = i;
  for (; i < keys.length && output.length < maxLength; i++) {
    const key = keys[i];
    if (!isIndex(key)) break;
    const position = Number(key);
    if (position !== index) {
      const empty = position - index;
      output.push(`<${empty} empty item${empty > 1 ? "s" : ""}>`);
      index = position;
      if (output.length === maxLength) break;
    }
    output.push(formatProperty(ctx, value, recurseTimes, key, kArrayType));
    index++;
  }
  const remaining = value.length - index;
  if (output.length !== maxLength) {
    if (remaining > 0) output.push(`<${remaining} empty item${remaining > 1 ? "s" : ""}>`);
  } else if (remaining > 0) {
    output.push(moreItems(remaining));
  }
  return output;
}

function formatTypedArray(ctx, value, recurseTimes) {
  const length = value.length;
  const shown = Math.min(Math.max(0, ctx.maxArrayLength), length);
  const output = [];
  for (let i = 0; i < shown; i++) {
    output.push(typeof value[i] === "bigint" ? `${value[i]}n` : formatNumber(value[i]));
  }
  if (length > shown) output.push(moreItems(length - shown));
  if (ctx.showHidden) {
    ctx.indentationLvl += 2;
    for (const key of ["BYTES_PER_ELEMENT", "length", "byteLength", "byteOffset", "buffer"]) {
      output.push(`[${key}]: ${formatValue(ctx, value[key], recurseTimes, true)}`);
    }
    ctx.indentationLvl -= 2;
  }
  return output;
}

function formatArrayBuffer(ctx, value) {
  let bytes;
  try {
    bytes = new Uint8Array(value);
  } catch {
    return ["(detached)"];
  }
  const shown = Math.min(ctx.maxArrayLength, bytes.length);
  let hex = "";
  for (let i = 0; i < shown; i++) hex += (i === 0 ? "" : " ") + bytes[i].toString(16).padStart(2, "0");
  const remaining = bytes.length - shown;
  if (remaining > 0) hex += ` ... ${remaining} more byte${remaining > 1 ? "s" : ""}`;
  return [`[Uint8Contents]: <${hex}>`];
}

function formatSet(ctx, values, recurseTimes, size) {
  const shown = Math.min(Math.max(0, ctx.maxArrayLength), size);
  const output = [];
  ctx.indentationLvl += 2;
  let i = 0;
  for (const v of values) {
    if (i++ >= shown) break;
    output.push(formatValue(ctx, v, recurseTimes));
  }
  if (size > shown) output.push(moreItems(size - shown));
  ctx.indentationLvl -= 2;
  return output;
}

function formatMap(ctx, entries, recurseTimes, size) {
  const shown = Math.min(Math.max(0, ctx.maxArrayLength), size);
  const output = [];
  ctx.indentationLvl += 2;
  let i = 0;
  for (const [k, v] of entries) {
    if (i++ >= shown) break;
    output.push(`${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
  }
  if (size > shown) output.push(moreItems(size - shown));
  ctx.indentationLvl -= 2;
  return output;
}

function formatProperty(ctx, value, recurseTimes, key, type) {
  let str;
  const desc = Object.getOwnPropertyDescriptor(value, key) || { value: value[key], enumerable: true };
  if (desc.value !== undefined) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, recurseTimes);
    ctx.indentationLvl -= 2;
  } else if (desc.get !== undefined) {
    str = desc.set !== undefined ? "[Getter/Setter]" : "[Getter]";
  } else if (desc.set !== undefined) {
    str = "[Setter]";
  } else {
    str = "undefined";
  }
  if (type === kArrayType) return str;
  let name;
  if (typeof key === "symbol") {
    name = Symbol.prototype.toString.call(key);
  } else if (/^[a-zA-Z_][a-zA-Z_0-9]*$/.test(key)) {
    name = key === "__proto__" ? "['__proto__']" : key;
  } else {
    name = quoteString(String(key));
  }
  if (desc.enumerable === false) name = `[${name}]`;
  return `${name}: ${str}`;
}

function isBelowBreakLength(ctx, output, start, base) {
  let total = output.length + start;
  if (total + output.length > ctx.breakLength) return false;
  for (const entry of output) {
    total += entry.length;
    if (total > ctx.breakLength) return false;
  }
  return base === "" || !base.includes("\n");
}

function reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value) {
  const entries = output.length;
  if (extrasType === kArrayExtrasType && entries > 6) output = groupArrayElements(ctx, output, value);
  if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (isBelowBreakLength(ctx, output, start, base)) {
      const joined = output.join(", ");
      if (!joined.includes("\n")) return `${base ? `${base} ` : ""}${braces[0]} ${joined} ${braces[1]}`;
    }
  }
  const indentation = `\n${" ".repeat(ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ""}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
}

// Arrays of more than six short items are laid out in aligned columns (numbers right-aligned).
function groupArrayElements(ctx, output, value) {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  if (ctx.maxArrayLength < output.length) outputLength--; // the "... more items" entry stays on its own line
  const separatorSpace = 2;
  const dataLen = [];
  for (let i = 0; i < outputLength; i++) {
    const len = output[i].length;
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength && (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = Math.sqrt(actualMax - totalLength / output.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
      Math.floor((ctx.breakLength - ctx.indentationLvl) / actualMax),
      ctx.compact * 4,
      15,
    );
    if (columns <= 1) return output;
    const maxLineLength = [];
    for (let i = 0; i < columns; i++) {
      let lineMax = 0;
      for (let j = i; j < output.length; j += columns) if (dataLen[j] > lineMax) lineMax = dataLen[j];
      maxLineLength.push(lineMax + separatorSpace);
    }
    let padStart = value !== undefined;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== "number" && typeof value[i] !== "bigint") {
          padStart = false;
          break;
        }
      }
    }
    const grouped = [];
    for (let i = 0; i < outputLength; i += columns) {
      const max = Math.min(i + columns, outputLength);
      let line = "";
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        line += padStart ? cell.padStart(maxLineLength[j - i], " ") : cell.padEnd(maxLineLength[j - i], " ");
      }
      line += padStart ? output[j].padStart(maxLineLength[j - i] - separatorSpace, " ") : output[j];
      grouped.push(line);
    }
    if (ctx.maxArrayLength < output.length) grouped.push(output[outputLength]);
    return grouped;
  }
  return output;
}

// ---- errors -------------------------------------------------------------------------------------------

const SPIDERMONKEY_FRAME = /^(.*?)@(.*?):(\d+):(\d+)$/;

// An error's stack in V8's shape: "Name: message" then "    at fn (file:line:col)" per frame. SpiderMonkey's
// `stack` has frames only ("fn@file:line:col"); a stack the user wrote in another shape is kept as it is.
export function v8Stack(error) {
  let stack;
  try {
    stack = error.stack;
  } catch {
    stack = undefined;
  }
  const header = errorHeader(error);
  if (typeof stack !== "string") return header;
  const lines = stack.split("\n").filter((line) => line !== "");
  if (lines.length > 0 && !lines.every((line) => SPIDERMONKEY_FRAME.test(line))) return stack;
  const frames = [];
  for (const line of lines) {
    const [, rawName, file, lineNo, column] = SPIDERMONKEY_FRAME.exec(line);
    if (file === RUNTIME_FILE || file.endsWith(` > ${RUNTIME_FILE}`)) continue;
    let name = rawName;
    let isAsync = false;
    if (name.startsWith("async*")) {
      name = name.slice(6);
      isAsync = true;
    }
    // SpiderMonkey names an anonymous function after its surroundings ("outer/<", "obj.method/inner<");
    // V8 prints such frames without a name, and a nested named function by its own name.
    name = name.endsWith("<") ? "" : name.slice(name.lastIndexOf("/") + 1);
    const location = `${file}:${lineNo}:${column}`;
    frames.push(`    at ${isAsync ? "async " : ""}${name ? `${name} (${location})` : location}`);
  }
  return frames.length === 0 ? header : `${header}\n${frames.join("\n")}`;
}

function errorHeader(error) {
  let name;
  let message;
  try {
    name = error.name;
    message = error.message;
  } catch {
    return "Error";
  }
  name = name === undefined ? "Error" : `${name}`;
  message = message === undefined ? "" : `${message}`;
  if (name === "") return message;
  if (message === "") return name;
  return `${name}: ${message}`;
}

function improveStack(stack, constructor, name, tag) {
  let len = name.length;
  if (
    constructor === null ||
    (name.endsWith("Error") && stack.startsWith(name) && (stack.length === len || stack[len] === ":" || stack[len] === "\n"))
  ) {
    let fallback = "Error";
    if (constructor === null) {
      const start = /^([A-Z][a-z_ A-Z0-9[\]()-]+)(?::|\n {4}at)/.exec(stack) || /^([a-z_A-Z0-9-]*Error)$/.exec(stack);
      fallback = (start && start[1]) || "";
      len = fallback.length;
      fallback = fallback || "Error";
    }
    const prefix = getPrefix(constructor, tag, fallback).slice(0, -1);
    if (name !== prefix) {
      if (prefix.includes(name)) stack = len === 0 ? `${prefix}: ${stack}` : `${prefix}${stack.slice(len)}`;
      else stack = `${prefix} [${name}]${stack.slice(len)}`;
    }
  }
  return stack;
}

function formatError(error, constructor, tag, ctx, keys) {
  const name = error.name != null ? `${error.name}` : "Error";
  let stack = v8Stack(error);
  if (!ctx.showHidden && keys.length !== 0) {
    for (const key of ["name", "message", "stack"]) {
      const index = keys.indexOf(key);
      if (index !== -1 && (typeof error[key] !== "string" || stack.includes(error[key]))) keys.splice(index, 1);
    }
  }
  if ("cause" in error && !keys.includes("cause")) keys.push("cause");
  if (Array.isArray(error.errors) && !keys.includes("errors")) keys.push("errors");
  stack = improveStack(stack, constructor, name, tag);
  let pos = (error.message && stack.indexOf(error.message)) || -1;
  if (pos !== -1) pos += error.message.length;
  if (stack.indexOf("\n    at", pos) === -1) stack = `[${stack}]`;
  if (ctx.indentationLvl !== 0) stack = stack.replaceAll("\n", `\n${" ".repeat(ctx.indentationLvl)}`);
  return stack;
}

// ---- Workers runtime objects --------------------------------------------------------------------------

function isBuiltinPrototype(proto) {
  if (proto === null) return true;
  if (Object.prototype.hasOwnProperty.call(proto, RESOURCE_TYPE)) return false;
  const descriptor = Object.getOwnPropertyDescriptor(proto, "constructor");
  return descriptor !== undefined && typeof descriptor.value === "function" && builtIns().has(descriptor.value.name);
}

// workerd prints a runtime object as its class name and a record of its non-function properties, own and
// inherited (getters included) up to the first built-in prototype; an object with entries() prints them
// as a map. The record is inspected with showHidden, as workerd does.
function formatResource(ctx, value, recurseTimes) {
  const name = value.constructor?.name ?? "Object";
  const depth = ctx.depth - recurseTimes;
  if (depth < 0) return `[${name}]`;
  const record = {};
  let entries;
  try {
    if (typeof value.entries === "function") {
      const list = Array.from(value.entries());
      if (list.every((entry) => Array.isArray(entry) && entry.length === 2)) entries = list;
    }
  } catch {
    entries = undefined;
  }
  let current = value;
  do {
    for (const key of Object.getOwnPropertyNames(current)) {
      if (key in record) continue;
      let property;
      try {
        property = value[key];
      } catch {
        continue;
      }
      if (typeof property === "function" || Object.prototype.propertyIsEnumerable.call(value.constructor, key)) continue;
      record[key] = property;
    }
    current = Object.getPrototypeOf(current);
  } while (!isBuiltinPrototype(current));
  if (value instanceof Error && !("stack" in record)) record.stack = v8Stack(value);
  const options = { ...ctx, depth, showHidden: true };
  if (entries === undefined) return `${name} ${inspect(record, options)}`;
  Object.defineProperty(record, kEntries, { value: entries, enumerable: false });
  return `${name}${inspect(record, options).slice("Object".length)}`;
}
