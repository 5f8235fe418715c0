// console.* captured by the emulator: each call becomes one entry sent to Python, which tags it with the
// sandbox and handler of the request that produced it. Formatting follows Node's util.format/inspect closely
// enough for logs (what wrangler dev shows for workerd).
import { host } from "./host.js";
import { encodeUtf8 } from "./utf8.js";

export const LEVELS = { debug: 0, log: 1, info: 2, warn: 3, error: 4 };

export function inspect(value, depth = 2, seen = new Set(), nested = false) {
  switch (typeof value) {
    case "string":
      return nested ? quote(value) : value;
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "boolean":
    case "undefined":
      return String(value);
    case "symbol":
      return value.toString();
    case "function":
      return value.prototype && /^class\b/.test(Function.prototype.toString.call(value))
        ? `[class ${value.name || "(anonymous)"}]`
        : `[Function: ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  if (seen.has(value)) return "[Circular *1]";
  if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${indentStack(value.stack)}` : `${value.name}: ${value.message}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof RegExp) return String(value);
  if (depth < 0) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return list(value.map((v) => inspect(v, depth - 1, seen, true)), "[", "]");
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const items = Array.from(value.subarray(0, 100), (v) => inspect(v, depth - 1, seen, true));
      if (value.length > 100) items.push(`... ${value.length - 100} more items`);
      return `${value.constructor.name}(${value.length}) ${list(items, "[", "]")}`;
    }
    if (value instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${value.byteLength} }`;
    if (value instanceof Map) {
      const items = [...value].map(([k, v]) => `${inspect(k, depth - 1, seen, true)} => ${inspect(v, depth - 1, seen, true)}`);
      return `Map(${value.size}) ${list(items, "{", "}")}`;
    }
    if (value instanceof Set) {
      return `Set(${value.size}) ${list([...value].map((v) => inspect(v, depth - 1, seen, true)), "{", "}")}`;
    }
    if (value instanceof Promise) return "Promise { <pending> }";
    const tag = value[Symbol.toStringTag];
    const name = value.constructor?.name;
    const items = Object.keys(value).map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k)}: ${inspect(value[k], depth - 1, seen, true)}`);
    const prefix = name && name !== "Object" ? `${name} ` : tag ? `Object [${tag}] ` : "";
    if (items.length === 0 && prefix && typeof tag === "string") return `${tag} {}`;
    return prefix + list(items, "{", "}");
  } finally {
    seen.delete(value);
  }
}

function quote(s) {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
}

function list(items, open, close) {
  if (items.length === 0) return `${open}${close}`;
  const flat = `${open} ${items.join(", ")} ${close}`;
  return flat.length <= 72 && !flat.includes("\n") ? flat : `${open}\n  ${items.join(",\n").replace(/\n/g, "\n  ")}\n${close}`;
}

function indentStack(stack) {
  return stack
    .split("\n")
    .filter(Boolean)
    .map((line) => `    at ${line}`)
    .join("\n");
}

export function format(args) {
  if (args.length === 0) return "";
  let first = args[0];
  let rest = 1;
  let out;
  if (typeof first === "string" && first.includes("%")) {
    out = first.replace(/%([sdifjoOc%])/g, (match, spec) => {
      if (spec === "%") return "%";
      if (rest >= args.length) return match;
      const arg = args[rest++];
      switch (spec) {
        case "s":
          return typeof arg === "string" ? arg : inspect(arg, 1, new Set(), false);
        case "d":
        case "i":
          return typeof arg === "bigint" ? `${arg}n` : String(spec === "i" ? Math.trunc(Number(arg)) : Number(arg));
        case "f":
          return String(Number(arg));
        case "j":
          try {
            return JSON.stringify(arg);
          } catch {
            return "[Circular]";
          }
        case "c":
          return "";
        default:
          return inspect(arg, 4, new Set(), true);
      }
    });
  } else {
    out = inspect(first);
  }
  for (; rest < args.length; rest++) out += ` ${inspect(args[rest])}`;
  return out;
}

function emit(level, args) {
  host.log(level, encodeUtf8(format(args)));
}

const counts = new Map();
const timers = new Map();
let groupIndent = "";

function emitIndented(level, args) {
  if (groupIndent === "") return emit(level, args);
  host.log(level, encodeUtf8(format(args).replace(/^/gm, groupIndent)));
}

export const console = {
  debug: (...args) => emitIndented(LEVELS.debug, args),
  log: (...args) => emitIndented(LEVELS.log, args),
  info: (...args) => emitIndented(LEVELS.info, args),
  warn: (...args) => emitIndented(LEVELS.warn, args),
  error: (...args) => emitIndented(LEVELS.error, args),
  trace: (...args) => emitIndented(LEVELS.debug, [`Trace: ${format(args)}\n${indentStack(new Error().stack.split("\n").slice(1).join("\n"))}`]),
  dir: (value) => emitIndented(LEVELS.log, [inspect(value, 2, new Set(), true)]),
  table: (...args) => emitIndented(LEVELS.log, args),
  assert: (condition, ...args) => {
    if (!condition) emitIndented(LEVELS.error, ["Assertion failed" + (args.length ? ":" : ""), ...args]);
  },
  count: (label = "default") => {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    emitIndented(LEVELS.info, [`${label}: ${n}`]);
  },
  countReset: (label = "default") => counts.delete(label),
  time: (label = "default") => timers.set(label, Date.now()),
  timeLog: (label = "default", ...args) => emitIndented(LEVELS.info, [`${label}: ${Date.now() - (timers.get(label) ?? Date.now())}ms`, ...args]),
  timeEnd: (label = "default") => {
    emitIndented(LEVELS.info, [`${label}: ${Date.now() - (timers.get(label) ?? Date.now())}ms`]);
    timers.delete(label);
  },
  group: (...args) => {
    if (args.length) emitIndented(LEVELS.log, args);
    groupIndent += "  ";
  },
  groupCollapsed: (...args) => console.group(...args),
  groupEnd: () => {
    groupIndent = groupIndent.slice(2);
  },
};
