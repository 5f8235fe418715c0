"""Bundling user entries with esbuild: errors name the user's file and line; source maps lead back to TS."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.runtime.bridge import BUNDLE_FILENAME
from emulator.runtime.bundle import BuildError, build_handler, parse_messages
from emulator.runtime.sourcemap import StackMapper

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "fixtures" / "broken"


async def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as raised:
        await build_handler(BROKEN / "syntax-error.ts", BROKEN, tmp_path)
    [message] = raised.value.messages
    assert (message.file, message.line) == ("syntax-error.ts", 4)
    assert message.text == 'Expected "]" but found "\\"npmjs.org\\""'
    assert 'allowedHosts = ["github.com" "npmjs.org"];' in message.frame
    assert str(raised.value).startswith(f"could not bundle {BROKEN / 'syntax-error.ts'}:\nsyntax-error.ts:4:")


async def test_missing_import_names_the_import(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as raised:
        await build_handler(BROKEN / "missing-import.ts", BROKEN, tmp_path)
    [message] = raised.value.messages
    assert message.text == 'Could not resolve "./does-not-exist"'
    assert (message.file, message.line, message.column) == ("missing-import.ts", 2, 24)


async def test_missing_entry(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        await build_handler(BROKEN / "nope.ts", BROKEN, tmp_path)


async def test_types_are_stripped_not_checked(tmp_path: Path) -> None:
    bundle = await build_handler(BROKEN / "type-error-only.ts", BROKEN, tmp_path)
    assert bundle.path.read_text().count("globalThis.__outbound_load = function (require) {") == 1
    assert bundle.inputs == (BROKEN / "type-error-only.ts",)


async def test_source_map_leads_a_stack_frame_back_to_the_ts_line(tmp_path: Path) -> None:
    bundle = await build_handler(BROKEN / "throws-at-load.ts", BROKEN, tmp_path)
    generated = bundle.path.read_text().splitlines()
    line = next(i for i, text in enumerate(generated, 1) if "settings.hosts" in text)
    column = generated[line - 1].index("settings.hosts") + 1
    stack = f"@{BUNDLE_FILENAME}:{line}:{column}\nouter@outbound:runtime.js:10:1\n"
    source_line = (BROKEN / "throws-at-load.ts").read_text().splitlines()[10]
    expected = f"throws-at-load.ts:11:{source_line.index('settings!') + 1}"
    mapper = StackMapper(bundle.sourcemap, BUNDLE_FILENAME, BROKEN)
    assert mapper.innermost(stack) == expected
    assert mapper.frames(stack) == [f"at <anonymous> ({expected})"]  # runtime frames are dropped
    assert "> 11 | Broken.outboundByHost" in mapper.code_frame(stack)


def test_parse_messages_reads_warnings_and_errors() -> None:
    output = (
        '▲ [WARNING] Comparison with -0 using the "===" operator will also match 0 [equals-negative-zero]\n\n'
        "    src/a.ts:3:4:\n      3 │ if (x === -0) {}\n        ╵     ~~\n\n"
        "✘ [ERROR] Unexpected end of file\n\n    src/b.ts:9:0:\n      9 │ \n        ╵ ^\n\n1 warning and 1 error\n"
    )
    warning, error = parse_messages(output)
    assert (warning.file, warning.line, warning.column) == ("src/a.ts", 3, 5)
    assert (error.text, error.file, error.line, error.column) == ("Unexpected end of file", "src/b.ts", 9, 1)
