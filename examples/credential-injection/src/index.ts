// Zero-trust credential injection by host: code in the sandbox calls GitHub with no token; the handler adds
// the platform's token on the way out. The sandbox never sees GITHUB_TOKEN (it lives in .dev.vars / secrets).
import { Sandbox } from "@cloudflare/sandbox";

interface Env {
  GITHUB_TOKEN: string;
}

export class AgentSandbox extends Sandbox<Env> {
  interceptHttps = true;
  allowedHosts = ["github.com", "api.github.com", "*.githubusercontent.com"];
}

function withGitHubToken(request: Request, env: Env): Promise<Response> {
  const authed = new Request(request);
  authed.headers.set("authorization", `Bearer ${env.GITHUB_TOKEN}`);
  return fetch(authed);
}

AgentSandbox.outboundByHost = {
  "github.com": (request: Request, env: Env) => withGitHubToken(request, env),
  "api.github.com": (request: Request, env: Env) => withGitHubToken(request, env),
};

export { ContainerProxy } from "@cloudflare/sandbox";
