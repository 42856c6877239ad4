"""The shard computer of a run: activation pass over every token, attribution graphs, tables."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from atlas.errors import AtlasError
from ingest.settings import IngestSettings
from ingest.shards import ShardTables
from ingest.worker import ComputeResult

log = logging.getLogger(__name__)


@dataclass
class AttributionShardComputer:
    """Computes shards for one run with a loaded model and transcoder set."""

    run: str
    transcoder_set: str
    settings: IngestSettings
    model: object
    """atlas.models.LoadedModel"""
    transcoders: object
    """atlas.transcoders.TranscoderSet, on the model's device and dtype"""

    @classmethod
    def load(cls, run: str, transcoder_set: str, settings: IngestSettings
             ) -> "AttributionShardComputer":
        from atlas.models import load_model
        from atlas.transcoders import load_transcoders

        model = load_model(settings.model, device=settings.device, dtype=settings.dtype)
        tset = load_transcoders(settings.transcoders)
        tset.validate_for_model(model.n_layers, model.d_model)
        return cls(run, transcoder_set, settings, model,
                   tset.to(model.device, model.dtype))

    def token_ids(self, text: str) -> list[int]:
        from atlas.models import encode_prompt

        return encode_prompt(self.model.tokenizer, text)[: self.settings.max_tokens].tolist()

    def __call__(self, prompts: pa.Table, first_row: int,
                 on_prompt: Callable[[int, bool], None]) -> ComputeResult:
        from ingest.activations import batch_activations

        rows = prompts.to_pylist()
        ids = [self.token_ids(r["text"]) for r in rows]
        activation_parts, failed = [], [False] * len(rows)
        step = self.settings.activation_batch
        for lo in range(0, len(rows), step):
            table, bad = batch_activations(self.model, self.transcoders, self.run,
                                           [r["prompt_id"] for r in rows[lo:lo + step]],
                                           ids[lo:lo + step])
            activation_parts.append(table)
            failed[lo:lo + step] = bad
        node_parts, edge_parts, prompt_rows, n_graphs = [], [], [], 0
        window = self.settings.attribution_batch * self.settings.graph_every
        for lo in range(0, len(rows), window):
            chunk = range(lo, min(lo + window, len(rows)))
            wanted = [i for i in chunk
                      if not failed[i] and (first_row + i) % self.settings.graph_every == 0]
            graphs = self._graphs({i: (rows[i]["prompt_id"], ids[i]) for i in wanted})
            for i in chunk:
                graph, tables = graphs.get(i, (None, None))
                if i in wanted and graph is None:
                    failed[i] = True
                elif graph is not None:
                    node_parts.append(tables["nodes"])
                    edge_parts.append(tables["edges"])
                    n_graphs += 1
                prompt_rows.append(self._prompt_row(graph, rows[i], ids[i]))
                on_prompt(len(ids[i]), failed[i])
        return ComputeResult(self._tables(prompt_rows, node_parts, edge_parts, activation_parts),
                             n_tokens=sum(map(len, ids)), n_graphs=n_graphs,
                             n_errors=sum(failed))

    def _graphs(self, prompts: dict[int, tuple[str, list[int]]]) -> dict[int, tuple]:
        """{row: (graph, shard tables)} of the prompts {row: (prompt id, token ids)} that got a
        graph. All go through one `attribute_many` call; if it fails, each prompt is retried
        alone so one bad prompt costs only its own graph."""
        from atlas.attribution import attribute_many

        s = self.settings
        settings = dict(max_n_logits=s.max_n_logits, desired_logit_prob=s.desired_logit_prob,
                        batch_size=s.batch_size, max_feature_nodes=s.max_feature_nodes)
        if not prompts:
            return {}
        try:
            graphs = attribute_many([seq for _, seq in prompts.values()], self.model,
                                    self.transcoders, prompts_per_pass=s.attribution_batch,
                                    **settings)
        except (AtlasError, RuntimeError, ValueError) as e:
            if len(prompts) == 1:
                log.warning("prompt %s: no graph (%s)", next(iter(prompts.values()))[0], e)
                return {}
            log.info("attribution pass of %d prompts failed (%s); retrying one by one",
                     len(prompts), e)
            out: dict[int, tuple] = {}
            for row, prompt in prompts.items():
                out.update(self._graphs({row: prompt}))
            return out
        pairs = {row: self._tables_of(pid, graph)
                 for (row, (pid, _)), graph in zip(prompts.items(), graphs)}
        return {row: pair for row, pair in pairs.items() if pair[0] is not None}

    def _tables_of(self, prompt_id: str, graph) -> tuple:  # noqa: ANN001
        from atlas.graph.shards import graph_to_shard_tables

        s = self.settings
        try:
            return graph, graph_to_shard_tables(graph, self.run, prompt_id, self.transcoder_set,
                                                node_threshold=s.node_threshold,
                                                edge_threshold=s.edge_threshold)
        except (AtlasError, RuntimeError, ValueError) as e:
            log.warning("prompt %s: no graph (%s)", prompt_id, e)
            return None, None

    def _prompt_row(self, graph, row: dict, ids: list[int]) -> dict:
        from atlas.graph.shards import prompt_row

        tokens = self.model.tokenizer.convert_ids_to_tokens(ids)
        return prompt_row(graph, self.run, row["prompt_id"], row["text"], ids, tokens,
                          json.loads(row["metadata"] or "{}"))

    @staticmethod
    def _tables(prompt_rows: list[dict], nodes: list[pa.Table], edges: list[pa.Table],
                activations: list[pa.Table]) -> ShardTables:
        from atlas.graph.shards import (ACTIVATION_SCHEMA, EDGE_SCHEMA, NODE_SCHEMA,
                                        PROMPT_SCHEMA)

        def concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
            return pa.concat_tables([p.cast(schema) for p in parts]) if parts \
                else schema.empty_table()

        return ShardTables(prompts=pa.Table.from_pylist(prompt_rows, schema=PROMPT_SCHEMA),
                           nodes=concat(nodes, NODE_SCHEMA), edges=concat(edges, EDGE_SCHEMA),
                           activations=concat(activations, ACTIVATION_SCHEMA))
