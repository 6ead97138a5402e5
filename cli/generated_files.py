"""Files that follow from the code (`tidings deploy render`, `tidings docs render`): written into a
checkout, or compared with the ones there (`--check`). One renderer gives {path relative to the
checkout: content}; `stale` names the generated files nothing renders any more."""
from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable


@dataclass(frozen=True)
class Generated:
    verb: str  # "tidings deploy render"
    files: str  # what they are, for the summary line: "file(s)", "page(s)"
    gone: str  # what a stale file was generated for: "service", "channel"
    render: Callable[[Path], dict[str, str]]
    stale: Callable[[Path, dict[str, str]], list[str]]

    @property
    def command(self) -> str:
        return f"{self.verb} ."

    def differences(self, root: Path) -> list[str]:
        """A unified diff per file that differs, a line per generated file that would be removed."""
        rendered = self.render(root)
        found = []
        for name, wanted in rendered.items():
            path = root / name
            have = path.read_text(encoding="utf-8") if path.exists() else ""
            if have != wanted:
                found.append("".join(difflib.unified_diff(have.splitlines(keepends=True),
                                                          wanted.splitlines(keepends=True),
                                                          f"{name} (in {root})", f"{name} (rendered)")))
        found += [f"{name}: generated for a {self.gone} that no longer exists; remove it\n"
                  for name in self.stale(root, rendered)]
        return found

    def write(self, root: Path, out: IO[str]) -> int:
        rendered = self.render(root)
        for name, content in rendered.items():
            path = root / name
            if path.exists() and path.read_text(encoding="utf-8") == content:
                print(f"{name}: unchanged", file=out)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            state = "updated" if path.exists() else "written"
            path.write_text(content, encoding="utf-8")
            print(f"{name}: {state}", file=out)
        for name in self.stale(root, rendered):
            (root / name).unlink()
            print(f"{name}: removed (no such {self.gone} any more)", file=out)
        return 0

    def run(self, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
        root = Path(args.dir)
        if not root.is_dir():
            print(f"{self.verb}: {root} is not a directory", file=err)
            return 2
        if not args.check:
            return self.write(root, out)
        found = self.differences(root)
        for difference in found:
            out.write(difference)
        if found:
            print(f"{self.verb}: {len(found)} {self.files} out of date; run `{self.command}`", file=err)
            return 1
        return 0
