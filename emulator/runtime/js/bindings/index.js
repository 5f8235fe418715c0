// Binding objects on `env`, built from the specs the emulator sends at start ({name, type}, and for a
// Durable Object namespace the export name of its class: {name, type: "do", className}).
import { DurableObjectNamespace } from "./durable-objects.js";
import { KVNamespace } from "./kv.js";
import { callBinding } from "./rpc.js";
import { R2Bucket } from "./r2.js";
import { SecretsStoreSecret } from "./secrets.js";

const CONSTRUCTORS = { kv: KVNamespace, r2: R2Bucket, secret: SecretsStoreSecret };

export function makeBinding({ name, type, className }) {
  // Not Cloudflare's: a binding an embedder serves (BindingHost `extra`); every method is one call.
  if (type === "rpc") {
    return new Proxy({}, { get: (_, operation) => async (args = {}) => (await callBinding(name, String(operation), args))[0] });
  }
  if (type === "do") return new DurableObjectNamespace(name, className);
  const Binding = CONSTRUCTORS[type];
  if (Binding === undefined) throw new Error(`unknown binding type "${type}" for env.${name}`);
  return new Binding(name);
}
