// The Python side of this worker process, captured once and removed from the global scope so that user
// code cannot reach it. Every function here takes and returns numbers or bytes only (runtime-notes §1.7):
// a Python str handed to JS per request would slow pythonmonkey's GC quadratically.
//
// Functions (see emulator/runtime/worker.py, class Host):
//   emit(kind, id, bytes) -> number          write one frame to the parent; for DATA, the bytes left in the window
//   drain(id) -> Promise                     resolves when the parent acknowledged enough of a streamed body
//   log(level, bytes)                        one console entry (UTF-8), tagged by Python with the current request
//   timerSet(id, ms) -> request id           a Python-backed timer (pythonmonkey's own leak a handle each);
//                                            0 means refused: no request is running (global scope)
//   timerClear(id)
//   random(n) -> bytes                       n bytes from os.urandom
//   crypto(bytes) -> Promise<bytes>          one WebCrypto operation (meta JSON + key/data), see crypto.js
//   fetch(bytes) -> Promise<bytes>           start an outbound fetch; resolves with the response head
//   fetchRead(id) -> Promise<bytes|null>     next chunk of a fetched body, null at the end
//   fetchCancel(id)                          abandon a fetched body or an in-flight fetch
//   zlibOpen(mode, format) -> handle         mode 0 compress / 1 decompress; format 0 gzip, 1 deflate, 2 deflate-raw
//   zlibWrite(handle, bytes) -> bytes        output produced so far
//   zlibClose(handle) -> bytes               the rest of the output; throws on truncated compressed input
export const host = globalThis.__outbound_host;
delete globalThis.__outbound_host;
if (host === undefined) {
  throw new Error("outbound runtime loaded without its Python host (run it through emulator.runtime.worker)");
}

// Bytes from Python arrive as a Proxy with Uint8Array's prototype whose subarray/slice throw and whose
// indexed access is slow (runtime-notes §1.5). A view over its .buffer is a real Uint8Array; slice() copies
// it into memory SpiderMonkey owns, so nothing in JS outlives or mutates the Python object.
export function fromHost(pyBytes) {
  if (pyBytes === null || pyBytes === undefined) return pyBytes;
  return new Uint8Array(pyBytes.buffer, 0, pyBytes.byteLength).slice();
}
