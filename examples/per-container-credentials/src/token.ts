// An ES256 JWT for one sandbox, minted with WebCrypto: `sub` is the sandbox's container id.
export interface TokenEnv {
  SIGNING_KEY: string; // a PKCS#8 PEM, P-256
  TOKEN_AUDIENCE: string;
}

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const encodeJson = (value: unknown): string => base64url(new TextEncoder().encode(JSON.stringify(value)));

async function signingKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

export async function mintToken(env: TokenEnv, containerId: string, now = Math.floor(Date.now() / 1000)): Promise<string> {
  const header = encodeJson({ alg: "ES256", typ: "JWT" });
  const claims = encodeJson({ sub: containerId, aud: env.TOKEN_AUDIENCE, iat: now, exp: now + 300 });
  const key = await signingKey(env.SIGNING_KEY);
  const input = new TextEncoder().encode(`${header}.${claims}`);
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, input);
  return `${header}.${claims}.${base64url(new Uint8Array(signature))}`;
}

