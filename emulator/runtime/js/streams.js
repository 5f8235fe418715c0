// WHATWG Streams from web-streams-polyfill (the reference implementation's port), plus the helpers the body
// code needs. The polyfill keeps the spec's [[disturbed]] slot as `_disturbed`; package.json pins the
// version and tests/webapi guard the coupling.
export {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from "web-streams-polyfill";
import * as polyfill from "web-streams-polyfill";

// Every stream class a Worker sees as a global (js/index.js installs them).
export const STREAM_GLOBALS = {
  ReadableStream: polyfill.ReadableStream,
  ReadableStreamDefaultReader: polyfill.ReadableStreamDefaultReader,
  ReadableStreamBYOBReader: polyfill.ReadableStreamBYOBReader,
  ReadableStreamDefaultController: polyfill.ReadableStreamDefaultController,
  ReadableByteStreamController: polyfill.ReadableByteStreamController,
  ReadableStreamBYOBRequest: polyfill.ReadableStreamBYOBRequest,
  WritableStream: polyfill.WritableStream,
  WritableStreamDefaultWriter: polyfill.WritableStreamDefaultWriter,
  WritableStreamDefaultController: polyfill.WritableStreamDefaultController,
  TransformStream: polyfill.TransformStream,
  TransformStreamDefaultController: polyfill.TransformStreamDefaultController,
  ByteLengthQueuingStrategy: polyfill.ByteLengthQueuingStrategy,
  CountQueuingStrategy: polyfill.CountQueuingStrategy,
};

export function isDisturbed(stream) {
  return stream._disturbed === true;
}
