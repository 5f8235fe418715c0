"""The JS side of the emulator: bundling handlers, the worker processes that run them, and the pool."""
