// console.* as Workers has it: debug, error, info, log and warn produce output (workerd's worker.c++
// replaces exactly these five and prints them through formatLog, js/inspect.js here); every other method of
// the Console interface exists but does nothing, in production and in `wrangler dev` alike (Cloudflare's
// "console" runtime-API page: "no op"). Each entry goes to Python (worker.py Host.log), which tags it with
// the request it belongs to.
import { host } from "./host.js";
import { formatWithOptions } from "./inspect.js";
import { encodeUtf8 } from "./utf8.js";

// The level byte of a LOG frame (emulator/runtime/pool.py _LEVELS).
export const LEVELS = { debug: 0, log: 1, info: 2, warn: 3, error: 4 };

export function formatLog(args) {
  try {
    return formatWithOptions(undefined, args);
  } catch (error) {
    // workerd's formatLog: "<Formatting threw (stack)>"
    let detail;
    try {
      detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    } catch {
      detail = "unknown error";
    }
    return `<Formatting threw (${detail})>`;
  }
}

function emit(level, args) {
  host.log(level, encodeUtf8(formatLog(args)));
}

// An exception nobody caught (a timer callback, a microtask, an error event nobody prevented), logged as
// wrangler shows it: "Uncaught Error: message" and the stack.
export function reportUncaught(error) {
  emit(LEVELS.error, ["Uncaught", error]);
}

const noop = () => {};
const NO_OPS = [
  "assert", "clear", "count", "countReset", "dir", "dirxml", "group", "groupCollapsed", "groupEnd", "profile",
  "profileEnd", "table", "time", "timeEnd", "timeLog", "timeStamp", "trace",
];

export const console = {
  debug: (...args) => emit(LEVELS.debug, args),
  error: (...args) => emit(LEVELS.error, args),
  info: (...args) => emit(LEVELS.info, args),
  log: (...args) => emit(LEVELS.log, args),
  warn: (...args) => emit(LEVELS.warn, args),
};
for (const name of NO_OPS) console[name] = noop;
Object.defineProperty(console, Symbol.toStringTag, { value: "console", configurable: true });
