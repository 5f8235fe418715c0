"""The pythonmonkey 1.4.1 promise-job leak and our fix for it (runtime/leakfix.py, runtime-notes §1.7 #2).

Each case runs in its own interpreter: 3,000 async JS calls that each return a fresh 64 KiB array. Without the
fix every array stays rooted (about 200 MiB); with it the process stays flat. If pythonmonkey fixes the leak
upstream, the first test fails and says so: then the ctypes patch can go.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import pythonmonkey as pm
    from emulator.runtime import leakfix

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    async def main():
        if sys.argv[1] == "fixed":
            leakfix.install(asyncio.get_running_loop())
        make = pm.eval("(async () => { const b = new Uint8Array(65536); b[0] = 1; await null; return b; })")
        for _ in range(200):
            await make()
        pm.collect()
        before = rss_mib()
        for _ in range(3000):
            await make()
        pm.collect()
        print(rss_mib() - before)

    asyncio.run(main())
    """
)


def growth_mib(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return float(result.stdout.strip().splitlines()[-1])


def test_pythonmonkey_still_leaks_promise_jobs_without_the_fix() -> None:
    assert growth_mib("unfixed") > 120, "pythonmonkey no longer leaks job wrappers: remove runtime/leakfix.py"


def test_the_fix_keeps_memory_flat() -> None:
    assert growth_mib("fixed") < 20
