// Binding calls from JS to the emulator, which owns the stores (emulator/runtime/env): one bytes payload
// out, one back. Errors come back as {name, message} and are thrown as that JS class, so a handler sees
// Cloudflare's TypeError or Error with Cloudflare's text.
import { fromHost, host } from "../host.js";
import { packMeta, unpackMeta } from "../frames.js";
import { ReadableStream } from "../streams.js";

const ERRORS = { TypeError, RangeError, SyntaxError, Error };

export async function callBinding(binding, operation, args = {}, body = null) {
  const reply = await host.rpc(packMeta({ b: binding, o: operation, a: args }, body));
  const [meta, rest] = unpackMeta(fromHost(reply));
  if (meta.error !== undefined) {
    const ErrorClass = ERRORS[meta.error.name] ?? Error;
    throw new ErrorClass(meta.error.message);
  }
  return [meta.ok, rest];
}

// A body the emulator streams: each pull asks for the next chunk; an empty chunk is the end.
export function pulledBody(binding, streamId) {
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const [, chunk] = await callBinding(binding, "read", { s: streamId });
      if (chunk.byteLength === 0) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      controller.enqueue(chunk);
    },
    cancel() {
      return callBinding(binding, "close", { s: streamId }).then(() => undefined);
    },
  });
}
