"""Bulk path for very large runs: CSV for `neo4j-admin database import full`, derived from shards.

The offline importer writes a fresh database far faster than Bolt transactions, but only into an
empty, stopped database. Steps (see docs/data-model.md):

    files = export_import_csv([run_dir], csv_dir)          # DuckDB over the Parquet shards
    cmd = import_command(lib_dir, neo4j_home, conf_dir, files)   # server stopped
    subprocess.run(cmd, env=import_env(neo4j_home, conf_dir), check=True)
    # start the server, then `atlas init` builds constraints and indexes over the data

The graph equals what `load_run` writes (same keys, prompt numbers and aggregate definitions),
shards are recorded as (:LoadedShard), so later Bolt loads of new shards add to it normally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from atlas.errors import InputError
from atlas.graphdb.loader import shard_dirs

ARRAY_DELIMITER = "\u001f"  # unit separator: never inside a token string we store

_KEY = "{a}.transcoder_set || ':' || {a}.layer || ':' || {a}.feature"
_TOK = "{a}.transcoder_set || ':' || {a}.token_id"
_UID = "{a}.run || '/' || {a}.prompt_id"

# (kind, file name, header, SQL) — every column in header order
_NODE_FILES = [
    ("Feature", "features.csv",
     "key:ID(Feature),transcoder_set,layer:int,index:int,feature:long,:LABEL",
     f"""SELECT DISTINCT {_KEY.format(a='n')}, n.transcoder_set, n.layer, n.feature,
                (n.layer + n.feature) * (n.layer + n.feature + 1) // 2 + n.feature, 'Feature'
         FROM nodes n WHERE n.node_type = 'feature'"""),
    ("Token", "tokens.csv", "key:ID(Token),vocab,token_id:int,text,:LABEL",
     f"""SELECT {_TOK.format(a='n')}, any_value(n.transcoder_set), any_value(n.token_id),
                any_value(x.text), 'Token'
         FROM nodes n LEFT JOIN token_text x ON x.token_id = n.token_id
         WHERE n.node_type = 'logit' GROUP BY 1"""),
    ("Prompt", "prompts.csv",
     "uid:ID(Prompt),run,prompt_id,pn:long,text,tokens:string[],token_ids:int[],shard,:LABEL",
     """SELECT uid, run, prompt_id, pn, text, array_to_string(tokens, chr(31)),
               array_to_string(token_ids, chr(31)), shard, 'Prompt' FROM prompts"""),
    ("GNode", "gnodes.csv",
     "gid:ID(GNode),i:int,type,layer:int,pos:int,act:float,infl:float,prob:float,tok:int,:LABEL",
     f"""SELECT {_UID.format(a='n')} || '#' || n.node_index, n.node_index, n.node_type, n.layer,
                n.position, n.activation, n.influence, n.logit_prob,
                CASE WHEN n.token_id >= 0 THEN n.token_id END, 'GNode' FROM nodes n"""),
    ("LoadedShard", "shards.csv",
     "key:ID(LoadedShard),run,shard,prompts:int,edges:int,:LABEL",
     """SELECT run || '/' || shard, run, shard, count(*), any_value(n_edges), 'LoadedShard'
        FROM prompts GROUP BY run, shard"""),
]

_AGG_COLS = ("count(DISTINCT e.pn), count(*), sum(e.w), sum(abs(e.w)), sum(e.w * e.w), "
             "min(e.w), max(e.w), array_to_string(list(DISTINCT e.pn ORDER BY e.pn), chr(31))")
_AGG_HEADER = ("support:int,count:int,sum:double,sum_abs:double,sum_sq:double,min:double,"
               "max:double,prompts:long[],:TYPE")

_REL_FILES = [
    ("has.csv", ":START_ID(Prompt),:END_ID(GNode),:TYPE",
     f"SELECT {_UID.format(a='n')}, {_UID.format(a='n')} || '#' || n.node_index, 'HAS' FROM nodes n"),
    ("of_feature.csv", ":START_ID(GNode),:END_ID(Feature),:TYPE",
     f"""SELECT {_UID.format(a='n')} || '#' || n.node_index, {_KEY.format(a='n')}, 'OF'
         FROM nodes n WHERE n.node_type = 'feature'"""),
    ("of_token.csv", ":START_ID(GNode),:END_ID(Token),:TYPE",
     f"""SELECT {_UID.format(a='n')} || '#' || n.node_index, {_TOK.format(a='n')}, 'OF'
         FROM nodes n WHERE n.node_type = 'logit'"""),
    ("attr.csv", ":START_ID(GNode),:END_ID(GNode),w:float,:TYPE",
     f"""SELECT {_UID.format(a='e')} || '#' || e.source, {_UID.format(a='e')} || '#' || e.target,
                e.weight, 'ATTR' FROM edges e"""),
    ("agg.csv", f":START_ID(Feature),:END_ID(Feature),{_AGG_HEADER}",
     f"SELECT e.s, e.t, {_AGG_COLS}, 'AGG' FROM fe e WHERE e.t_type = 'feature' GROUP BY e.s, e.t"),
    ("agg_out.csv", f":START_ID(Feature),:END_ID(Token),{_AGG_HEADER}",
     f"SELECT e.s, e.tk, {_AGG_COLS}, 'AGG_OUT' FROM fe e WHERE e.t_type = 'logit' "
     "GROUP BY e.s, e.tk"),
]


@dataclass(frozen=True)
class ImportFiles:
    """CSV files for the importer (each with its header as first line)."""

    nodes: list[Path]
    """Node files."""
    relationships: list[Path]
    """Relationship files."""


def _views(con, runs: list[Path]) -> None:
    shards = [s for run in runs for s in shard_dirs(run)]
    if not shards:
        raise InputError(f"no complete shards under {', '.join(map(str, runs))}; nothing to import")

    def files(name: str) -> str:
        return "[" + ", ".join(f"'{s / name}.parquet'" for s in shards) + "]"

    con.execute(f"CREATE VIEW nodes AS SELECT * FROM read_parquet({files('nodes')})")
    con.execute(f"CREATE VIEW edges_raw AS SELECT * FROM read_parquet({files('edges')})")
    con.execute(f"""CREATE TABLE prompts AS SELECT *, run || '/' || prompt_id AS uid,
        ('0x' || substr(sha1(run || '/' || prompt_id), 1, 15))::UBIGINT::BIGINT AS pn,
        string_split(filename, '/')[-2] AS shard
        FROM read_parquet({files('prompts')}, filename = true)
        WHERE coalesce(has_graph, true)""")
    con.execute("""CREATE TABLE shard_edges AS SELECT p.shard, count(*) AS n_edges
        FROM edges_raw e JOIN prompts p USING (run, prompt_id) GROUP BY p.shard""")
    con.execute("CREATE OR REPLACE TABLE prompts AS SELECT p.*, s.n_edges FROM prompts p "
                "LEFT JOIN shard_edges s USING (shard)")
    con.execute("CREATE VIEW edges AS SELECT e.* FROM edges_raw e SEMI JOIN prompts p "
                "USING (run, prompt_id)")
    con.execute("""CREATE VIEW token_text AS SELECT u.token_id, any_value(u.text) AS text FROM
        (SELECT unnest(token_ids) AS token_id, unnest(tokens) AS text FROM prompts) u
        GROUP BY u.token_id""")
    con.execute(f"""CREATE VIEW fe AS SELECT p.pn, e.weight::DOUBLE AS w,
            {_KEY.format(a='s')} AS s, t.node_type AS t_type,
            {_KEY.format(a='t')} AS t, {_TOK.format(a='t')} AS tk
        FROM edges e JOIN prompts p USING (run, prompt_id)
             JOIN nodes s ON s.run = e.run AND s.prompt_id = e.prompt_id AND s.node_index = e.source
             JOIN nodes t ON t.run = e.run AND t.prompt_id = e.prompt_id AND t.node_index = e.target
        WHERE s.node_type = 'feature' AND t.node_type IN ('feature', 'logit')""")


def _write(con, sql: str, header: str, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    con.execute(f"COPY ({sql}) TO '{tmp}' (FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"')")
    final_tmp = path.with_name(path.name + ".part")
    with open(final_tmp, "wb") as out, open(tmp, "rb") as body:
        out.write((header + "\n").encode())
        while chunk := body.read(1 << 24):
            out.write(chunk)
    tmp.unlink()
    os.replace(final_tmp, path)
    return path


def export_import_csv(runs: list[Path], out_dir: Path, memory_limit: str = "2GB") -> ImportFiles:
    """Write the importer's CSV files for every complete shard of `runs` into `out_dir`."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    _views(con, [Path(r) for r in runs])
    nodes = [_write(con, sql, header, out_dir / name) for _, name, header, sql in _NODE_FILES]
    rels = [_write(con, sql, header, out_dir / name) for name, header, sql in _REL_FILES]
    return ImportFiles(nodes, rels)


def import_command(lib_dir: Path, files: ImportFiles, database: str = "neo4j",
                   java: str = "java", heap: str = "1g") -> list[str]:
    """The `neo4j-admin database import full` command line (run with `import_env`)."""
    cmd = [java, f"-Xmx{heap}", "-cp", f"{lib_dir}/*", "org.neo4j.cli.AdminTool",
           "database", "import", "full", database, "--overwrite-destination=true",
           "--multiline-fields=true", f"--array-delimiter={ARRAY_DELIMITER}",
           "--high-parallel-io=on", "--threads=2"]
    cmd += [f"--nodes={p}" for p in files.nodes]
    return cmd + [f"--relationships={p}" for p in files.relationships]


def import_env(neo4j_home: Path, conf_dir: Path) -> dict[str, str]:
    """Environment pointing the admin tool at the server's home and configuration."""
    return {**os.environ, "NEO4J_HOME": str(neo4j_home), "NEO4J_CONF": str(conf_dir)}


@dataclass(frozen=True)
class BulkStats:
    """Timings of a bulk load."""

    export_seconds: float
    """Parquet -> CSV (DuckDB)."""
    import_seconds: float
    """neo4j-admin import."""
    schema_seconds: float
    """Server start plus constraints and indexes built over the imported data."""
    edges: int
    """Per-prompt edges imported."""


def bulk_load(config, runs: list[Path], csv_dir: Path) -> BulkStats:
    """Replace the managed database with the graphs of `runs` through the offline importer.

    Destroys the current database content (the importer only writes a fresh database): the
    caller must have the user's confirmation. Stops the managed server, imports, starts it and
    applies the schema migrations.
    """
    import subprocess
    import time

    import pyarrow.parquet as pq

    from atlas.errors import Neo4jError
    from atlas.neo4j import client, runtime, server
    from atlas.stores.neo4j_schema import ensure_schema

    if config.uses_external_neo4j:
        raise Neo4jError("bulk loading needs the managed Neo4j (it stops the server and writes "
                         "its files); unset neo4j_uri or use `atlas load` without --bulk")
    t0 = time.perf_counter()
    files = export_import_csv(runs, csv_dir)
    t1 = time.perf_counter()
    lib = runtime.resolve_runtime(config.neo4j_runtime_resolved, config.neo4j_version)
    server.stop(config)
    server.write_conf(config)
    done = subprocess.run(import_command(lib, files, config.neo4j_database,
                                         java=str(runtime.find_java()), heap=config.neo4j_heap),
                          env=import_env(config.neo4j_home, config.neo4j_home / "conf"),
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Neo4jError(f"neo4j-admin import failed: {tail[0][:200]}; CSV files kept in "
                         f"{csv_dir}")
    t2 = time.perf_counter()
    server.start(config)
    driver = client.connect(config)
    try:
        ensure_schema(driver, config.neo4j_database)
    finally:
        driver.close()
    edges = sum(pq.ParquetFile(s / "edges.parquet").metadata.num_rows
                for run in runs for s in shard_dirs(run))
    return BulkStats(t1 - t0, t2 - t1, time.perf_counter() - t2, edges)
