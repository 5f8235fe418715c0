// CompressionStream and DecompressionStream (workerd's compression.c++), listed in STREAM_GLOBALS by
// streams.js. Compression runs in Python's zlib through the host functions zlibOpen/zlibWrite/zlibClose
// (emulator/runtime/host/compression.py): each stream holds one host handle, opened on first use and
// released when the stream ends, fails, is cancelled or aborted, or is garbage collected. Both sides are a
// bytePipe (bytepipe.js).
import { ByteTransformStream, byteStrategy } from "./bytepipe.js";
import { fromHost, host } from "./host.js";

// compression.c++ (strict_compression_checks, the default since 2023-08-01)
const BAD_FORMAT = "The compression format must be either 'deflate', 'deflate-raw' or 'gzip'.";
const DECOMPRESSION_FAILED = "Decompression failed.";
const TRAILING_BYTES = "Trailing bytes after end of compressed data";
const INCOMPLETE_DATA = "Called close() on a decompression stream with incomplete data";

const COMPRESS = 0;
const DECOMPRESS = 1;
const FORMATS = new Map([["gzip", 0], ["deflate", 1], ["deflate-raw", 2]]);

// A zlib stream that JS dropped without finishing (never read to the end, never cancelled) is released
// when the garbage collector finds it, so the worker's handle table (bounded in compression.py) drains.
const abandoned = new FinalizationRegistry((handle) => {
  try {
    host.zlibClose(handle);
  } catch {
    // truncated input: nobody is left to tell
  }
});

// Python's exceptions arrive as Error("Python CorruptStream: <message>\nTraceback …"): keep workerd's
// TypeError for bad compressed data, and the first line of anything else.
function hostError(error) {
  const text = String(error?.message ?? error);
  for (const message of [TRAILING_BYTES, INCOMPLETE_DATA, DECOMPRESSION_FAILED]) {
    if (text.includes(message)) return new TypeError(message);
  }
  return new Error(text.split("\n")[0].replace(/^Python \w+: /, ""));
}

// One zlib stream in the host, opened on first use, so that a stream constructed and never used
// costs no handle. A full handle table has just run the garbage collector (compression.py), so the
// open is tried once more after the FinalizationRegistry callbacks it queued have had their turn.
class ZlibStream {
  #mode;
  #format;
  #handle = 0;
  #done = false;

  constructor(mode, format) {
    this.#mode = mode;
    this.#format = format;
  }

  // true once open; false if released meanwhile; a promise of either when the table was full.
  open() {
    if (this.#handle !== 0) return true;
    if (this.#done) return false;
    try {
      this.#handle = host.zlibOpen(this.#mode, this.#format);
    } catch {
      return this.#openLater();
    }
    abandoned.register(this, this.#handle, this);
    return true;
  }

  async #openLater() {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.#done) return false;
    try {
      this.#handle = host.zlibOpen(this.#mode, this.#format);
    } catch (error) {
      this.#done = true;
      throw hostError(error);
    }
    abandoned.register(this, this.#handle, this);
    return true;
  }

  // write() and end() need open() to have returned true.
  write(bytes) {
    const handle = this.#handle;
    try {
      return fromHost(host.zlibWrite(handle, bytes));
    } catch (error) {
      this.#forget(); // a failed write released the handle in Python
      throw hostError(error);
    }
  }

  end() {
    const handle = this.#handle;
    this.#forget();
    try {
      return fromHost(host.zlibClose(handle));
    } catch (error) {
      throw hostError(error);
    }
  }

  release() {
    if (this.#handle === 0) return;
    const handle = this.#handle;
    this.#forget();
    try {
      host.zlibClose(handle);
    } catch {
      // the stream was cancelled or aborted: its data, complete or not, no longer matters
    }
  }

  #forget() {
    if (this.#handle !== 0) abandoned.unregister(this);
    this.#handle = 0;
    this.#done = true;
  }
}

// workerd compresses each write as it comes and buffers the output until read (compression.c++ has no
// backpressure), so `await writer.write(data)` before reading completes there, and here.
function zlibEngine(mode, format) {
  const zlib = new ZlibStream(mode, format);
  const whenOpen = (then) => {
    const opened = zlib.open();
    if (opened === true) return then();
    return opened === false ? undefined : opened.then((ok) => (ok ? then() : undefined));
  };
  const emit = (out, port) => {
    if (out.byteLength > 0) port.enqueue(out);
  };
  return {
    rendezvous: false,
    write(bytes, port) {
      return whenOpen(() => emit(zlib.write(bytes), port));
    },
    close(port) {
      return whenOpen(() => emit(zlib.end(), port));
    },
    release() {
      zlib.release();
    },
  };
}

function zlibFormat(format) {
  const code = FORMATS.get(String(format));
  if (code === undefined) throw new TypeError(BAD_FORMAT);
  return code;
}

export class CompressionStream extends ByteTransformStream {
  constructor(format) {
    super(zlibEngine(COMPRESS, zlibFormat(format)), byteStrategy(undefined));
  }

  get [Symbol.toStringTag]() {
    return "CompressionStream";
  }
}

export class DecompressionStream extends ByteTransformStream {
  constructor(format) {
    super(zlibEngine(DECOMPRESS, zlibFormat(format)), byteStrategy(undefined));
  }

  get [Symbol.toStringTag]() {
    return "DecompressionStream";
  }
}
