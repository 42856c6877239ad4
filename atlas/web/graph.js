// A prompt's attribution graph drawn layered: x = token position, y = layer; details on hover.

import { api, featureLink, fmt, h, s } from "./dom.js";

const COLORS = { "embedding": "#4a7", "mlp reconstruction error": "#999", "logit": "#c44" };

function layerRank(layer) {
  return layer === "E" ? 0 : Number(layer) + 1;  // embeddings at rank 0, logits on top
}

export function layout(graph, width = 900, rowH = 70) {
  const nPos = graph.metadata.prompt_tokens.length;
  const layers = graph.nodes.map((n) => layerRank(n.layer));
  const top = Math.max(1, ...layers);
  const colW = width / Math.max(nPos, 1);
  const slots = new Map();
  const pos = new Map();
  graph.nodes.forEach((n, i) => {
    const key = `${layers[i]}|${n.ctx_idx}`;
    const k = slots.get(key) || 0;
    slots.set(key, k + 1);
    pos.set(n.node_id, { x: colW * n.ctx_idx + 14 + (k % 6) * (colW - 20) / 6, y: (top - layers[i]) * rowH + 20 + Math.floor(k / 6) * 10 });
  });
  return { pos, height: top * rowH + 60, width, colW };
}

function details(n) {
  return h("dl", {},
    h("dt", {}, "node"), h("dd", {}, n.node_id),
    h("dt", {}, "type"), h("dd", {}, n.feature_type),
    h("dt", {}, "layer / position"), h("dd", {}, `${n.layer} / ${n.ctx_idx}`),
    n.clerp ? [h("dt", {}, "label"), h("dd", {}, n.clerp)] : null,
    n.activation !== null ? [h("dt", {}, "activation"), h("dd", {}, fmt(n.activation))] : null,
    n.influence !== null ? [h("dt", {}, "influence"), h("dd", {}, fmt(n.influence))] : null,
    n.feature_type === "logit" ? [h("dt", {}, "probability"), h("dd", {}, fmt(n.token_prob))] : null);
}

export function drawGraph(graph, panel, scan) {
  const { pos, height, width, colW } = layout(graph);
  const maxW = Math.max(1e-9, ...graph.links.map((l) => Math.abs(l.weight)));
  const edges = graph.links.map((l) => {
    const a = pos.get(l.source), b = pos.get(l.target);
    return s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: l.weight >= 0 ? "edge pos" : "edge neg",
      "stroke-width": 0.4 + 3 * Math.abs(l.weight) / maxW, "data-s": l.source, "data-t": l.target });
  });
  const hover = (n) => {
    for (const e of edges) {
      const on = e.dataset.s === n.node_id || e.dataset.t === n.node_id;
      e.classList.toggle("hot", on);
    }
    const link = n.feature_type === "cross layer transcoder" && scan
      ? featureLink(`${scan}:${n.layer}:${n.jsNodeId.split("_")[1].split("-")[0]}`, "open feature card") : null;
    panel.replaceChildren(details(n), link || "");
  };
  const nodes = graph.nodes.map((n) => {
    const p = pos.get(n.node_id);
    return s("circle", { cx: p.x, cy: p.y, r: n.is_target_logit ? 7 : 5, class: "node",
      fill: COLORS[n.feature_type] || "#36c", onmouseenter: () => hover(n), onclick: () => hover(n) },
      s("title", {}, n.clerp || n.node_id));
  });
  const labels = graph.metadata.prompt_tokens.map((t, i) =>
    s("text", { x: colW * i + 6, y: height - 8, class: "axis" }, t));
  return s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, width, height }, edges, nodes, labels);
}

export async function promptView(id, params) {
  const graph = await api(`/api/prompts/${encodeURIComponent(id)}/graph`, { run: params.get("run") });
  const panel = h("aside", { class: "details" }, "Hover a node for details.");
  return h("section", { class: "prompt" },
    h("h2", {}, `Prompt ${id}`),
    h("p", { class: "prompt-text" }, graph.metadata.prompt),
    h("p", { class: "meta" }, `${graph.nodes.length} nodes · ${graph.links.length} edges · y = layer (embeddings at the bottom, logits on top), x = token position`),
    h("div", { class: "graph-wrap" }, drawGraph(graph, panel, graph.metadata.scan), panel));
}
