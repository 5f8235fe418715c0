// Observe and restrict: every outbound HTTP(S) request passes through one catch-all handler that lets GETs
// through and logs and refuses everything else (the blog's first example).
import { Sandbox } from "@cloudflare/sandbox";

export class AgentSandbox extends Sandbox {
  interceptHttps = true;
}

AgentSandbox.outbound = (request: Request) => {
  if (request.method !== "GET") {
    console.log(`Container making ${request.method} request to: ${request.url}`);
    return new Response("Not Allowed", { status: 405, statusText: "Method Not Allowed" });
  }
  return fetch(request);
};

export { ContainerProxy } from "@cloudflare/sandbox";
