// Virtual hosts served from bindings: the sandbox fetches http://my.kv/<key> and http://objects.cf/<path>
// as if they were servers; the handler answers from KV and R2. R2 objects are scoped by ctx.containerId, so
// a sandbox only ever sees its own prefix. The hosts need no DNS or internet: production resolves names
// that match an outbound pattern to a placeholder address and intercepts the connection.
import { Sandbox } from "@cloudflare/sandbox";
import type { OutboundHandlerContext } from "@cloudflare/containers";

interface Env {
  KV: KVNamespace;
  R2: R2Bucket;
}

export class AgentSandbox extends Sandbox<Env> {
  enableInternet = false;
}

function keyFrom(request: Request): string {
  return decodeURIComponent(new URL(request.url).pathname.slice(1));
}

AgentSandbox.outboundByHost = {
  "my.kv": async (request: Request, env: Env) => {
    const key = keyFrom(request);
    if (request.method === "PUT") {
      await env.KV.put(key, await request.arrayBuffer());
      return new Response(null, { status: 204 });
    }
    const value = await env.KV.get(key, "stream");
    return value === null ? new Response("not found", { status: 404 }) : new Response(value);
  },
  "objects.cf": async (request: Request, env: Env, ctx: OutboundHandlerContext) => {
    const key = `${ctx.containerId}/${keyFrom(request)}`;
    if (request.method === "PUT") {
      const object = await env.R2.put(key, request.body, {
        httpMetadata: { contentType: request.headers.get("content-type") ?? "application/octet-stream" },
      });
      return Response.json({ key: object.key.slice(ctx.containerId.length + 1), size: object.size, etag: object.etag });
    }
    const object = await env.R2.get(key, { range: request.headers });
    if (object === null) return new Response("not found", { status: 404 });
    const headers = new Headers();
    object.writeHttpMetadata(headers);
    headers.set("etag", object.httpEtag);
    const { offset, length } = object.range as { offset: number; length: number };
    if (length === object.size) return new Response(object.body, { headers });
    headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${object.size}`);
    return new Response(object.body, { headers, status: 206 });
  },
};

export { ContainerProxy } from "@cloudflare/sandbox";
