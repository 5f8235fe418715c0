// KVNamespace: env.<binding> for kv_namespaces.
export class KVNamespace {
  constructor(name) {
    this.__name = name;
  }
}
