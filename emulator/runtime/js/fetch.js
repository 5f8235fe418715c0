// fetch(): the request is handed to Python (emulator/runtime/host/fetch.py), which does the network I/O.
export async function fetch(input, init = undefined) {
  throw new TypeError("fetch() is not implemented yet");
}
