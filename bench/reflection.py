"""What checking a handler's response for secrets costs (emulator/reflection.py), per 64 KiB of body.

    .venv/bin/python bench/reflection.py [--secrets 1] [--rounds 500]

Prints the median µs per 64 KiB body for: a whole body (identity), a streamed one (held-back tail included), a
whole gzip body without a secret (decoded and checked, passed on unchanged), and a streamed gzip body (decoded,
checked and encoded again). With no secret known nothing runs at all (``Reflections.scanner()`` is None).
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time
from collections.abc import Callable

from emulator.reflection import BodyScreen, SecretScanner, screen_whole

BODY_BYTES = 64 * 1024


def median_us(run: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1e6)
    return statistics.median(timings)


def streamed(scanner: SecretScanner, body: bytes, codings: list[str]) -> None:
    screen = BodyScreen(scanner, codings)
    for offset in range(0, len(body), 16 * 1024):  # as it arrives from a worker: 16 KiB at a time
        screen.feed(body[offset : offset + 16 * 1024])
    screen.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    scanner = SecretScanner({f"sk-bench-{index}-4f1d9c0a7e2b": f"env.TOKEN_{index}" for index in range(args.secrets)})
    words = [random.choice(("lorem", "ipsum", '"dolor"', "sit", "amet,", "{", "}", "0.5")) for _ in range(20_000)]
    text = " ".join(words).encode()[:BODY_BYTES]
    compressed = gzip.compress(text)
    figures = {
        "whole, identity": lambda: scanner.mask(text),
        "streamed, identity": lambda: streamed(scanner, text, []),
        "whole, gzip (no secret: passed on as is)": lambda: screen_whole(scanner, compressed, ["gzip"]),
        "streamed, gzip (encoded again)": lambda: streamed(scanner, compressed, ["gzip"]),
    }
    print(f"{args.secrets} secret(s), {BODY_BYTES // 1024} KiB of JSON-like text, median of {args.rounds}")
    for name, run in figures.items():
        print(f"  {name:44} {median_us(run, args.rounds):8.0f} µs")


if __name__ == "__main__":
    main()
