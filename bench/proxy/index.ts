// Handlers for bench/proxy.py.
import { Container } from "@cloudflare/containers";

interface Env {
  TOKEN: string;
}

export class Bench extends Container<Env> {
  interceptHttps = true;
  deniedHosts = ["never.example"]; // intercept-all: requests nothing handles pass through
}

Bench.outboundHandlers = {
  inject: (request: Request, env: Env) => {
    const authed = new Request(request);
    authed.headers.set("authorization", `Bearer ${env.TOKEN}`);
    return fetch(authed);
  },
};

export { ContainerProxy } from "@cloudflare/containers";
