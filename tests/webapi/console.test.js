// What console.log prints: the runtime's formatter (js/inspect.js), which reproduces the Node util.format /
// util.inspect notation workerd prints in `wrangler dev` (src/node/internal/internal_inspect.ts, formatLog).
// Expected strings were checked against Node's util.formatWithOptions({ breakLength: 80 }), except where
// workerd's port differs (symbol keys print without brackets). That the five console methods reach Python, tagged with their request, is tests/runtime/test_console.py.
import { test, assert } from "../support/harness.js";
import { format, inspect, v8Stack } from "../../emulator/runtime/js/inspect.js";

export { tests } from "../support/harness.js";

function withStack(error, stack) {
  Object.defineProperty(error, "stack", { value: stack, configurable: true });
  return error;
}

test("strings print bare at the top level and quoted inside values", () => {
  assert.equal(format("plain", "words"), "plain words");
  assert.equal(format(["a", "it's", 'both \' and "', "new\nline"]), `[ 'a', "it's", \`both ' and "\`, 'new\\nline' ]`);
  assert.equal(format(1, -0, 10n, true, null, undefined, Symbol("s")), "1 -0 10n true null undefined Symbol(s)");
});

test("printf placeholders: %s %d %i %f %j %o %O %c %%", () => {
  assert.equal(format("%s=%d", "n", 42), "n=42");
  assert.equal(format("%i|%f|%d", "42.9px", "1.5", "x"), "42|1.5|NaN");
  assert.equal(format("%j", { a: [1] }), '{"a":[1]}');
  const circular = {};
  circular.self = circular;
  assert.equal(format("%j", circular), "[Circular]");
  assert.equal(format("%O and %o", { a: 1 }, [1]), "{ a: 1 } and [ 1, [length]: 1 ]");
  assert.equal(format("%cstyled", "color: red"), "styled");
  assert.equal(format("100%% %s", "sure", "extra", 1), "100% sure extra 1");
  assert.equal(format("%s", { toString: () => "custom" }), "custom");
  assert.equal(format("%s", { nested: { deep: 1 } }), "{ nested: [Object] }");
  assert.equal(format("%d", 5n), "5n");
  assert.equal(format("missing %s"), "missing %s");
});

test("objects: keys, nesting beyond depth 2, class names and null prototypes", () => {
  assert.equal(inspect({ a: 1, "b-c": 2, d: { e: { f: { g: 1 } } } }), "{ a: 1, 'b-c': 2, d: { e: { f: [Object] } } }");
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  assert.equal(inspect(new Point()), "Point { x: 1 }");
  const bare = Object.create(null);
  bare.k = "v";
  assert.equal(inspect(bare), "[Object: null prototype] { k: 'v' }");
  assert.equal(inspect({ [Symbol("k")]: 1, get g() { return 1; }, set s(v) {} }), "{ g: [Getter], s: [Setter], Symbol(k): 1 }");
  assert.equal(inspect({}), "{}");
});

test("long objects break onto lines of at most 80 columns", () => {
  const value = { first: "a".repeat(30), second: "b".repeat(30), third: "c".repeat(10) };
  assert.equal(inspect(value), `{\n  first: '${"a".repeat(30)}',\n  second: '${"b".repeat(30)}',\n  third: 'cccccccccc'\n}`);
});

test("circular references are marked", () => {
  const value = { name: "root", child: {} };
  value.child.parent = value;
  assert.equal(inspect(value), "<ref *1> { name: 'root', child: { parent: [Circular *1] } }");
});

test("arrays: holes, extra keys, grouping of long number arrays, and the 100-item cap", () => {
  const sparse = [1, , , 4];
  sparse.extra = true;
  assert.equal(inspect(sparse), "[ 1, <2 empty items>, 4, extra: true ]");
  assert.equal(
    inspect(Array.from({ length: 26 }, (_, i) => i * 7)),
    "[\n    0,   7,  14,  21,  28,  35,  42,\n   49,  56,  63,  70,  77,  84,  91,\n   98, 105, 112, 119, 126, 133, 140,\n  147, 154, 161, 168, 175\n]",
  );
  const long = inspect(Array.from({ length: 101 }, () => 0));
  assert.ok(long.endsWith("  ... 1 more item\n]"), long);
});

test("Map, Set, typed arrays, ArrayBuffer and DataView", () => {
  assert.equal(inspect(new Map([["k", { v: 1 }]])), "Map(1) { 'k' => { v: 1 } }");
  assert.equal(inspect(new Set([1, "a"])), "Set(2) { 1, 'a' }");
  assert.equal(inspect(new Map()), "Map(0) {}");
  assert.equal(inspect(new Uint8Array([1, 2, 3])), "Uint8Array(3) [ 1, 2, 3 ]");
  assert.equal(inspect(new BigUint64Array([1n])), "BigUint64Array(1) [ 1n ]");
  assert.equal(inspect(new Uint8Array([0, 255]).buffer), "ArrayBuffer { [Uint8Contents]: <00 ff>, byteLength: 2 }");
  assert.equal(
    inspect(new DataView(new ArrayBuffer(1))),
    "DataView {\n  byteLength: 1,\n  byteOffset: 0,\n  buffer: ArrayBuffer { [Uint8Contents]: <00>, byteLength: 1 }\n}",
  );
});

test("functions, classes, dates, regexps, boxed primitives and engine objects", () => {
  function named() {}
  class Base {}
  class Derived extends Base {}
  assert.equal(inspect(named), "[Function: named]");
  assert.equal(inspect(() => {}), "[Function (anonymous)]");
  assert.equal(inspect(async function go() {}), "[AsyncFunction: go]");
  assert.equal(inspect(function* gen() {}), "[GeneratorFunction: gen]");
  assert.equal(inspect(Derived), "[class Derived extends Base]");
  assert.equal(inspect(Object.assign(() => {}, { tag: 1 })), "[Function (anonymous)] { tag: 1 }");
  assert.equal(inspect(new Date(0)), "1970-01-01T00:00:00.000Z");
  assert.equal(inspect(new Date(NaN)), "Invalid Date");
  assert.equal(inspect(/x+/gi), "/x+/gi");
  assert.equal(inspect([new Number(3), new String("s"), new Boolean(true)]), "[ [Number: 3], [String: 's'], [Boolean: true] ]");
  assert.equal(inspect(new WeakMap()), "WeakMap { <items unknown> }");
  assert.equal(inspect(Promise.resolve(1)), "Promise { <unknown> }");
});

test("errors print in V8's shape, without the runtime's own frames", () => {
  const error = withStack(new TypeError("bad input"), "check@outbound:bundle.js:10:5\nvalidate@outbound:runtime.js:99:1\nhandler/<@outbound:bundle.js:20:7\nasync*run@outbound:bundle.js:30:1\n");
  const expected = "TypeError: bad input\n    at check (outbound:bundle.js:10:5)\n    at outbound:bundle.js:20:7\n    at async run (outbound:bundle.js:30:1)";
  assert.equal(v8Stack(error), expected);
  assert.equal(format(error), expected);
  error.code = "E_INPUT";
  assert.equal(format(error), `${expected} {\n  code: 'E_INPUT'\n}`);
  assert.equal(format(withStack(new Error("no frames"), "")), "[Error: no frames]");
  assert.equal(format("Uncaught", withStack(new RangeError("r"), "")), "Uncaught [RangeError: r]");
  class QuotaError extends Error {}
  assert.equal(format(withStack(new QuotaError("full"), "f@outbound:bundle.js:1:1\n")), "QuotaError: full\n    at f (outbound:bundle.js:1:1)");
});

test("an error's cause and a nested error are indented", () => {
  const cause = withStack(new Error("root"), "");
  const error = withStack(new Error("top", { cause }), "a@x.js:1:1\n");
  assert.equal(format(error), "Error: top\n    at a (x.js:1:1) {\n  [cause]: [Error: root]\n}");
  const nested = withStack(new Error("inner"), "b@y.js:2:2\n");
  assert.equal(format({ nested }), "{\n  nested: Error: inner\n      at b (y.js:2:2)\n}");
});

test("a string stack that is not SpiderMonkey's is printed as it is", () => {
  const error = withStack(new Error("x"), "Error: x\n    at custom (z.js:1:1)");
  assert.equal(format(error), "Error: x\n    at custom (z.js:1:1)");
});

test("long multi-line strings inside values are split at their newlines", () => {
  const text = `${"line one is long enough ".repeat(2)}\n${"line two is long as well ".repeat(2)}`;
  assert.equal(inspect({ text }), `{\n  text: '${"line one is long enough ".repeat(2)}\\n' +\n    '${"line two is long as well ".repeat(2)}'\n}`);
});

test("Workers runtime objects print their properties, as workerd's resource types do", () => {
  assert.equal(format(new Headers({ b: "2", a: "1" })), "Headers(2) { 'a' => '1', 'b' => '2' }");
  assert.equal(format(new URLSearchParams("a=1&a=2")), "URLSearchParams(2) { 'a' => '1', 'a' => '2' }");
  assert.equal(format(new TextDecoder()), "TextDecoder { encoding: 'utf-8', fatal: false, ignoreBOM: false }");
  assert.equal(format(new AbortController().signal), "AbortSignal { aborted: false, reason: undefined, onabort: null }");
  assert.equal(format(performance), "Performance { timeOrigin: 0 }");
  assert.equal(format({ depth: { two: { three: new TextEncoder() } } }), "{ depth: { two: { three: [TextEncoder] } } }");
  const event = format(new Event("ping"));
  assert.ok(event.startsWith("Event {\n  type: 'ping',\n  eventPhase: 0,"), event);
});
