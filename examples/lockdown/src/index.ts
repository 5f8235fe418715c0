// Open the network for setup, then lock it down: the blog's allowHosts → noHttp flow. The platform's Worker
// (the default export below) switches the policy per sandbox at runtime with setOutboundHandler.
import { getSandbox, Sandbox } from "@cloudflare/sandbox";
import type { OutboundHandlerContext } from "@cloudflare/containers";

interface AllowHostsParams {
  allowedHostnames: string[];
}

export class AgentSandbox extends Sandbox {
  interceptHttps = true;
}

AgentSandbox.outboundHandlers = {
  async allowHosts(request: Request, _env: unknown, ctx: OutboundHandlerContext<AllowHostsParams>) {
    const url = new URL(request.url);
    if (ctx.params.allowedHostnames.includes(url.hostname)) {
      return fetch(request);
    }
    return new Response(null, { status: 403, statusText: "Forbidden" });
  },
  async noHttp() {
    return new Response(null, { status: 403, statusText: "Forbidden" });
  },
};

export { ContainerProxy } from "@cloudflare/sandbox";

interface Env {
  Sandbox: DurableObjectNamespace<AgentSandbox>;
}

// What a sandbox's program sees from github.com: the HTTP status curl got (000: no connection).
const CHECK_GITHUB = "curl -s -o /dev/null -w '%{http_code}' https://github.com/";

// `outbound dev examples/lockdown`, then `curl http://127.0.0.1:8787/`.
export default {
  async fetch(_request: Request, env: Env): Promise<Response> {
    const sandbox = getSandbox(env.Sandbox, "user-1");
    await sandbox.setOutboundHandler("allowHosts", { allowedHostnames: ["github.com", "registry.example"] });
    const setup = await sandbox.exec(CHECK_GITHUB); // stands for `npm install`, `git clone`, …
    await sandbox.setOutboundHandler("noHttp");
    const locked = await sandbox.exec(CHECK_GITHUB);
    return new Response(`ready: github.com answered ${setup.stdout} during setup, ${locked.stdout} after lockdown\n`);
  },
};
