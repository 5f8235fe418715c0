// Handlers for bench/dispatch.py: one decision with no JS, one synthetic answer, one header + fetch().
import { Container } from "@cloudflare/containers";

export class Bench extends Container {
  deniedHosts = ["never.example"]; // any list switches to intercept-all; unhandled hosts pass through
}

Bench.outboundHandlers = {
  synthetic: () => new Response("ok"),
  inject: (request: Request, env: { TOKEN: string }) => {
    const authed = new Request(request);
    authed.headers.set("authorization", `Bearer ${env.TOKEN}`);
    return fetch(authed);
  },
};

export { ContainerProxy } from "@cloudflare/containers";
