// The byte pipe under workerd's own transforms. IdentityTransformStream, FixedLengthStream (streams.js),
// CompressionStream and DecompressionStream (compression.js) are C++ in workerd, and the shape they share is
// what `bytePipe` reproduces: the writable side takes bytes (strings as UTF-8, since workerd 2026-05), the
// readable side is a byte stream (BYOB readers and readAtLeast work on it), and every write is copied. Each
// class is a ByteTransformStream over an engine of its own.
import { ReadableStream, TransformStream, WritableStream } from "web-streams-polyfill";
import { encodeUtf8 } from "./utf8.js";

// internal.c++, WritableStreamInternalController::write
const NOT_BYTES =
  "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.";

// A chunk written to a byte writable, as a Uint8Array view (not a copy), or null for an empty one (a
// no-op). Strings are written as UTF-8 (workerd commit 4b81488e, "Allow writing strings ... to internal
// streams"); any other value is workerd's TypeError.
function chunkBytes(chunk) {
  let bytes;
  if (typeof chunk === "string") bytes = encodeUtf8(chunk);
  else if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk);
  else if (ArrayBuffer.isView(chunk) || chunk instanceof Uint8Array) {
    bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  } else throw new TypeError(NOT_BYTES);
  return bytes.byteLength === 0 ? null : bytes;
}

// Writable strategy of workerd's internal writables: without a highWaterMark workerd never signals
// backpressure; one chunk in flight keeps pipeTo() from reading a whole source into the queue. With one,
// the mark counts bytes (internal.c++, adjustWriteBufferSize).
export function byteStrategy(highWaterMark) {
  if (highWaterMark === undefined) return { highWaterMark: 1 };
  return { highWaterMark: Number(highWaterMark), size: (chunk) => (typeof chunk === "string" ? chunk.length * 3 : chunk?.byteLength ?? 1) };
}

// Builds { readable, writable } joined by `engine`:
//   engine.rendezvous          true: a write waits until a reader asks for bytes
//   engine.admit(bytes)        checks a chunk before any waiting; a throw errors both sides
//   engine.write(bytes, port)  takes one non-empty chunk; may return a promise; a throw errors both sides
//   engine.close(port)         the writable was closed (may port.error() instead of letting it close);
//                              may return a promise
//   engine.release()           called once when the pipe is done for any reason (close, cancel, abort, error)
// port.enqueue(bytes) hands bytes (owned by the pipe: the readable transfers them) to the reader;
// port.demand() resolves once a reader is waiting (the rendezvous of workerd's identity pipe);
// port.error(reason) errors the readable side.
function bytePipe(engine, writableStrategy) {
  let readableController;
  let writableController;
  let pendingPull = null; // resolves the readable's pull() once bytes were handed over
  let waitingWrite = null; // { resolve, reject } of a write waiting for a reader
  let open = true; // the readable side can still take bytes
  let released = false;

  const release = () => {
    if (!released) {
      released = true;
      engine.release?.();
    }
  };
  const settlePull = () => {
    const resolve = pendingPull;
    pendingPull = null;
    resolve?.();
  };
  const stopWaiting = (reason) => {
    const waiter = waitingWrite;
    waitingWrite = null;
    waiter?.reject(reason);
  };
  // Every way the pipe ends goes through cancel (reader side), port.error, or close; each releases.
  const port = {
    enqueue(bytes) {
      if (!open) return;
      readableController.enqueue(bytes);
      settlePull();
    },
    demand() {
      if (pendingPull !== null || !open) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waitingWrite = { resolve, reject };
      });
    },
    error(reason) {
      if (!open) return;
      open = false;
      readableController.error(reason);
      settlePull();
      release();
    },
  };

  const readable = new ReadableStream(
    {
      type: "bytes",
      start(controller) {
        readableController = controller;
      },
      pull() {
        if (!engine.rendezvous) return undefined;
        return new Promise((resolve) => {
          pendingPull = resolve;
          const waiter = waitingWrite;
          waitingWrite = null;
          waiter?.resolve();
        });
      },
      cancel(reason) {
        open = false;
        writableController.error(reason);
        stopWaiting(reason);
        release();
      },
    },
    { highWaterMark: 0 }
  );

  const writable = new WritableStream(
    {
      start(controller) {
        writableController = controller;
      },
      async write(chunk, controller) {
        try {
          const bytes = chunkBytes(chunk);
          if (bytes === null) return;
          engine.admit?.(bytes);
          if (engine.rendezvous && pendingPull === null) {
            const onAbort = () => stopWaiting(controller.signal.reason);
            controller.signal.addEventListener("abort", onAbort);
            try {
              await port.demand();
            } finally {
              controller.signal.removeEventListener("abort", onAbort);
            }
          }
          await engine.write(bytes, port);
        } catch (error) {
          port.error(error);
          throw error;
        }
      },
      async close() {
        try {
          await engine.close?.(port);
        } catch (error) {
          port.error(error);
          throw error;
        }
        if (open) {
          open = false;
          readableController.close();
          // A BYOB read still waiting ends only when told that no byte will come (the spec's way).
          readableController.byobRequest?.respond(0);
          settlePull();
        }
        release();
      },
      abort(reason) {
        port.error(reason);
      },
    },
    writableStrategy
  );
  return { readable, writable };
}

// A TransformStream (instanceof holds, as in workerd) whose two sides are a bytePipe rather than the
// standard transform machinery the constructor builds and this class leaves unused.
export class ByteTransformStream extends TransformStream {
  #readable;
  #writable;

  constructor(engine, writableStrategy) {
    super();
    const { readable, writable } = bytePipe(engine, writableStrategy);
    this.#readable = readable;
    this.#writable = writable;
  }

  get readable() {
    return this.#readable;
  }

  get writable() {
    return this.#writable;
  }
}
