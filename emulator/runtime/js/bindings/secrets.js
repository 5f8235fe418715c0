// SecretsStoreSecret: env.<binding> for secrets_store_secrets (contract §4.3). get() resolves to the
// secret's value, or rejects with Error `Secret "<secret_name>" not found` (Miniflare's text, from the
// emulator). The binding name is private: a handler sees only get().
import { callBinding } from "./rpc.js";

export class SecretsStoreSecret {
  #name;

  constructor(name) {
    this.#name = name;
  }

  async get() {
    const [value] = await callBinding(this.#name, "get");
    return value;
  }
}
