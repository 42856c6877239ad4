"""Versioned schema files (`NNNN_name.ext`): listing them and splitting them into statements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from atlas.errors import StoreError

_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_\-]+)$")


@dataclass(frozen=True)
class MigrationFile:
    """One schema migration."""

    version: int
    """Its number, from the file name prefix; applied in increasing order."""
    name: str
    """The rest of the file name, without extension."""
    path: Path
    """Where it is."""

    def statements(self) -> list[str]:
        """The statements of the file: split on ';' at line ends, `//` and `--` comments dropped."""
        text = "\n".join(line for line in self.path.read_text().splitlines()
                         if not line.lstrip().startswith(("//", "--")))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def list_migrations(directory: Path, suffix: str) -> list[MigrationFile]:
    """The migrations of `directory`, sorted by version; a duplicate version is an error."""
    if not directory.exists():
        return []
    found: dict[int, MigrationFile] = {}
    for path in sorted(directory.glob(f"*{suffix}")):
        match = _NAME.match(path.stem)
        if not match:
            raise StoreError(f"migration file {path.name} is not named NNNN_name{suffix}; rename it")
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"migrations {found[version].path.name} and {path.name} share "
                             f"version {version}; renumber one")
        found[version] = MigrationFile(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def check_not_newer(store: str, applied_max: int | None, files: list[MigrationFile]) -> None:
    known = files[-1].version if files else 0
    if applied_max is not None and applied_max > known:
        raise StoreError(f"{store} schema is at version {applied_max}, newer than this code "
                         f"(newest known {known}); upgrade feature-atlas or use another store")
