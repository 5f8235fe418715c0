// Secrets Store bindings (contract §4.3) as a handler sees them, against a real store: env.SECRET reads
// "api-key" and env.MISSING reads "nope", both in store "store-1" (tests/bindings/conftest.py). Expected
// behaviour from Miniflare's test/plugins/secret-store/index.spec.ts and src/workers/secrets-store/secret.worker.ts.
import { env } from "cloudflare:workers";
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

test("get() resolves to the value of a secret that is set", async () => {
  await env.STORE.putSecret({ name: "api-key", value: "s3cr3t ✓" });
  const value = await env.SECRET.get();
  assert.equal(typeof value, "string");
  assert.equal(value, "s3cr3t ✓");
});

test("get() of a secret that is not set rejects with Miniflare's Error, whole", async () => {
  const error = await assert.rejects(() => env.MISSING.get(), { name: "Error", message: 'Secret "nope" not found' });
  assert.equal(Object.getPrototypeOf(error), Error.prototype, "a plain Error, not a subclass");
});

test("the next get() sees a value written after the last one", async () => {
  await env.STORE.putSecret({ name: "api-key", value: "first" });
  assert.equal(await env.SECRET.get(), "first");
  await env.STORE.putSecret({ name: "api-key", value: "second" });
  assert.equal(await env.SECRET.get(), "second");
  await env.STORE.putSecret({ name: "api-key", value: "" });
  assert.equal(await env.SECRET.get(), "");
});

test("concurrent get() calls each resolve", async () => {
  await env.STORE.putSecret({ name: "api-key", value: "shared" });
  assert.deepEqual(await Promise.all([env.SECRET.get(), env.SECRET.get(), env.SECRET.get()]), ["shared", "shared", "shared"]);
});

test("the binding shows only get(): its name stays private", () => {
  assert.equal(typeof env.SECRET.get, "function");
  assert.deepEqual(Object.keys(env.SECRET), []);
  assert.equal(JSON.stringify(env.SECRET), "{}");
  assert.deepEqual(Object.getOwnPropertyNames(Object.getPrototypeOf(env.SECRET)).sort(), ["constructor", "get"]);
});

// Keep last: it sets "nope", which the not-found test above needs unset (the stores live as long as the file).
test("two bindings on one store read their own names from the same store", async () => {
  await env.STORE.putSecret({ name: "api-key", value: "for SECRET" });
  assert.equal(await env.SECRET.get(), "for SECRET");
  await assert.rejects(() => env.MISSING.get(), { name: "Error", message: 'Secret "nope" not found' });
  // Written through the store env.SECRET reads, so env.MISSING seeing it proves the store is shared.
  await env.STORE.putSecret({ name: "nope", value: "now set" });
  assert.deepEqual(await Promise.all([env.SECRET.get(), env.MISSING.get()]), ["for SECRET", "now set"]);
});
