// Handlers for bench/storage.py: each one KV or R2 operation on the request's path and body.
import { Container } from "@cloudflare/containers";

interface Env {
  KV: KVNamespace;
  R2: R2Bucket;
}

export class Bench extends Container<Env> {}

const key = (request: Request) => new URL(request.url).pathname.slice(1);

Bench.outboundHandlers = {
  kvPut: async (request: Request, env: Env) => {
    await env.KV.put(key(request), await request.arrayBuffer());
    return new Response(null, { status: 204 });
  },
  kvGet: async (request: Request, env: Env) => new Response(await env.KV.get(key(request), "arrayBuffer")),
  r2Put: async (request: Request, env: Env) => {
    await env.R2.put(key(request), request.body);
    return new Response(null, { status: 204 });
  },
  r2Get: async (request: Request, env: Env) => new Response((await env.R2.get(key(request)))!.body),
};

export { ContainerProxy } from "@cloudflare/containers";
