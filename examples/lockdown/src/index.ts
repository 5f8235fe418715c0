// Open the network for setup, then lock it down: the blog's allowHosts → noHttp flow. The platform's Worker
// switches the policy per sandbox at runtime with setOutboundHandler.
import { Sandbox } from "@cloudflare/sandbox";
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
