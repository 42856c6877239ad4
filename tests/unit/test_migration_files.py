from pathlib import Path

import pytest

from atlas.errors import StoreError
from atlas.stores.migration_files import check_not_newer, list_migrations


def test_files_sorted_and_split(tmp_path: Path) -> None:
    (tmp_path / "0002_b.cypher").write_text("// comment\nCREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x);\n"
                                           "CREATE INDEX b IF NOT EXISTS\n  FOR (n:B) ON (n.y);\n")
    (tmp_path / "0001_a.cypher").write_text("RETURN 1;")
    files = list_migrations(tmp_path, ".cypher")
    assert [(f.version, f.name) for f in files] == [(1, "a"), (2, "b")]
    assert files[1].statements() == ["CREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x)",
                                     "CREATE INDEX b IF NOT EXISTS\n  FOR (n:B) ON (n.y)"]


def test_bad_names_and_duplicates_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_a.sql").write_text("")
    with pytest.raises(StoreError, match="not named NNNN_name"):
        list_migrations(tmp_path, ".sql")
    (tmp_path / "1_a.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(StoreError, match="share version 1"):
        list_migrations(tmp_path, ".sql")


def test_newer_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    files = list_migrations(tmp_path, ".sql")
    check_not_newer("x", 1, files)
    with pytest.raises(StoreError, match="newer than this code"):
        check_not_newer("x", 2, files)
