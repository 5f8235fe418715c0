// R2Bucket: env.<binding> for r2_buckets.
export class R2Bucket {
  constructor(name) {
    this.__name = name;
  }
}
