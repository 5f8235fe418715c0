// Per-sandbox credentials from ctx.containerId: each sandbox gets its own short-lived token, minted by the
// handler with WebCrypto (ES256 JWT) from a signing key the sandbox never sees. The internal VCS verifies the
// token and knows which sandbox is calling (the `sub` claim).
import { Sandbox } from "@cloudflare/sandbox";
import type { OutboundHandlerContext } from "@cloudflare/containers";
import { mintToken, type TokenEnv } from "./token";

type Env = TokenEnv;

export class AgentSandbox extends Sandbox<Env> {
  interceptHttps = true;
  enableInternet = false;
  allowedHosts = ["my-internal-vcs.dev"];
}

AgentSandbox.outboundByHost = {
  "my-internal-vcs.dev": async (request: Request, env: Env, ctx: OutboundHandlerContext) => {
    const authed = new Request(request);
    authed.headers.set("x-auth-token", await mintToken(env, ctx.containerId));
    return fetch(authed);
  },
};

export { ContainerProxy } from "@cloudflare/sandbox";
