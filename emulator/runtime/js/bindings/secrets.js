// SecretsStoreSecret: env.<binding> for secrets_store_secrets.
export class SecretsStoreSecret {
  constructor(name) {
    this.__name = name;
  }
}
