// crypto.subtle, CryptoKey, crypto.DigestStream and subtle.timingSafeEqual as a Worker sees them, checked
// against published test vectors (FIPS 180, RFC 4231/2202, RFC 8032, RFC 7748, RFC 5869, RFC 6070, RFC 3394,
// SP 800-38A), fixed keys with precomputed signatures, and workerd's error names and messages.
import { test, assert } from "../support/harness.js";

export { tests } from "../support/harness.js";

const subtle = crypto.subtle;
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
const utf8 = (text) => new TextEncoder().encode(text);
const pemBytes = (pem) => Uint8Array.from(atob(pem.replace(/-----[^-]+-----|\s/g, "")), (c) => c.charCodeAt(0));
const base64Bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

// Fixed keys made with Python's `cryptography`, with a signature it made over "hello".
const RSA_PKCS8 = pemBytes(`-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCKsMw+cTq/NLaw
i/88NaeLLlfzH74jKFAhNKNH9D3oZ8WcWGI3TldQXptoSc/x8XUwz14Zlg7KHv6l
AxXTWrBGX1hzIpM+FJHFlY5pXuKE3Lzs6PzlLVekX6qcl50uMhur9N3dKrYU26+3
rlDtFcUm6cRMdm8npdP+78+VlaZuA24TK6YntRyFIZbC2HqLP26DVNErAhMjzwCy
ABQMxEPeK4s2kcUSZPBKDjof5pZJa9AaTRQh4MMfuuSJ+8nj/8LUgdIxQk8L0Acq
kgggiI+jg02C/1BoachwVA4OL7PqleSOAd0FiPCfsTPh5dFccJz07auJ/gcQyaTJ
E1tUA231AgMBAAECggEAGI9NY+NeQVze2y23cZyYwlNfHL0qyQQLCI5POd89FUpH
GrQmFGApoyBVyeaETfZxx8Z5BfPmQ5Gwi10cANUG8TdSLPVa+LvgwooE8ZDtcRS7
2gI6QoVAh2mvh1Jr8bHK560RmuhE3TW4DMFwMEPSKV1tNxMkBPPfMj6aVoVtNv7e
wkfmju170sACIUigWVinLr9BhJBsfoTP98ok0EbmSAZnfc+qaZl7x1NK9GasOPMx
FG4YMk/LUJk4OiwQZhwva6uSRMfVncTqe1AFbAFxV77vX7JFWl5zQmbBF7iyCXmJ
xgMjRqlIQ9PjygI5buddNXCkGpbTA4LmWEttpDrNMQKBgQC+pg0z/7GR5CDr0Q/s
YCOE14KtZt0CDevYNX0VzGuybUGZMWsELmW3bMWuYmHoysOd5yMlm11gKAa+ncsJ
kXlbRmccGCYIwr9RfcySn2ETjpj/hOT+iOwGHhQiSBxOsAu6x81Fyaaap6p1E4xK
jt5F7yVxEPhRJj7oN2RtnlDRXQKBgQC6O0kFu0O0RS1AKfBQGKsHGXP3UoAqxh30
lJjcpZ92f459jrc+J6+PfgtQ+N/5o1TH/EdESn4DNsd8e4rQiBH3z1TeszV6iiuV
GbfdpGJ49M2PTg/L/F7Dl8nw8m3XM4MtGp1Ag+0JK3PMze4od4xFd+TkePrSjT9V
MAY3KT3NeQKBgQCKfuSOhsx/WENWLByuMbT71vc2cshQqr5O5aSFxmfiSZ5i5FSC
yBXaZylAInZP/6SVvAh7VF9D8C/eH5EU1VpcpUtYTG6s5JTJZWLMjP2fkHKzBN65
zcvwMb+cm9f8jcUnnegQL4pZRT3+KQI8U4dDNJR1i8doZClE1qCdRWoefQKBgF+Y
WRaJFurta5n5LTNgRkKBrUZyYfoS8oN+16zDk8R3G8SVwrg0FOlacSKibg4t6jIx
7L9AYcjykJn0rL/4aQjEs7MRWM1LKa4CoqAyZp3iQ7ZhArjaFibevrlhKEMEXTyE
4d2hGsbPOEUUHEFHhIiQT7174Hy+Jplq6nXcRK45AoGAYEETvPoq8tSLgP7li0xL
eTNIJOS7ZMbt1HcxQlY1IFMwVUIeWlmp4d+ipO/sin09p2w0F9cJa0YdTQvLS7mt
3BkQKrwFF3eOTpeuu79AbyINxRoi3DmFOMoShNYMISWObORTWl/M1mLJSxC1KobZ
qI6CfH5UrzwHabjRFypfXFg=
-----END PRIVATE KEY-----`);
const RSA_SPKI = base64Bytes("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAirDMPnE6vzS2sIv/PDWniy5X8x++IyhQITSjR/Q96GfFnFhiN05XUF6baEnP8fF1MM9eGZYOyh7+pQMV01qwRl9YcyKTPhSRxZWOaV7ihNy87Oj85S1XpF+qnJedLjIbq/Td3Sq2FNuvt65Q7RXFJunETHZvJ6XT/u/PlZWmbgNuEyumJ7UchSGWwth6iz9ug1TRKwITI88AsgAUDMRD3iuLNpHFEmTwSg46H+aWSWvQGk0UIeDDH7rkifvJ4//C1IHSMUJPC9AHKpIIIIiPo4NNgv9QaGnIcFQODi+z6pXkjgHdBYjwn7Ez4eXRXHCc9O2rif4HEMmkyRNbVANt9QIDAQAB");
const RSA_RS256_HELLO = "0acfad215c2b6ae8da6cf21d83520fe21c63deddf867e07e16fd5cac0f353dc5ca72604e7dbf4aa57e002018f4e2d52081958a9b67331e28f3c98a7c5225849320cfda98464e973aa77674f761372e1d92c770ede673d5cd3c6ad081b9d6b79c1e9c4a86009ca16d4141a5cab2abd4d97b846db02d04931b722f30827735e900d29b7464513387fd9b840b0eb6ca82ef94f8bc8c30d34a0234500b97597fb8ce711e13d826318315d79e1d3c1ab1ce8ee862c03469ab25e8f5fee468ece0274073f769c79ef7ef57500f8a967e5c59a67ddf14755691e8cb8e40b181b6835472b42b0824c8ac2ff5038e3610e19fea692e69b3434cfd70a98e5db292e1bdb44b";
const EC_PKCS8 = pemBytes(`-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHHuudKxxL47semQ5
0dmd/EViW9J/R+lWl6CtMVGVFJyhRANCAATDEKzxFTTaypS/ITLHwRboETI5J2+4
MM4lvXFQ+ReHm3t8k6FSWAUyAEcMaUbbvDLlTSmrWMu7lKw6PVm3ZNH0
-----END PRIVATE KEY-----`);
const EC_SPKI = base64Bytes("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwxCs8RU02sqUvyEyx8EW6BEyOSdvuDDOJb1xUPkXh5t7fJOhUlgFMgBHDGlG27wy5U0pq1jLu5SsOj1Zt2TR9A==");
const EC_ES256_HELLO = "59ce7383424f3923af6c0fa22712968ea5f7e7aca7e2ba3d8fa8ea3f7e4b2d7feebe50cf30bbaa32a60547c84680ae86db0f93cb74d99faa0c8d2ad3be26e243";

const RS256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
const ES256 = { name: "ECDSA", namedCurve: "P-256" };

const error = (name, message) => ({ name, message });
const dom = (name, message) => ({ name, message });
const hmacKey = (usages = ["sign", "verify"], extractable = true) =>
  subtle.importKey("raw", utf8("secret"), { name: "HMAC", hash: "SHA-256" }, extractable, usages);

// ---------------------------------------------------------------------------------------------------------
// digest

test("digest of 'abc' matches FIPS 180 / RFC 1321 for every supported hash", async () => {
  const expected = {
    "SHA-1": "a9993e364706816aba3e25717850c26c9cd0d89d",
    "SHA-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "SHA-384": "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    "SHA-512": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    MD5: "900150983cd24fb0d6963f7d28e17f72",
  };
  for (const [name, digest] of Object.entries(expected)) {
    const result = await subtle.digest(name, utf8("abc"));
    assert.ok(result instanceof ArrayBuffer, `${name} returns an ArrayBuffer`);
    assert.equal(hex(result), digest, name);
  }
});

test("digest takes names in any case, as objects, and any BufferSource view", async () => {
  const abc256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(hex(await subtle.digest("sha-256", utf8("abc"))), abc256);
  assert.equal(hex(await subtle.digest({ name: "Sha-256" }, utf8("abc").buffer)), abc256);
  const padded = utf8("xxabcxx");
  assert.equal(hex(await subtle.digest("SHA-256", new DataView(padded.buffer, 2, 3))), abc256);
  assert.equal(hex(await subtle.digest("SHA-256", padded.subarray(2, 5))), abc256);
  assert.equal(hex(await subtle.digest("SHA-1", new ArrayBuffer(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
});

test("digest copies its input when called", async () => {
  const data = utf8("abc");
  const pending = subtle.digest("SHA-256", data);
  data.fill(0);
  assert.equal(hex(await pending), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("digest errors reject with workerd's names and messages", async () => {
  await assert.rejects(subtle.digest("SHA-3", utf8("abc")),
    dom("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested."));
  await assert.rejects(subtle.digest("SHA-256", "abc"),
    error("TypeError", "Failed to execute 'digest' on 'SubtleCrypto': parameter 2 is not of type 'ArrayBuffer or ArrayBufferView'."));
  await assert.rejects(subtle.digest({}, utf8("abc")),
    error("TypeError", "Incorrect type for the 'name' field on 'Algorithm': the provided value is not of type 'string'."));
  const rejected = subtle.digest("nope", utf8(""));
  assert.ok(rejected instanceof Promise, "errors reject rather than throw");
  await assert.rejects(rejected, DOMException);
});

// ---------------------------------------------------------------------------------------------------------
// HMAC

test("HMAC matches RFC 4231 and RFC 2202 test vectors", async () => {
  const cases = [
    [new Uint8Array(20).fill(0x0b), "Hi There", "SHA-1", "b617318655057264e28bc0b6fb378c8ef146be00"],
    [new Uint8Array(20).fill(0x0b), "Hi There", "SHA-256", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
    [new Uint8Array(20).fill(0x0b), "Hi There", "SHA-384", "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"],
    [new Uint8Array(20).fill(0x0b), "Hi There", "SHA-512", "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"],
    [utf8("Jefe"), "what do ya want for nothing?", "SHA-256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    [new Uint8Array(131).fill(0xaa), "Test Using Larger Than Block-Size Key - Hash Key First", "SHA-512",
      "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"],
  ];
  for (const [raw, message, hash, mac] of cases) {
    const key = await subtle.importKey("raw", raw, { name: "HMAC", hash }, false, ["sign", "verify"]);
    assert.equal(hex(await subtle.sign("HMAC", key, utf8(message))), mac, `${hash} ${message}`);
    assert.equal(await subtle.verify("HMAC", key, fromHex(mac), utf8(message)), true);
    const wrong = fromHex(mac);
    wrong[0] ^= 1;
    assert.equal(await subtle.verify("HMAC", key, wrong, utf8(message)), false);
    assert.equal(await subtle.verify("HMAC", key, wrong.subarray(1), utf8(message)), false);
  }
});

test("an HMAC key describes itself like workerd's", async () => {
  const key = await subtle.importKey("raw", new Uint8Array(32), { name: "hmac", hash: { name: "sha-256" } }, true, ["verify", "sign", "sign"]);
  assert.ok(key instanceof CryptoKey);
  assert.equal(Object.prototype.toString.call(key), "[object CryptoKey]");
  assert.equal(key.type, "secret");
  assert.equal(key.extractable, true);
  assert.deepEqual(key.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 256 });
  assert.deepEqual(key.usages, ["sign", "verify"]);
  const algorithm = key.algorithm;
  algorithm.hash.name = "MD5";
  key.usages.push("encrypt");
  assert.equal(key.algorithm.hash.name, "SHA-256", "algorithm is a fresh copy");
  assert.deepEqual(key.usages, ["sign", "verify"], "usages is a fresh copy");
  assert.throws(() => new CryptoKey(), error("TypeError", "Illegal constructor"));
  assert.throws(() => new SubtleCrypto(), error("TypeError", "Illegal constructor"));
  assert.ok(crypto.subtle instanceof SubtleCrypto);
  assert.equal(crypto.subtle, crypto.subtle);
});

test("generated HMAC keys have the hash's block size, or the asked length with trailing bits zeroed", async () => {
  const sha256 = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  assert.deepEqual(sha256.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 512 });
  assert.equal((await subtle.exportKey("raw", sha256)).byteLength, 64);
  const sha512 = await subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
  assert.equal(sha512.algorithm.length, 1024);
  for (let i = 0; i < 8; i++) {
    const odd = await subtle.generateKey({ name: "HMAC", hash: "SHA-1", length: 13 }, true, ["sign"]);
    const raw = new Uint8Array(await subtle.exportKey("raw", odd));
    assert.equal(raw.length, 2);
    assert.equal(raw[1] & 0x07, 0, "the 3 unused bits are zero");
  }
});

test("HMAC keys round-trip through raw and jwk", async () => {
  const key = await subtle.importKey("raw", utf8("0123456789abcdef"), { name: "HMAC", hash: "SHA-384" }, true, ["sign", "verify"]);
  assert.equal(hex(await subtle.exportKey("raw", key)), hex(utf8("0123456789abcdef")));
  const jwk = await subtle.exportKey("jwk", key);
  assert.deepEqual(Object.keys(jwk), ["kty", "key_ops", "alg", "ext", "k"]);
  assert.deepEqual(jwk, { kty: "oct", key_ops: ["sign", "verify"], alg: "HS384", ext: true, k: "MDEyMzQ1Njc4OWFiY2RlZg" });
  const again = await subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-384" }, false, ["sign"]);
  assert.equal(hex(await subtle.sign("HMAC", again, utf8("m"))), hex(await subtle.sign("HMAC", key, utf8("m"))));
});

test("HMAC import, export and use fail as workerd does", async () => {
  const algorithm = { name: "HMAC", hash: "SHA-256" };
  const cases = [
    [() => subtle.importKey("raw", utf8("k"), { name: "HMAC" }, true, ["sign"]), error("TypeError", 'Missing field "hash" in "algorithm".')],
    [() => subtle.importKey("raw", utf8("k"), algorithm, true, ["encrypt"]), dom("SyntaxError", 'Attempt to import secret HMAC key with invalid usage "encrypt".')],
    [() => subtle.importKey("raw", utf8("k"), algorithm, true, ["bogus"]), dom("SyntaxError", 'Attempt to import secret HMAC key with invalid usage "bogus".')],
    [() => subtle.importKey("raw", utf8("k"), algorithm, true, []), dom("SyntaxError", "Secret/private CryptoKeys must have at least one usage.")],
    [() => subtle.importKey("raw", new Uint8Array(0), algorithm, true, ["sign"]),
      dom("DataError", "Imported HMAC key length (0) must be a non-zero value up to 7 bits less than, and no greater than, the bit length of the raw key data (0).")],
    [() => subtle.importKey("raw", new Uint8Array(2), { ...algorithm, length: 8 }, true, ["sign"]),
      dom("DataError", "Imported HMAC key length (8) must be a non-zero value up to 7 bits less than, and no greater than, the bit length of the raw key data (16).")],
    [() => subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "SHA-3" }, true, ["sign"]), dom("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested.")],
    [() => subtle.importKey("spki", utf8("k"), algorithm, true, ["sign"]), dom("NotSupportedError", 'Unrecognized key import format "spki".')],
    [() => subtle.importKey("pem", utf8("k"), algorithm, true, ["sign"]), dom("NotSupportedError", 'Unrecognized key import format "pem".')],
    [() => subtle.importKey("raw", "k", algorithm, true, ["sign"]),
      error("TypeError", 'Import data provided for "raw", "pkcs8", or "spki" import formats must be a buffer source.')],
    [() => subtle.importKey("jwk", utf8("k"), algorithm, true, ["sign"]), error("TypeError", 'Import data provided for "jwk" import format must be a JsonWebKey.')],
    [() => subtle.importKey("jwk", { k: "AA" }, algorithm, true, ["sign"]),
      error("TypeError", "Incorrect type for the 'kty' field on 'JsonWebKey': the provided value is not of type 'string'.")],
    [() => subtle.importKey("jwk", { kty: "RSA", k: "AA" }, algorithm, true, ["sign"]),
      dom("DataError", 'HMAC "jwk" key import requires a JSON Web Key with Key Type parameter ("kty") equal to "oct" (encountered "RSA").')],
    [() => subtle.importKey("jwk", { kty: "oct" }, algorithm, true, ["sign"]), dom("DataError", 'HMAC "jwk" key import requires a base64Url encoding of the key')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "A$A" }, algorithm, true, ["sign"]), dom("DataError", 'HMAC "jwk" key import requires a base64Url encoding of the key')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AAAA", alg: "HS384" }, algorithm, true, ["sign"]),
      dom("DataError", 'HMAC "jwk" key import specifies "alg" that is incompatible with the hash name (encountered "HS384", expected "HS256").')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AAAA", ext: false }, algorithm, true, ["sign"]),
      dom("DataError", 'JWK ext field for "HMAC" is set to false but extractable is true')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AAAA", alg: "HS256" }, { name: "HMAC", hash: "MD5" }, true, ["sign"]),
      dom("NotSupportedError", "Unrecognized or unimplemented hash algorithm requestedHS256")],
    [() => subtle.importKey("raw", utf8("k"), "NOPE", true, ["sign"]), dom("NotSupportedError", 'Unrecognized key import algorithm "NOPE" requested.')],
    [() => subtle.importKey("raw", utf8("k"), algorithm, true, "sign"),
      error("TypeError", "Failed to execute 'importKey' on 'SubtleCrypto': parameter 5 is not of type 'Array'.")],
    [async () => subtle.exportKey("raw", await hmacKey(["sign"], false)), dom("InvalidAccessError", "Attempt to export non-extractable HMAC key.")],
    [async () => subtle.exportKey("spki", await hmacKey()), dom("NotSupportedError", 'Unimplemented key export format "spki".')],
    [async () => subtle.exportKey("jwk", await subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "MD5" }, true, ["sign"])),
      dom("NotSupportedError", 'Unimplemented JWK key export format for key algorithm "MD5".')],
    [() => subtle.exportKey("raw", {}), error("TypeError", "Failed to execute 'exportKey' on 'SubtleCrypto': parameter 2 is not of type 'CryptoKey'.")],
    [async () => subtle.sign("HMAC", await hmacKey(["verify"]), utf8("m")),
      dom("InvalidAccessError", 'Requested key usage "sign" does not match any usage listed in this CryptoKey.')],
    [async () => subtle.sign({ name: "ECDSA", hash: "SHA-256" }, await hmacKey(), utf8("m")),
      dom("InvalidAccessError", "Requested algorithm \"ECDSA\" does not match this CryptoKey's algorithm \"HMAC\".")],
    [() => subtle.sign("HMAC", "key", utf8("m")), error("TypeError", "Failed to execute 'sign' on 'SubtleCrypto': parameter 2 is not of type 'CryptoKey'.")],
    [async () => subtle.verify("HMAC", await hmacKey(), "sig", utf8("m")),
      error("TypeError", "Failed to execute 'verify' on 'SubtleCrypto': parameter 3 is not of type 'ArrayBuffer or ArrayBufferView'.")],
    [async () => subtle.encrypt({ name: "HMAC" }, await hmacKey(), utf8("m")),
      dom("InvalidAccessError", 'Requested key usage "encrypt" does not match any usage listed in this CryptoKey.')],
    [() => subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 0 }, true, ["sign"]),
      dom("OperationError", "HMAC key length must be a non-zero unsigned long integer (requested 0).")],
    [() => subtle.generateKey({ name: "HMAC" }, true, ["sign"]), error("TypeError", 'Missing field "hash" in "algorithm".')],
    [() => subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, []), dom("SyntaxError", "Secret/private CryptoKeys must have at least one usage.")],
    [() => subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["deriveBits"]), dom("SyntaxError", 'Attempt to generate HMAC key with invalid usage "deriveBits".')],
    [() => subtle.generateKey({ name: "NOPE" }, true, ["sign"]), dom("NotSupportedError", 'Unrecognized key generation algorithm "NOPE" requested.')],
    [() => subtle.generateKey({ name: "PBKDF2" }, false, ["deriveBits"]), dom("NotSupportedError", 'Unrecognized key generation algorithm "PBKDF2" requested.')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
});

// ---------------------------------------------------------------------------------------------------------
// RSA

test("RSASSA-PKCS1-v1_5 from PKCS #8 signs 'hello' exactly as OpenSSL does, and verifies from SPKI", async () => {
  const privateKey = await subtle.importKey("pkcs8", RSA_PKCS8, RS256, false, ["sign"]);
  assert.equal(privateKey.type, "private");
  assert.deepEqual(privateKey.usages, ["sign"]);
  assert.deepEqual(privateKey.algorithm,
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: { name: "SHA-256" } });
  const signature = await subtle.sign("RSASSA-PKCS1-v1_5", privateKey, utf8("hello"));
  assert.equal(hex(signature), RSA_RS256_HELLO);
  const publicKey = await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"]);
  assert.equal(publicKey.type, "public");
  assert.equal(await subtle.verify(RS256, publicKey, signature, utf8("hello")), true);
  assert.equal(await subtle.verify(RS256, publicKey, signature, utf8("hellO")), false);
  assert.equal(await subtle.verify(RS256, publicKey, new Uint8Array(10), utf8("hello")), false);
});

test("RSA keys round-trip through pkcs8, spki and jwk", async () => {
  const privateKey = await subtle.importKey("pkcs8", RSA_PKCS8, RS256, true, ["sign"]);
  assert.equal(hex(await subtle.exportKey("pkcs8", privateKey)), hex(RSA_PKCS8));
  const publicKey = await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"]);
  assert.equal(hex(await subtle.exportKey("spki", publicKey)), hex(RSA_SPKI));

  const jwk = await subtle.exportKey("jwk", privateKey);
  // A JsonWebKey is a JSG_STRUCT: members come out in declaration order, which puts "d" before "n".
  assert.deepEqual(Object.keys(jwk), ["kty", "key_ops", "alg", "ext", "d", "n", "e", "p", "q", "dp", "dq", "qi"]);
  assert.equal(jwk.alg, "RS256");
  assert.equal(jwk.e, "AQAB");
  assert.deepEqual(jwk.key_ops, ["sign"]);
  const fromJwk = await subtle.importKey("jwk", jwk, RS256, true, ["sign"]);
  assert.equal(hex(await subtle.sign("RSASSA-PKCS1-v1_5", fromJwk, utf8("hello"))), RSA_RS256_HELLO);
  assert.equal(hex(await subtle.exportKey("pkcs8", fromJwk)), hex(RSA_PKCS8));

  const publicJwk = await subtle.exportKey("jwk", publicKey);
  assert.deepEqual(Object.keys(publicJwk), ["kty", "key_ops", "alg", "ext", "n", "e"]);
  assert.equal(publicJwk.n, jwk.n);
  const { d, p, q, dp, dq, qi, ...bare } = jwk;
  const minimal = await subtle.importKey("jwk", { kty: "RSA", n: jwk.n, e: jwk.e, d }, RS256, false, ["sign"]);
  assert.equal(hex(await subtle.sign("RSASSA-PKCS1-v1_5", minimal, utf8("hello"))), RSA_RS256_HELLO, "n, e, d alone sign too");
  const verifier = await subtle.importKey("jwk", { ...bare, key_ops: ["verify"] }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  assert.equal(await subtle.verify(RS256, verifier, fromHex(RSA_RS256_HELLO), utf8("hello")), true);
});

test("generated RSASSA-PKCS1-v1_5 pairs split usages and keep the public key extractable", async () => {
  const { publicKey, privateKey } = await subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-512" }, false, ["sign", "verify"]);
  assert.deepEqual([publicKey.type, publicKey.extractable, publicKey.usages], ["public", true, ["verify"]]);
  assert.deepEqual([privateKey.type, privateKey.extractable, privateKey.usages], ["private", false, ["sign"]]);
  assert.deepEqual(privateKey.algorithm,
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: { name: "SHA-512" } });
  const signature = await subtle.sign(privateKey.algorithm, privateKey, utf8("data"));
  assert.equal(signature.byteLength, 128);
  assert.equal(await subtle.verify("RSASSA-PKCS1-v1_5", publicKey, signature, utf8("data")), true);
});

test("RSA-PSS signs with the given salt length and verifies only with it", async () => {
  const algorithm = { name: "RSA-PSS", hash: "SHA-256" };
  const privateKey = await subtle.importKey("pkcs8", RSA_PKCS8, algorithm, false, ["sign"]);
  const publicKey = await subtle.importKey("spki", RSA_SPKI, algorithm, true, ["verify"]);
  const signature = await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, privateKey, utf8("hello"));
  assert.equal(await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, publicKey, signature, utf8("hello")), true);
  assert.equal(await subtle.verify({ name: "RSA-PSS", saltLength: 20 }, publicKey, signature, utf8("hello")), false);
  assert.equal((await subtle.exportKey("jwk", publicKey)).alg, "PS256");
  await assert.rejects(subtle.sign("RSA-PSS", privateKey, utf8("hello")),
    dom("DataError", "Failed to provide salt for RSA-PSS key operation which requires a salt"));
  await assert.rejects(subtle.verify("RSA-PSS", publicKey, signature, utf8("hello")),
    error("TypeError", "Failed to provide salt for RSA-PSS key operation which requires a salt"));
  await assert.rejects(subtle.sign({ name: "RSA-PSS", saltLength: -1 }, privateKey, utf8("hello")),
    dom("DataError", "SaltLength for RSA-PSS must be non-negative (provided -1)."));
  await assert.rejects(subtle.sign({ name: "RSA-PSS", saltLength: 300 }, privateKey, utf8("hello")),
    dom("OperationError", "key too small for signing with given digest and salt length"));
});

test("RSA-OAEP encrypts with the public key and decrypts with the private key and label", async () => {
  const { publicKey, privateKey } = await subtle.generateKey(
    { name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["encrypt", "decrypt"]);
  const label = utf8("label");
  const sealed = await subtle.encrypt({ name: "RSA-OAEP", label }, publicKey, utf8("secret"));
  assert.equal(sealed.byteLength, 128);
  assert.equal(hex(await subtle.decrypt({ name: "RSA-OAEP", label }, privateKey, sealed)), hex(utf8("secret")));
  await assert.rejects(subtle.decrypt({ name: "RSA-OAEP" }, privateKey, sealed), dom("OperationError", "RSA-OAEP failed encrypt/decrypt."));
  const jwk = await subtle.exportKey("jwk", publicKey);
  assert.equal(jwk.alg, "RSA-OAEP-256");
  const fromJwk = await subtle.importKey("jwk", { ...jwk, key_ops: undefined, use: "enc" }, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]);
  const resealed = await subtle.encrypt("RSA-OAEP", fromJwk, utf8("again"));
  assert.equal(hex(await subtle.decrypt("RSA-OAEP", privateKey, resealed)), hex(utf8("again")));
});

test("RSA import, export and generation fail as workerd does", async () => {
  const withTrailing = new Uint8Array(RSA_PKCS8.length + 2);
  withTrailing.set(RSA_PKCS8);
  const jwk = await subtle.exportKey("jwk", await subtle.importKey("pkcs8", RSA_PKCS8, RS256, true, ["sign"]));
  const publicJwk = { kty: "RSA", n: jwk.n, e: jwk.e };
  const generate = (overrides, usages = ["sign"]) => subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256", ...overrides }, true, usages);
  const cases = [
    [() => subtle.importKey("pkcs8", utf8("junk"), RS256, true, ["sign"]), dom("DataError", "Invalid PKCS8 input.")],
    [() => subtle.importKey("pkcs8", withTrailing, RS256, true, ["sign"]), dom("DataError", "Invalid 2 trailing bytes after PKCS8 input.")],
    [() => subtle.importKey("spki", utf8("junk"), RS256, true, ["verify"]), dom("DataError", "Invalid SPKI input.")],
    [() => subtle.importKey("spki", new Uint8Array([0x30, 0x80, 0]), RS256, true, ["verify"]), dom("DataError", "Invalid SPKI input.")],
    [() => subtle.importKey("pkcs8", new Uint8Array([0x30, 3, 1, 2, 3, 0]), RS256, true, ["sign"]), dom("DataError", "Invalid PKCS8 input.")],
    [() => subtle.importKey("pkcs8", EC_PKCS8, RS256, true, ["sign"]), dom("DataError", "Input was not an RSA key.")],
    [() => subtle.importKey("pkcs8", RSA_PKCS8, RS256, true, ["verify"]), dom("SyntaxError", 'Attempt to import private RSASSA-PKCS1-v1_5 key with invalid usage "verify".')],
    [() => subtle.importKey("spki", RSA_SPKI, RS256, true, ["sign"]), dom("SyntaxError", 'Attempt to import public RSASSA-PKCS1-v1_5 key with invalid usage "sign".')],
    [() => subtle.importKey("pkcs8", RSA_PKCS8, RS256, true, []), dom("SyntaxError", "Secret/private CryptoKeys must have at least one usage.")],
    [() => subtle.importKey("raw", RSA_SPKI, RS256, true, ["verify"]), dom("NotSupportedError", 'Unrecognized key import format "raw".')],
    [() => subtle.importKey("spki", RSA_SPKI, { name: "RSASSA-PKCS1-v1_5" }, true, ["verify"]), error("TypeError", 'Missing field "hash" in "algorithm".')],
    [async () => subtle.exportKey("raw", await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"])),
      dom("InvalidAccessError", 'Cannot export "RSASSA-PKCS1-v1_5" in "raw" format.')],
    [async () => subtle.exportKey("spki", await subtle.importKey("pkcs8", RSA_PKCS8, RS256, true, ["sign"])),
      dom("InvalidAccessError", 'Asymmetric spki export requires public key (not "private").')],
    [async () => subtle.exportKey("pkcs8", await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"])),
      dom("InvalidAccessError", 'Asymmetric pkcs8 export requires private key (not "public").')],
    [async () => subtle.exportKey("pem", await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"])),
      dom("InvalidAccessError", 'Cannot export "RSASSA-PKCS1-v1_5" in "pem" format.')],
    [() => subtle.importKey("jwk", { ...publicJwk, kty: "EC" }, RS256, true, ["verify"]),
      dom("DataError", 'RSASSA-PKCS1-v1_5 "jwk" key import requires a JSON Web Key with Key Type parameter "kty" ("EC") equal to "RSA".')],
    [() => subtle.importKey("jwk", { ...publicJwk, alg: "RS384" }, RS256, true, ["verify"]),
      dom("DataError", 'JSON Web Key Algorithm parameter "alg" ("RS384") does not match requested hash algorithm "RS384".')],
    [() => subtle.importKey("jwk", { ...publicJwk, alg: "HS256" }, RS256, true, ["verify"]),
      dom("NotSupportedError", 'Unrecognized or unimplemented algorithm "HS256" listed in JSON Web Key Algorithm parameter.')],
    [() => subtle.importKey("jwk", { ...publicJwk, use: "enc" }, RS256, true, ["verify"]),
      dom("DataError", 'Asymmetric "jwk" key import with usages requires a JSON Web Key with Public Key Use parameter "use" ("enc") equal to "sig".')],
    [() => subtle.importKey("jwk", { ...publicJwk, key_ops: ["verify", "verify"] }, RS256, true, ["verify"]),
      dom("DataError", 'A JSON Web Key\'s Key Operations parameter ("key_ops") must not contain duplicates.')],
    [() => subtle.importKey("jwk", { ...publicJwk, key_ops: ["encrypt"] }, RS256, true, ["verify"]),
      dom("DataError", 'All specified key usages must be present in the JSON Web Key\'s Key Operations parameter ("key_ops").')],
    [() => subtle.importKey("jwk", { ...publicJwk, use: "sig", key_ops: ["encrypt"] }, RS256, true, []),
      dom("DataError", 'A JSON Web Key should have either a Public Key Use parameter ("use") or a Key Operations parameter ("key_ops"); otherwise, the parameters must be consistent with each other. A Public Key Use for RSASSA-PKCS1-v1_5 would allow a Key Operations array with only "sign" and/or "verify" values (not "encrypt").')],
    [() => subtle.importKey("jwk", { kty: "RSA", e: "AQAB" }, RS256, true, ["verify"]),
      dom("DataError", 'Invalid RSA key in JSON Web Key; missing or invalid Modulus parameter ("n").')],
    [() => subtle.importKey("jwk", { ...jwk, q: undefined }, RS256, true, ["sign"]),
      dom("DataError", 'Invalid RSA private key in JSON Web Key; if one Prime Factor or CRT Exponent/Coefficient parameter is present, then they must all be present ("p", "q", "dp", "dq", "qi").')],
    [() => subtle.importKey("jwk", { ...jwk, oth: [] }, RS256, true, ["sign"]), dom("NotSupportedError", "Multi-prime private keys not supported.")],
    [() => generate({ modulusLength: 1000 }), dom("OperationError", "Can't generate key: RSA key size is required to be a multiple of 128")],
    [() => generate({ modulusLength: 100 }), dom("OperationError", "The modulus length must be a multiple of 8 and between 256 and 16k, but 100 was requested.")],
    [() => generate({ modulusLength: 1028 }), dom("OperationError", "The modulus length must be a multiple of 8 and between 256 and 16k, but 1028 was requested.")],
    [() => generate({ publicExponent: new Uint8Array([17]) }), dom("OperationError", 'The "publicExponent" must be either 3 or 65537, but got 17.')],
    [() => generate({ publicExponent: undefined }), error("TypeError", 'Missing field "publicExponent" in "algorithm".')],
    [() => generate({ modulusLength: 0 }), dom("OperationError", "modulusLength must be greater than zero (requested 0).")],
    [() => generate({ publicExponent: new Uint8Array([1, 0, 0, 0, 1]) }),
      dom("OperationError", 'The "publicExponent" must be either 3 or 65537, but got a number larger than 2^32.')],
    [() => generate({ modulusLength: 512 }),
      dom("OperationError", "RSA keys of 512 bits cannot be generated locally (outbound's crypto backend needs at least 1024 bits); import one instead.")],
    [() => subtle.importKey("jwk", { ...publicJwk, e: "BQ" }, RS256, true, ["verify"]), dom("OperationError", "Imported RSA key has invalid publicExponent 5.")],
    [() => subtle.importKey("jwk", { ...publicJwk, e: "Ag" }, RS256, true, ["verify"]), dom("DataError", "Invalid RSA key in JSON Web Key.")],
    [() => subtle.importKey("jwk", { ...jwk, dp: jwk.dq }, RS256, true, ["sign"]), dom("DataError", "Invalid RSA key in JSON Web Key.")],
    [() => subtle.importKey("jwk", { ...publicJwk, alg: "RS256" }, { name: "rsassa-pkcs1-v1_5", hash: "SHA-256" }, true, ["verify"]),
      dom("NotSupportedError", 'Unrecognized RSA variant "rsassa-pkcs1-v1_5".')],
    [() => subtle.importKey("jwk", { ...publicJwk, use: "enc", key_ops: ["verify"] }, RS256, true, []),
      dom("DataError", 'Asymmetric "jwk" import requires a JSON Web Key with Public Key Use "use" ("enc") equal to "sig".')],
    [async () => subtle.exportKey("jwk", await subtle.importKey("spki", RSA_SPKI, { name: "RSASSA-PKCS1-v1_5", hash: "MD5" }, true, ["verify"])),
      dom("NotSupportedError", 'JWK export not supported for hash algorithm "MD5".')],
    [() => generate({}, ["verify"]), dom("SyntaxError", "Attempt to generate asymmetric keys with no valid private key usages.")],
    [() => generate({}, ["encrypt"]), dom("SyntaxError", 'Attempt to generate RSASSA-PKCS1-v1_5 key with invalid usage "encrypt".')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
});

// ---------------------------------------------------------------------------------------------------------
// ECDSA

test("ECDSA P-256 signs in IEEE P1363 form and verifies a signature made by OpenSSL", async () => {
  const privateKey = await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"]);
  const publicKey = await subtle.importKey("spki", EC_SPKI, ES256, true, ["verify"]);
  assert.deepEqual(privateKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  const algorithm = { name: "ECDSA", hash: "SHA-256" };
  assert.equal(await subtle.verify(algorithm, publicKey, fromHex(EC_ES256_HELLO), utf8("hello")), true);
  const signature = await subtle.sign(algorithm, privateKey, utf8("hello"));
  assert.equal(signature.byteLength, 64, "r || s, 32 bytes each");
  assert.equal(await subtle.verify(algorithm, publicKey, signature, utf8("hello")), true);
  assert.equal(await subtle.verify(algorithm, publicKey, signature, utf8("hellO")), false);
  assert.equal(await subtle.verify(algorithm, publicKey, new Uint8Array(signature).subarray(1), utf8("hello")), false, "wrong size is invalid, not an error");
  assert.equal(await subtle.verify({ name: "ECDSA", hash: "SHA-384" }, publicKey, signature, utf8("hello")), false);
});

test("EC keys round-trip through pkcs8, spki, jwk and raw", async () => {
  const privateKey = await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"]);
  assert.equal(hex(await subtle.exportKey("pkcs8", privateKey)), hex(EC_PKCS8));
  const publicKey = await subtle.importKey("spki", EC_SPKI, ES256, true, ["verify"]);
  assert.equal(hex(await subtle.exportKey("spki", publicKey)), hex(EC_SPKI));
  const jwk = await subtle.exportKey("jwk", privateKey);
  assert.deepEqual(Object.keys(jwk), ["kty", "key_ops", "ext", "crv", "x", "y", "d"]);
  assert.deepEqual([jwk.kty, jwk.crv, jwk.x.length, jwk.y.length, jwk.d.length], ["EC", "P-256", 43, 43, 43]);
  const fromJwk = await subtle.importKey("jwk", { ...jwk, alg: "ES256" }, ES256, true, ["sign"]);
  assert.equal(hex(await subtle.exportKey("pkcs8", fromJwk)), hex(EC_PKCS8));
  const raw = new Uint8Array(await subtle.exportKey("raw", publicKey));
  assert.deepEqual([raw.length, raw[0]], [65, 4]);
  const fromRaw = await subtle.importKey("raw", raw, ES256, true, ["verify"]);
  assert.equal(hex(await subtle.exportKey("spki", fromRaw)), hex(EC_SPKI));
  assert.equal(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, fromRaw, fromHex(EC_ES256_HELLO), utf8("hello")), true);
  const publicJwk = await subtle.exportKey("jwk", publicKey);
  assert.deepEqual(publicJwk, { kty: "EC", key_ops: ["verify"], ext: true, crv: "P-256", x: jwk.x, y: jwk.y });
});

test("generated P-384 ECDSA pairs sign with SHA-384 in 96 bytes", async () => {
  const { publicKey, privateKey } = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, ["sign", "verify"]);
  assert.deepEqual([publicKey.extractable, publicKey.usages, privateKey.extractable, privateKey.usages], [true, ["verify"], false, ["sign"]]);
  const algorithm = { name: "ECDSA", hash: { name: "SHA-384" } };
  const signature = await subtle.sign(algorithm, privateKey, utf8("data"));
  assert.equal(signature.byteLength, 96);
  assert.equal(await subtle.verify(algorithm, publicKey, signature, utf8("data")), true);
  const raw = new Uint8Array(await subtle.exportKey("raw", publicKey));
  assert.equal(raw.length, 97);
});

test("ECDSA import, export and use fail as workerd does", async () => {
  const jwk = await subtle.exportKey("jwk", await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"]));
  const publicJwk = { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
  const badX = (jwk.x[0] === "A" ? "B" : "A") + jwk.x.slice(1);
  const cases = [
    [() => subtle.importKey("spki", EC_SPKI, { name: "ECDSA" }, true, ["verify"]), error("TypeError", 'Missing field "namedCurve" in "algorithm".')],
    [() => subtle.importKey("spki", EC_SPKI, { name: "ECDSA", namedCurve: "P-999" }, true, ["verify"]),
      dom("NotSupportedError", 'Unrecognized or unimplemented EC curve "P-999" requested.')],
    [() => subtle.importKey("pkcs8", EC_PKCS8, { name: "ECDSA", namedCurve: "P-384" }, true, ["sign"]),
      dom("DataError", '"algorithm.namedCurve" "P-384" does not match the curve specified by the input key data.')],
    [() => subtle.importKey("spki", RSA_SPKI, ES256, true, ["verify"]), dom("DataError", "Input was not an EC key.")],
    [() => subtle.importKey("raw", new Uint8Array(65).fill(4), ES256, true, ["sign"]), dom("SyntaxError", 'Attempt to import public ECDSA key with invalid usage "sign".')],
    [() => subtle.importKey("raw", new Uint8Array(10), ES256, true, ["verify"]), dom("DataError", "Failed to import raw EC key data: Invalid point encoding.")],
    [() => subtle.importKey("raw", new Uint8Array(65).fill(4), ES256, true, ["verify"]), dom("DataError", "Failed to import raw EC key data: Point is not on curve.")],
    [() => subtle.importKey("jwk", { ...publicJwk, kty: "RSA" }, ES256, true, ["verify"]),
      dom("DataError", 'Elliptic curve "jwk" key import requires a JSON Web Key with Key Type parameter "kty" ("RSA") equal to "EC".')],
    [() => subtle.importKey("jwk", { ...publicJwk, alg: "ES384" }, ES256, true, ["verify"]),
      dom("DataError", 'JSON Web Key Algorithm parameter "alg" ("ES384") does not match requested curve.')],
    [() => subtle.importKey("jwk", { ...publicJwk, alg: "RS256" }, ES256, true, ["verify"]),
      dom("NotSupportedError", 'Unrecognized or unimplemented algorithm "RS256" listed in JSON Web Key Algorithm parameter.')],
    [() => subtle.importKey("jwk", { kty: "EC", crv: "P-256", y: jwk.y }, ES256, true, ["verify"]), dom("DataError", 'Invalid EC key in JSON Web Key; missing "x".')],
    [() => subtle.importKey("jwk", { ...publicJwk, x: badX }, ES256, true, ["verify"]),
      dom("OperationError", 'Invalid EC key; public key coordinates "x" and "y" are invalid: Point is not on curve.')],
    [() => subtle.importKey("jwk", { ...publicJwk, d: jwk.x }, ES256, true, ["sign"]), dom("DataError", "Invalid EC key in JSON Web Key.")],
    [() => subtle.importKey("jwk", { ...jwk, x: badX }, ES256, true, ["sign"]),
      dom("OperationError", 'Invalid EC key; public key coordinates "x" and "y" are invalid: Point is not on curve.')],
    [async () => subtle.exportKey("raw", await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"])),
      dom("InvalidAccessError", "Raw export of elliptic curve keys is only allowed for public keys.")],
    [async () => subtle.sign("ECDSA", await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"]), utf8("m")),
      error("TypeError", 'Missing "hash" in AlgorithmIdentifier. (ECDSA requires that the hash algorithm be specified at call time rather than on the key. This differs from other WebCrypto algorithms for historical reasons.)')],
    [async () => subtle.sign({ name: "ECDSA", hash: "SHA-3" }, await subtle.importKey("pkcs8", EC_PKCS8, ES256, true, ["sign"]), utf8("m")),
      dom("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested.")],
    [() => subtle.generateKey({ name: "ECDSA" }, true, ["sign"]), error("TypeError", 'Missing field "namedCurve" in "algorithm".')],
    [() => subtle.generateKey(ES256, true, ["deriveBits"]), dom("SyntaxError", 'Attempt to generate ECDSA key with invalid usage "deriveBits".')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
});

// ---------------------------------------------------------------------------------------------------------
// Ed25519, X25519, ECDH

test("Ed25519 matches RFC 8032 test 1 and exports OKP JWKs", async () => {
  const jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" };
  const expected = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
  const privateKey = await subtle.importKey("jwk", jwk, "Ed25519", true, ["sign"]);
  assert.deepEqual(privateKey.algorithm, { name: "Ed25519" });
  assert.equal(hex(await subtle.sign("Ed25519", privateKey, new Uint8Array(0))), expected);
  const publicKey = await subtle.importKey("raw", fromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), { name: "Ed25519" }, true, ["verify"]);
  assert.equal(await subtle.verify("Ed25519", publicKey, fromHex(expected), new Uint8Array(0)), true);
  assert.equal(await subtle.verify("Ed25519", publicKey, fromHex(expected), new Uint8Array(1)), false);
  assert.deepEqual(await subtle.exportKey("jwk", privateKey), { kty: "OKP", key_ops: ["sign"], alg: "EdDSA", ext: true, crv: "Ed25519", x: jwk.x, d: jwk.d });
  const pair = await subtle.generateKey("Ed25519", true, ["sign", "verify"]);
  const signature = await subtle.sign("Ed25519", pair.privateKey, utf8("m"));
  assert.equal(await subtle.verify("Ed25519", pair.publicKey, signature, utf8("m")), true);
  assert.equal(hex(await subtle.exportKey("raw", pair.publicKey)).length, 64);
  await assert.rejects(subtle.importKey("raw", new Uint8Array(31), "Ed25519", true, ["verify"]),
    dom("DataError", "Ed25519 raw keys must be exactly 32-bytes (provided 31)."));
  await assert.rejects(subtle.verify("Ed25519", publicKey, new Uint8Array(63), new Uint8Array(0)),
    dom("OperationError", "Invalid Ed25519 signature length 63"));
  await assert.rejects(subtle.importKey("jwk", { ...jwk, crv: "X25519" }, "Ed25519", true, ["sign"]),
    dom("NotSupportedError", 'Only Ed25519 is supported but "X25519" was requested.'));
  const publicJwk = await subtle.exportKey("jwk", publicKey);
  assert.deepEqual(publicJwk, { kty: "OKP", key_ops: ["verify"], alg: "EdDSA", ext: true, crv: "Ed25519", x: jwk.x });
  const fromJwk = await subtle.importKey("jwk", publicJwk, "Ed25519", false, ["verify"]);
  assert.equal(await subtle.verify("Ed25519", fromJwk, fromHex(expected), new Uint8Array(0)), true);
});

test("Ed25519 import and export fail as workerd does, and NODE-ED25519 still works", async () => {
  const jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" };
  const cases = [
    [async () => subtle.exportKey("raw", (await subtle.generateKey("Ed25519", true, ["sign"])).privateKey),
      dom("InvalidAccessError", "Raw export of Ed25519 keys is only allowed for public keys.")],
    [() => subtle.importKey("spki", RSA_SPKI, "Ed25519", true, ["verify"]), dom("DataError", "Input was not an Ed25519 key.")],
    [() => subtle.importKey("jwk", { ...jwk, kty: "EC" }, "Ed25519", true, ["verify"]),
      dom("DataError", 'Ed25519 "jwk" key imports requires a JSON Web Key with Key Type parameter "kty" ("EC") equal to "OKP".')],
    [() => subtle.importKey("jwk", { ...jwk, crv: undefined }, "Ed25519", true, ["verify"]), dom("DataError", 'Missing field "crv" for Ed25519 key.')],
    [() => subtle.importKey("jwk", { ...jwk, alg: "ES256" }, "Ed25519", true, ["verify"]),
      dom("DataError", 'JSON Web Key Algorithm parameter "alg" ("ES256") does not match requested Ed25519 curve.')],
    [() => subtle.importKey("jwk", { ...jwk, x: "AAAA" }, "Ed25519", true, ["verify"]), dom("DataError", "Invalid length 3 for public key")],
    [() => subtle.importKey("jwk", { ...jwk, d: "AAAA" }, "Ed25519", true, ["sign"]), dom("DataError", "Invalid length 3 for private key")],
    [() => subtle.generateKey({ name: "NODE-ED25519", namedCurve: "Ed25519" }, true, ["sign"]), dom("NotSupportedError", 'EDDSA curve "Ed25519" isn\'t supported.')],
    [() => subtle.generateKey("Ed25519", true, ["encrypt"]), dom("SyntaxError", 'Attempt to generate Ed25519 key with invalid usage "encrypt".')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
  const legacy = await subtle.generateKey({ name: "NODE-ED25519", namedCurve: "NODE-ED25519" }, true, ["sign", "verify"]);
  assert.deepEqual(legacy.privateKey.algorithm, { name: "NODE-ED25519", namedCurve: "NODE-ED25519" });
  const signature = await subtle.sign("NODE-ED25519", legacy.privateKey, utf8("m"));
  assert.equal(await subtle.verify({ name: "NODE-ED25519" }, legacy.publicKey, signature, utf8("m")), true);
});

test("X25519 agrees on RFC 7748's shared secret", async () => {
  const alice = await subtle.importKey("jwk",
    { kty: "OKP", crv: "X25519", x: "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo", d: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo" },
    "X25519", false, ["deriveBits"]);
  const bob = await subtle.importKey("raw", fromHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), "X25519", true, []);
  const shared = await subtle.deriveBits({ name: "X25519", public: bob }, alice, 256);
  assert.equal(hex(shared), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  assert.equal(hex(await subtle.deriveBits({ name: "X25519", public: bob }, alice, 12)), "4a50");
  await assert.rejects(subtle.deriveBits({ name: "X25519", public: bob }, alice, 264),
    dom("OperationError", "Derived key length (264 bits) is too long (should be at most 256 bits)."));
  const zero = await subtle.importKey("raw", new Uint8Array(32), "X25519", true, []);
  await assert.rejects(subtle.deriveBits({ name: "X25519", public: zero }, alice, 256),
    dom("OperationError", "Detected small order secure curve points, aborting EDDH derivation"));
  const ed = await subtle.generateKey("Ed25519", true, ["sign", "verify"]);
  await assert.rejects(subtle.deriveBits({ name: "X25519", public: ed.publicKey }, alice, 256),
    dom("InvalidAccessError", 'Private key for derivation is using "X25519" while public key is using "Ed25519".'));
});

test("ECDH pairs derive the same bits both ways, and refuse mismatched keys", async () => {
  const a = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const b = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  assert.deepEqual(a.publicKey.usages, []);
  const ab = await subtle.deriveBits({ name: "ECDH", public: b.publicKey }, a.privateKey, 256);
  const ba = await subtle.deriveBits({ name: "ECDH", public: a.publicKey }, b.privateKey, null);
  assert.equal(hex(ab), hex(ba));
  const other = await subtle.generateKey({ name: "ECDH", namedCurve: "P-384" }, true, ["deriveBits"]);
  await assert.rejects(subtle.deriveBits({ name: "ECDH", public: other.publicKey }, a.privateKey, 256),
    dom("InvalidAccessError", 'Private key for derivation is using curve "P-256" while public key is using "P-384".'));
  await assert.rejects(subtle.deriveBits({ name: "ECDH", public: b.privateKey }, a.privateKey, 256),
    dom("InvalidAccessError", 'The provided key has type "private", not "public"'));
  await assert.rejects(subtle.deriveBits({ name: "ECDH" }, a.privateKey, 256),
    error("TypeError", 'Missing field "public" in "derivedKeyParams".'));
  await assert.rejects(subtle.deriveBits({ name: "ECDH", public: b.publicKey }, a.privateKey, -1),
    error("TypeError", "deriveBits length must be an unsigned long integer."));
  await assert.rejects(subtle.importKey("raw", await subtle.exportKey("raw", a.publicKey), { name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]),
    dom("SyntaxError", 'Attempt to import public ECDH key with invalid usage "deriveBits".'));
  const x = await subtle.generateKey("X25519", true, ["deriveBits"]);
  await assert.rejects(subtle.deriveBits({ name: "ECDH", public: x.publicKey }, a.privateKey, 256),
    dom("InvalidAccessError", "Base ECDH private key cannot be used to derive a key from a peer X25519 public key"));
  const rsaPublic = await subtle.importKey("spki", RSA_SPKI, RS256, true, ["verify"]);
  await assert.rejects(subtle.deriveBits({ name: "ECDH", public: rsaPublic }, a.privateKey, 256),
    dom("InvalidAccessError", "Base ECDH private key cannot be used to derive a key from a peer RSASSA-PKCS1-v1_5 public key"));
  const ecdh = { name: "ECDH", namedCurve: "P-256" };
  const privateJwk = await subtle.exportKey("jwk", a.privateKey);
  const publicJwk = await subtle.exportKey("jwk", a.publicKey);
  await assert.rejects(subtle.importKey("jwk", { ...privateJwk, key_ops: ["deriveBits"] }, ecdh, true, ["deriveBits", "deriveKey"]),
    dom("DataError", 'All specified key usages must be present in the JSON Web Key\'s Key Operations parameter ("key_ops").'));
  await assert.rejects(subtle.importKey("jwk", { ...publicJwk, use: "enc", key_ops: ["deriveBits"] }, ecdh, true, []),
    dom("DataError", 'A JSON Web Key should have either a Public Key Use parameter ("use") or a Key Operations parameter ("key_ops"); otherwise, the parameters must be consistent with each other. For public ECDH keys, there are no valid usages,so keys with a non-empty "key_ops" parameter are not allowed.'));
  const hkdf = await subtle.deriveKey({ name: "ECDH", public: b.publicKey },
    await subtle.importKey("jwk", { ...privateJwk, key_ops: undefined }, ecdh, false, ["deriveKey"]), "HKDF", false, ["deriveBits"]);
  assert.deepEqual(hkdf.algorithm, { name: "HKDF" });
});

// ---------------------------------------------------------------------------------------------------------
// AES

const AES_KEY_BYTES = new Uint8Array([...Array(16).keys(), ...Array(16).keys()]);

test("AES-CBC and AES-GCM encrypt empty input as workerd's own test expects", async () => {
  const expected = { "AES-CBC": "dd3eedef984211b98384dc5677bc728e", "AES-GCM": "fedbd1a722cb7c1a52f529e0469ee449" };
  for (const [name, ciphertext] of Object.entries(expected)) {
    const key = await subtle.importKey("raw", AES_KEY_BYTES, name, true, ["encrypt", "decrypt"]);
    assert.deepEqual(key.algorithm, { name, length: 256 });
    const sealed = await subtle.encrypt({ name, iv: new Uint8Array(16) }, key, new ArrayBuffer(0));
    assert.equal(hex(sealed), ciphertext, name);
    assert.equal((await subtle.decrypt({ name, iv: new Uint8Array(16) }, key, sealed)).byteLength, 0);
  }
});

test("AES-GCM round-trips with additional data and a short tag, and rejects tampering", async () => {
  const key = await subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt", "decrypt"]);
  const params = { name: "AES-GCM", iv: utf8("twelve bytes"), additionalData: utf8("aad"), tagLength: 96 };
  const sealed = new Uint8Array(await subtle.encrypt(params, key, utf8("hello")));
  assert.equal(sealed.length, 5 + 12);
  assert.equal(hex(await subtle.decrypt(params, key, sealed)), hex(utf8("hello")));
  sealed[0] ^= 1;
  await assert.rejects(subtle.decrypt(params, key, sealed), dom("OperationError",
    "Decryption failed. This could be due to a ciphertext authentication failure, bad padding, incorrect CryptoKey, or another algorithm-specific reason. Input length was 5, output length expected to be 5 for AES-GCM"));
  const jwk = await subtle.exportKey("jwk", key);
  assert.deepEqual(Object.keys(jwk), ["kty", "key_ops", "alg", "ext", "k"]);
  assert.equal(jwk.alg, "A128GCM");
  const again = await subtle.importKey("jwk", jwk, "AES-GCM", false, ["decrypt"]);
  sealed[0] ^= 1;
  assert.equal(hex(await subtle.decrypt(params, again, sealed)), hex(utf8("hello")));
});

test("AES-CTR matches SP 800-38A F.5.1 and wraps only the counter bits", async () => {
  const key = await subtle.importKey("raw", fromHex("2b7e151628aed2a6abf7158809cf4f3c"), "AES-CTR", false, ["encrypt", "decrypt"]);
  const counter = fromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const out = await subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, key, fromHex("6bc1bee22e409f96e93d7e117393172a"));
  assert.equal(hex(out), "874d6191b620e3261bef6864990db6ce");
  const wrapped = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter, length: 8 }, key, new Uint8Array(32)));
  const restarted = fromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfe00");
  const second = new Uint8Array(await subtle.encrypt({ name: "AES-CTR", counter: restarted, length: 8 }, key, new Uint8Array(16)));
  assert.equal(hex(wrapped.subarray(16)), hex(second), "the 8 counter bits wrap to zero; the rest stay");
  await assert.rejects(subtle.encrypt({ name: "AES-CTR", counter, length: 0 }, key, new Uint8Array(1)),
    dom("OperationError", "Invalid counter of 0 bits length provided."));
  await assert.rejects(subtle.encrypt({ name: "AES-CTR", counter: new Uint8Array(8), length: 64 }, key, new Uint8Array(1)),
    dom("OperationError", "Counter must have length of 16 bytes (provided 8)."));
  await assert.rejects(subtle.encrypt({ name: "AES-CTR", counter, length: 1 }, key, new Uint8Array(48)),
    dom("OperationError", "Counter block values will repeat."));
});

test("AES-KW wraps as RFC 3394 says, and wrapKey/unwrapKey round-trip keys", async () => {
  const kek = await subtle.importKey("raw", fromHex("000102030405060708090a0b0c0d0e0f"), "AES-KW", false, ["wrapKey", "unwrapKey"]);
  const data = await subtle.importKey("raw", fromHex("00112233445566778899aabbccddeeff"), { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const wrapped = await subtle.wrapKey("raw", data, kek, "AES-KW");
  assert.equal(hex(wrapped), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
  const unwrapped = await subtle.unwrapKey("raw", wrapped, kek, "AES-KW", { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  assert.equal(hex(await subtle.exportKey("raw", unwrapped)), "00112233445566778899aabbccddeeff");

  const gcm = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["wrapKey", "unwrapKey"]);
  const params = { name: "AES-GCM", iv: new Uint8Array(12) };
  const sealedJwk = await subtle.wrapKey("jwk", data, gcm, params);
  const back = await subtle.unwrapKey("jwk", sealedJwk, gcm, params, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assert.equal(hex(await subtle.sign("HMAC", back, utf8("m"))), hex(await subtle.sign("HMAC", data, utf8("m"))));

  const secret = await subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  await assert.rejects(subtle.wrapKey("raw", secret, kek, "AES-KW"), dom("InvalidAccessError", "Attempt to export non-extractable HMAC key."));
  await assert.rejects(subtle.unwrapKey("raw", new Uint8Array(24), kek, "AES-KW", "AES-GCM", true, ["encrypt"]),
    dom("OperationError", "AES-KW key unwrapping failed."));
  const garbage = await subtle.wrapKey("raw", data, gcm, params);
  await assert.rejects(subtle.unwrapKey("jwk", garbage, gcm, params, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]),
    dom("DataError", 'Missing "kty" field or corrupt JSON unwrapping key?'));
  const short = await subtle.importKey("raw", new Uint8Array(8), { name: "HMAC", hash: "SHA-1" }, true, ["sign"]);
  await assert.rejects(subtle.wrapKey("raw", short, kek, "AES-KW"),
    dom("OperationError", "Unwrapped key has length 8 bytes but it should be greater than or equal to 16 and less than or equal to 18446744073709551607"));
  const odd = await subtle.importKey("raw", new Uint8Array(20), { name: "HMAC", hash: "SHA-1" }, true, ["sign"]);
  await assert.rejects(subtle.wrapKey("raw", odd, kek, "AES-KW"),
    dom("OperationError", "Unwrapped key bit length must be a multiple of 64 bits but unwrapped key has a length of 160 bits."));
  await assert.rejects(subtle.unwrapKey("raw", new Uint8Array(20), kek, "AES-KW", "AES-GCM", true, ["encrypt"]),
    dom("OperationError", "Provided a wrapped key to unwrap that is 160 bits which isn't a multiple of 64 bits."));
  await assert.rejects(subtle.unwrapKey("raw", new Uint8Array(16), kek, "AES-KW", "AES-GCM", true, ["encrypt"]),
    dom("OperationError", "Provided a wrapped key to unwrap this is 128 bits that is less than the minimal length of 192 bits."));
});

test("AES import, generation and use fail as workerd does", async () => {
  const gcm = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["encrypt"]);
  const cbc = await subtle.importKey("raw", new Uint8Array(16), "AES-CBC", true, ["encrypt", "decrypt"]);
  const gcmBoth = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["encrypt", "decrypt"]);
  const ctr = await subtle.importKey("raw", new Uint8Array(16), "AES-CTR", true, ["encrypt"]);
  const oct = { kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA" };
  const cases = [
    [() => subtle.importKey("jwk", { ...oct, kty: "RSA" }, "AES-GCM", true, ["encrypt"]),
      dom("DataError", 'Symmetric "jwk" key import requires a JSON Web Key with Key Type parameter "kty" equal to "oct" (encountered "RSA").')],
    [() => subtle.importKey("jwk", { ...oct, k: "AAAA" }, "AES-GCM", true, ["encrypt"]), dom("DataError", "Imported AES key length must be 128, 192, or 256 bits but provided 24.")],
    [() => subtle.importKey("jwk", { ...oct, use: "sig" }, "AES-GCM", true, ["encrypt"]), dom("DataError", 'Symmetric "jwk" key must have a "use" of "enc", not "sig".')],
    [() => subtle.importKey("jwk", { ...oct, key_ops: ["encrypt", "encrypt"] }, "AES-GCM", true, ["encrypt"]),
      dom("DataError", 'Symmetric "jwk" key contains duplicate value "encrypt", in "key_op".')],
    [() => subtle.importKey("spki", new Uint8Array(16), "AES-GCM", true, ["encrypt"]), dom("NotSupportedError", 'Unrecognized key import format "spki".')],
    [() => subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, gcmBoth, new Uint8Array(8)),
      dom("OperationError", "Ciphertext length of 64 bits must be greater than or equal to the size of the AES-GCM tag length of 128 bits.")],
    [() => subtle.decrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, cbc, new Uint8Array(33)),
      dom("OperationError", "Decryption failed. This could be due to a ciphertext authentication failure, bad padding, incorrect CryptoKey, or another algorithm-specific reason. Input length was 33, output length expected to be 32 for AES-CBC")],
    [() => subtle.encrypt({ name: "AES-CTR", length: 64 }, ctr, new Uint8Array(1)), error("TypeError", 'Missing "counter" member in "algorithm".')],
    [() => subtle.encrypt({ name: "AES-CTR", counter: new Uint8Array(16) }, ctr, new Uint8Array(1)), error("TypeError", 'Missing "length" member in "algorithm".')],
    [() => subtle.importKey("raw", new Uint8Array(15), "AES-GCM", true, ["encrypt"]), dom("DataError", "Imported AES key length must be 128, 192, or 256 bits but provided 120.")],
    [() => subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["sign"]), dom("SyntaxError", 'Attempt to import secret AES-GCM key with invalid usage "sign".')],
    [() => subtle.importKey("raw", new Uint8Array(16), "AES-KW", true, ["encrypt"]), dom("SyntaxError", 'Attempt to import secret AES-KW key with invalid usage "encrypt".')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA", alg: "A256GCM" }, "AES-GCM", true, ["encrypt"]),
      dom("DataError", 'Symmetric "jwk" key contains invalid "alg" value "A256GCM", expected "A128GCM".')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AAAAAAAAAAAAAAAAAAAAAA", key_ops: ["decrypt"] }, "AES-GCM", true, ["encrypt"]),
      dom("DataError", '"jwk" key missing usage "encrypt", in "key_ops".')],
    [() => subtle.generateKey({ name: "AES-GCM", length: 100 }, true, ["encrypt"]), dom("OperationError", "Generated AES key length must be 128, 192, or 256 bits but requested 100.")],
    [() => subtle.generateKey({ name: "AES-GCM" }, true, ["encrypt"]), error("TypeError", 'Missing field "length" in "algorithm".')],
    [() => subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(0) }, gcm, new Uint8Array(1)), dom("OperationError", "AES-GCM IV must not be empty.")],
    [() => subtle.encrypt({ name: "AES-GCM" }, gcm, new Uint8Array(1)), error("TypeError", 'Missing field "iv" in "algorithm".')],
    [() => subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 100 }, gcm, new Uint8Array(1)), dom("OperationError", "Invalid AES-GCM tag length 100.")],
    [() => subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(8) }, cbc, new Uint8Array(1)), dom("OperationError", "AES-CBC IV must be 16 bytes long (provided 8 bytes).")],
    [() => subtle.decrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, cbc, new Uint8Array(16)),
      dom("OperationError", "Decryption failed. This could be due to a ciphertext authentication failure, bad padding, incorrect CryptoKey, or another algorithm-specific reason. Input length was 16, output length expected to be 0 for AES-CBC")],
    [() => subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, gcm, new Uint8Array(16)),
      dom("InvalidAccessError", 'Requested key usage "decrypt" does not match any usage listed in this CryptoKey.')],
    [() => subtle.encrypt({ name: "AES-GCM", iv: "iv" }, gcm, new Uint8Array(1)),
      error("TypeError", "Incorrect type for the 'iv' field on 'Algorithm': the provided value is not of type 'ArrayBuffer or ArrayBufferView'.")],
    [() => subtle.exportKey("spki", gcm), dom("NotSupportedError", 'AES-GCM key only supports exporting "raw" & "jwk", not "spki".')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
});

// ---------------------------------------------------------------------------------------------------------
// PBKDF2 and HKDF

test("PBKDF2 and HKDF match RFC 6070 and RFC 5869, and deriveKey makes usable keys", async () => {
  const password = await subtle.importKey("raw", utf8("password"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
  assert.deepEqual([password.algorithm, password.extractable], [{ name: "PBKDF2" }, false]);
  const pbkdf2 = (iterations) => subtle.deriveBits({ name: "PBKDF2", hash: "SHA-1", salt: utf8("salt"), iterations }, password, 160);
  assert.equal(hex(await pbkdf2(1)), "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  assert.equal(hex(await pbkdf2(4096)), "4b007901b765489abead49d926f721d065a429c1");

  const ikm = await subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveBits"]);
  const okm = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: fromHex("000102030405060708090a0b0c"), info: fromHex("f0f1f2f3f4f5f6f7f8f9") }, ikm, 336);
  assert.equal(hex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");

  const aes = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: utf8("salt"), iterations: 10 }, password,
    { name: "AES-GCM", length: 256 }, true, ["encrypt"]);
  assert.deepEqual([aes.algorithm, aes.usages], [{ name: "AES-GCM", length: 256 }, ["encrypt"]]);
  const bits = await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: utf8("salt"), iterations: 10 }, password, 256);
  assert.equal(hex(await subtle.exportKey("raw", aes)), hex(bits));
  const hmac = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: utf8("salt"), iterations: 10 }, password,
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assert.equal(hmac.algorithm.length, 512);
});

test("PBKDF2 and HKDF fail as workerd (and production's iteration cap) do", async () => {
  const password = await subtle.importKey("raw", utf8("password"), "PBKDF2", false, ["deriveBits"]);
  const deriver = await subtle.importKey("raw", utf8("password"), "PBKDF2", false, ["deriveKey"]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt: utf8("salt"), iterations: 1 };
  const hkdfKey = await subtle.importKey("raw", utf8("k"), "HKDF", false, ["deriveBits"]);
  const hkdfParams = { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new Uint8Array(0) };
  assert.equal((await subtle.deriveBits(hkdfParams, hkdfKey, 0)).byteLength, 0);
  assert.equal((await subtle.deriveBits(params, password, 0)).byteLength, 0);
  const hmac = await subtle.deriveKey(params, deriver, { name: "HMAC", hash: "SHA-1", length: 128 }, true, ["sign"]);
  assert.deepEqual(hmac.algorithm, { name: "HMAC", hash: { name: "SHA-1" }, length: 128 });
  const cases = [
    [() => subtle.importKey("raw", utf8("p"), "PBKDF2", true, ["deriveBits"]), dom("SyntaxError", "PBKDF2 key cannot be extractable.")],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AA" }, "PBKDF2", false, ["deriveBits"]), dom("NotSupportedError", 'PBKDF2 key must be imported in "raw" format (requested "jwk").')],
    [() => subtle.importKey("jwk", { kty: "oct", k: "AA" }, "HKDF", false, ["deriveBits"]), dom("NotSupportedError", 'HKDF key must be imported in "raw" format (requested "jwk")')],
    [() => subtle.deriveBits({ ...params, iterations: 100001 }, password, 256),
      dom("NotSupportedError", "Pbkdf2 failed: iteration counts above 100000 are not supported (requested 100001).")],
    [() => subtle.deriveBits({ ...params, iterations: 0 }, password, 256), dom("OperationError", "PBKDF2 requires a positive iteration count (requested 0).")],
    [() => subtle.deriveBits(params, password), dom("OperationError", "PBKDF2 cannot derive a key with null length.")],
    [() => subtle.deriveBits(params, password, 7), dom("OperationError", "PBKDF2 requires a derived key length that is a multiple of eight (requested 7).")],
    [() => subtle.deriveBits({ ...params, salt: undefined }, password, 8), error("TypeError", 'Missing field "salt" in "algorithm".')],
    [() => subtle.deriveKey(params, password, "AES-GCM", true, ["encrypt"]), dom("InvalidAccessError", 'Requested key usage "deriveKey" does not match any usage listed in this CryptoKey.')],
    [async () => subtle.deriveKey(params, await subtle.importKey("raw", utf8("p"), "PBKDF2", false, ["deriveKey"]), "NOPE", true, ["encrypt"]),
      dom("NotSupportedError", 'Unrecognized derived key type "NOPE" requested.')],
    [async () => subtle.deriveKey(params, await subtle.importKey("raw", utf8("p"), "PBKDF2", false, ["deriveKey"]), { name: "AES-GCM", length: 64 }, true, ["encrypt"]),
      dom("OperationError", "Derived AES key must be 128, 192, or 256 bits in length but provided 64.")],
    [() => subtle.deriveBits(hkdfParams, hkdfKey, 12), dom("OperationError", "HKDF requires a derived key length that is a multiple of eight (requested 12).")],
    [() => subtle.deriveBits(hkdfParams, hkdfKey), dom("OperationError", "HKDF cannot derive a key with null length.")],
    [() => subtle.deriveBits(hkdfParams, hkdfKey, (255 * 32 + 1) * 8), dom("OperationError", "HKDF deriveBits failed.")],
    [() => subtle.deriveBits({ ...params, hash: "SHA-1" }, password, (255 * 20 + 1) * 8),
      dom("OperationError", "Pbkdf2 failed: derived key length exceeds maximum for this hash")],
    [() => subtle.deriveKey(params, deriver, { name: "AES-GCM" }, true, ["encrypt"]), error("TypeError", 'Missing field "length" in "derivedKeyParams".')],
    [() => subtle.deriveKey(params, deriver, { name: "HMAC", hash: "SHA-256", length: 0 }, true, ["sign"]),
      error("TypeError", "HMAC key length must be a non-zero unsigned long integer.")],
    [() => subtle.deriveKey(params, deriver, { name: "HMAC" }, true, ["sign"]), error("TypeError", 'Missing field "hash" in "derivedKeyParams".')],
  ];
  for (const [index, [run, expected]] of cases.entries()) await assert.rejects(run, expected, `case ${index}`);
});

// ---------------------------------------------------------------------------------------------------------
// Workers extensions

test("timingSafeEqual compares equal-length buffers of any view type", () => {
  const { timingSafeEqual } = subtle;
  assert.equal(subtle.timingSafeEqual(new ArrayBuffer(0), new ArrayBuffer(0)), true);
  assert.equal(subtle.timingSafeEqual(utf8("hellothere"), utf8("hellothere").buffer), true);
  assert.equal(subtle.timingSafeEqual(utf8("hello"), utf8("there")), false);
  assert.equal(subtle.timingSafeEqual(new Uint8Array([1, 0, 0, 0]), new Uint32Array([1])), true);
  assert.equal(subtle.timingSafeEqual(new Uint8Array([1, 2, 3, 4]), new Uint32Array([1])), false);
  assert.equal(timingSafeEqual.call(subtle, utf8("a").subarray(1), new Uint8Array(0)), true);
  assert.throws(() => subtle.timingSafeEqual(new ArrayBuffer(0), new ArrayBuffer(1)), error("TypeError", "Input buffers must have the same byte length."));
  assert.throws(() => subtle.timingSafeEqual("hello", "there"),
    error("TypeError", "Failed to execute 'timingSafeEqual' on 'SubtleCrypto': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'."));
});

test("DigestStream hashes what is written and counts the bytes", async () => {
  const stream = new crypto.DigestStream("md5");
  assert.ok(stream instanceof WritableStream);
  const writer = stream.getWriter();
  writer.write(utf8("hello"));
  writer.write("there");
  writer.close();
  assert.equal(hex(await stream.digest), "c6f7c372641dd25e0fddf0215375561f");
  assert.equal(stream.bytesWritten, 10n);
  assert.ok((await stream.digest) instanceof ArrayBuffer);

  const sha = new crypto.DigestStream({ name: "SHA-256" });
  const shaWriter = sha.getWriter();
  await shaWriter.write(new Uint32Array([0, 1, 2, 3]).subarray(1));
  await shaWriter.close();
  assert.equal(hex(await sha.digest), "4636993d3e1da4e9d6b8f87b79e8f7c6d018580d52661950eabc3845c5897a4d");
});

test("DigestStream CRCs match the AWS checksum vectors", async () => {
  const cases = [
    ["", "crc32", "AAAAAA=="], ["abc", "crc32", "NSRBwg=="], ["Hello world", "crc32", "i9aeUg=="],
    ["", "crc32c", "AAAAAA=="], ["abc", "crc32c", "Nks/tw=="], ["Hello world", "crc32c", "crUfeA=="],
    ["", "crc64nvme", "AAAAAAAAAAA="], ["abc", "crc64nvme", "BeXKuz/B+us="], ["Hello world", "crc64nvme", "OOJZ0D8xKts="],
    ["Hello world", "SHA-1", "e1AsOh9IyGCa4hLN+2Od7jlnP14="],
  ];
  for (const [body, algorithm, expected] of cases) {
    const stream = new crypto.DigestStream(algorithm);
    const writer = stream.getWriter();
    await writer.write(utf8(body));
    await writer.close();
    assert.equal(btoa(String.fromCharCode(...new Uint8Array(await stream.digest))), expected, `${algorithm}(${JSON.stringify(body)})`);
  }
  const big = new crypto.DigestStream("crc32");
  const writer = big.getWriter();
  for (const [size, char] of [[1024, "a"], [1024, "b"], [1024, "c"], [1024 * 1024, "d"]]) await writer.write(new Uint8Array(size).fill(char.charCodeAt(0)));
  await writer.close();
  assert.equal(hex(await big.digest), "13b3f058");
});

test("DigestStream rejects bad chunks and names, and an abort rejects its digest", async () => {
  assert.throws(() => new crypto.DigestStream("foo"), dom("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested."));
  assert.throws(() => new crypto.DigestStream("CRC32"), dom("NotSupportedError", "Unrecognized or unimplemented digest algorithm requested."));
  const stream = new crypto.DigestStream("md5");
  const writer = stream.getWriter();
  await assert.rejects(writer.write(123),
    error("TypeError", "DigestStream is a byte stream but received an object of non-ArrayBuffer/ArrayBufferView/string type on its writable side."));
  const aborted = new crypto.DigestStream("SHA-256");
  const abortWriter = aborted.getWriter();
  abortWriter.write(utf8("hello"));
  abortWriter.abort(new Error("boom"));
  await assert.rejects(aborted.digest, { message: "boom" });
});

test("many operations in flight resolve independently", async () => {
  const key = await hmacKey();
  const messages = Array.from({ length: 50 }, (_, i) => utf8(`message ${i}`));
  const signatures = await Promise.all(messages.map((m) => subtle.sign("HMAC", key, m)));
  const checks = await Promise.all(messages.map((m, i) => subtle.verify("HMAC", key, signatures[(i + 1) % 50], m)));
  assert.deepEqual(checks, new Array(50).fill(false));
  const again = await Promise.all(messages.map((m, i) => subtle.verify("HMAC", key, signatures[i], m)));
  assert.deepEqual(again, new Array(50).fill(true));
});
