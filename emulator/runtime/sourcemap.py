"""Source maps (v3): from a position in the bundle back to the user's TypeScript file, line and column.

SpiderMonkey reports stack frames as ``name@file:line:column`` with 1-based lines and columns; source maps
count both from 0. ``map_stack`` rewrites every frame of the bundle and drops the runtime's own frames, so a
handler error reads ``at allowHosts (src/index.ts:14:9)``.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from pathlib import Path

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_FRAME = re.compile(r"^(?P<name>[^@]*)@(?P<file>.*?):(?P<line>\d+):(?P<column>\d+)$")
# SpiderMonkey's inferred names carry the bundle's wrappers and "<" markers for anonymous nesting:
# "globalThis.__outbound_load/__outbound_module</Faulty.outboundHandlers.throws" reads "Faulty.outboundHandlers.throws".
_WRAPPERS = re.compile(r"^(?:async\*)?(?:globalThis\.__outbound_load/)?(?:__outbound_module</?)?(?:<?/)*")


@dataclass(frozen=True)
class Position:
    source: str  # as the map names it, relative to the map's sourceRoot (esbuild: relative to the bundle)
    line: int  # 1-based
    column: int  # 1-based
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


def _decode_vlq(segment: str) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for char in segment:
        digit = _B64[char]
        value |= (digit & 31) << shift
        if digit & 32:
            shift += 5
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = shift = 0
    return values


class SourceMap:
    def __init__(self, data: dict[str, object], *, sources_relative_to: Path | None = None) -> None:
        raw_sources = data.get("sources", [])
        assert isinstance(raw_sources, list)
        self.sources = [str(s) for s in raw_sources]
        contents = data.get("sourcesContent") or []
        assert isinstance(contents, list)
        self.contents: list[str | None] = [c if isinstance(c, str) else None for c in contents]
        names = data.get("names", [])
        assert isinstance(names, list)
        self.names = [str(n) for n in names]
        self._base = sources_relative_to
        # Per generated line: sorted generated columns and the mapping at each.
        self._columns: list[list[int]] = []
        self._segments: list[list[tuple[int, int, int, int | None]]] = []
        mappings = data.get("mappings", "")
        assert isinstance(mappings, str)
        self._parse(mappings)

    @classmethod
    def load(cls, path: Path, *, sources_relative_to: Path | None = None) -> SourceMap:
        return cls(json.loads(path.read_text()), sources_relative_to=sources_relative_to)

    def _parse(self, mappings: str) -> None:
        source = line = column = name = 0
        for encoded_line in mappings.split(";"):
            generated = 0
            columns: list[int] = []
            segments: list[tuple[int, int, int, int | None]] = []
            for encoded in encoded_line.split(","):
                if not encoded:
                    continue
                fields = _decode_vlq(encoded)
                generated += fields[0]
                if len(fields) < 4:
                    continue
                source += fields[1]
                line += fields[2]
                column += fields[3]
                mapped_name: int | None = None
                if len(fields) >= 5:
                    name += fields[4]
                    mapped_name = name
                columns.append(generated)
                segments.append((source, line, column, mapped_name))
            self._columns.append(columns)
            self._segments.append(segments)

    def source_path(self, index: int) -> str:
        source = self.sources[index]
        if self._base is None:
            return source
        return str((self._base / source).resolve())

    def lookup(self, line: int, column: int) -> Position | None:
        """Map a 1-based generated (line, column) to the original position, if the map covers it."""
        if not 1 <= line <= len(self._columns):
            return None
        columns = self._columns[line - 1]
        index = bisect.bisect_right(columns, column - 1) - 1
        if index < 0:
            return None
        source, original_line, original_column, name = self._segments[line - 1][index]
        return Position(
            source=self.source_path(source),
            line=original_line + 1,
            column=original_column + 1,
            name=self.names[name] if name is not None else None,
        )

    def code_frame(self, position: Position, context: int = 2) -> str:
        """A few lines of the original source around ``position`` with a caret, if the map has the text."""
        for index in range(len(self.sources)):
            if self.source_path(index) == position.source:
                text = self.contents[index] if index < len(self.contents) else None
                break
        else:
            return ""
        if text is None:
            return ""
        lines = text.splitlines()
        first = max(1, position.line - context)
        last = min(len(lines), position.line + context)
        width = len(str(last))
        out: list[str] = []
        for number in range(first, last + 1):
            marker = ">" if number == position.line else " "
            out.append(f"{marker} {number:>{width}} | {lines[number - 1]}")
            if number == position.line:
                out.append(f"  {' ' * width} | {' ' * (position.column - 1)}^")
        return "\n".join(out)


def map_stack(
    stack: str, bundle_filename: str, sourcemap: SourceMap | None, *, display: Path | None = None
) -> list[str]:
    """Rewrite SpiderMonkey frames into ``at name (file:line:col)`` lines, mapped through the bundle's map.

    Frames inside the emulator's runtime (any file other than the bundle) are dropped: they are ours, not
    the user's. ``display`` makes paths relative to the project folder when they fall inside it.
    """
    frames: list[str] = []
    for raw in stack.splitlines():
        match = _FRAME.match(raw.strip())
        if match is None or match["file"] != bundle_filename:
            continue
        name = _display_name(match["name"])
        position = sourcemap.lookup(int(match["line"]), int(match["column"])) if sourcemap else None
        if position is None:
            frames.append(f"at {name} ({bundle_filename}:{match['line']}:{match['column']})")
            continue
        frames.append(f"at {name} ({_display(position, display)})")
    return frames


def _display_name(raw: str) -> str:
    name = _WRAPPERS.sub("", raw).rstrip("<").rstrip("/")
    if "/" in name:
        name = name.rsplit("/", 1)[-1].rstrip("<")
    return name or "<anonymous>"


def first_user_position(stack: str, bundle_filename: str, sourcemap: SourceMap | None) -> Position | None:
    """The innermost frame of the stack that maps into the user's sources (not node_modules)."""
    if sourcemap is None:
        return None
    fallback: Position | None = None
    for raw in stack.splitlines():
        match = _FRAME.match(raw.strip())
        if match is None or match["file"] != bundle_filename:
            continue
        position = sourcemap.lookup(int(match["line"]), int(match["column"]))
        if position is None:
            continue
        if "/node_modules/" not in position.source:
            return position
        fallback = fallback or position
    return fallback


def _display(position: Position, root: Path | None) -> str:
    if root is not None:
        try:
            relative = Path(position.source).relative_to(root)
        except ValueError:
            return str(position)
        return f"{relative}:{position.line}:{position.column}"
    return str(position)


def display_position(position: Position, root: Path | None) -> str:
    return _display(position, root)


class StackMapper:
    """Turns JS stacks from a bundle into the user's file:line:column, relative to the project folder."""

    def __init__(self, sourcemap: SourceMap | None, bundle_filename: str, root: Path | None) -> None:
        self._map = sourcemap
        self._file = bundle_filename
        self._root = root

    def innermost(self, stack: str) -> str | None:
        position = first_user_position(stack, self._file, self._map)
        return display_position(position, self._root) if position else None

    def frames(self, stack: str) -> list[str]:
        return map_stack(stack, self._file, self._map, display=self._root)

    def code_frame(self, stack: str) -> str:
        position = first_user_position(stack, self._file, self._map)
        if position is None or self._map is None:
            return ""
        return self._map.code_frame(position)

    def rewrite(self, text: str) -> str:
        """Replace every ``outbound:bundle.js:L:C`` in ``text`` (a logged stack) with the user's file:line:col."""
        if self._file not in text or self._map is None:
            return text
        sourcemap = self._map

        def mapped(match: re.Match[str]) -> str:
            position = sourcemap.lookup(int(match["line"]), int(match["column"]))
            return display_position(position, self._root) if position else match[0]

        return re.sub(re.escape(self._file) + r":(?P<line>\d+):(?P<column>\d+)", mapped, text)

    def describe(self, error: dict[str, str]) -> str:
        """``TypeError: boom`` with mapped frames and a code frame, for logs."""
        stack = error.get("stack", "")
        lines = [f"{error.get('name', 'Error')}: {error.get('message', '')}"]
        lines += [f"    {frame}" for frame in self.frames(stack)]
        frame = self.code_frame(stack)
        if frame:
            lines.append(frame)
        return "\n".join(lines)
