// The feature page: statistics, activation histogram, highlighted examples, output tokens, neighbours.

import { api, featureLink, fmt, h, s, table } from "./dom.js";

function tokenSpan(text, value, max) {
  const alpha = max > 0 ? Math.min(1, value / max) : 0;
  return h("span", {
    class: value > 0 ? "tok on" : "tok",
    style: `background: rgba(255, 140, 0, ${alpha.toFixed(3)})`,
    title: value > 0 ? `activation ${fmt(value)}` : null,
  }, text);
}

export function example(ex, max) {
  const tokens = ex.tokens || ex.token_ids.map((t) => `[${t}]`);
  return h("div", { class: "example" },
    h("span", { class: "meta" }, `${ex.prompt_id}@${ex.position} · ${fmt(ex.activation)} `),
    tokens.map((t, i) => {
      const span = tokenSpan(t, ex.values[i] || 0, max);
      if (i === ex.index_in_ctx) span.classList.add("focus");
      return span;
    }));
}

export function histogram(bins) {
  const w = 480, hgt = 120, n = Math.max(bins.length, 1);
  const top = Math.max(1, ...bins.map((b) => b.n));
  const bw = w / n;
  return s("svg", { class: "hist", viewBox: `0 0 ${w} ${hgt + 16}`, width: w, height: hgt + 16 },
    bins.map((b, i) => {
      const bh = (b.n / top) * hgt;
      return s("rect", { x: i * bw + 1, y: hgt - bh, width: Math.max(bw - 2, 1), height: bh },
        s("title", {}, `${fmt(b.lo)} – ${b.hi === null ? "∞" : fmt(b.hi)}: ${b.n}`));
    }),
    s("text", { x: 0, y: hgt + 13 }, bins.length ? fmt(bins[0].lo) : ""),
    s("text", { x: w, y: hgt + 13, "text-anchor": "end" },
      bins.length ? (bins[bins.length - 1].hi === null ? "∞" : fmt(bins[bins.length - 1].hi)) : ""));
}

function outputs(title, list) {
  return h("div", { class: "outputs" }, h("h4", {}, title),
    h("ul", {}, list.map((o) => h("li", {}, h("code", {}, JSON.stringify(o.token)), ` ${fmt(o.value)}`))));
}

async function neighbours(key) {
  const box = h("div", { class: "neighbours" }, "loading neighbours…");
  api(`/api/queries/feature-neighborhood`, { feature: key, limit: 8 }).then((res) => {
    box.replaceChildren(table(["direction", "feature", "label", "support", "mean weight"],
      res.rows.map((r) => [r.direction, featureLink(r.feature), r.label || "", r.support, fmt(r.mean_weight)])));
  }).catch((e) => box.replaceChildren(h("p", { class: "error" }, e.message)));
  return box;
}

export async function featureView(key, params) {
  const card = await api(`/api/features/${encodeURIComponent(key)}`, { run: params.get("run") });
  const max = card.stats.max_act;
  const st = card.stats;
  return h("section", { class: "feature" },
    h("h2", {}, `Feature ${key}`),
    h("p", { class: "meta" }, `run ${card.run} · layer ${card.layer} · index ${card.feature}`),
    table(["active tokens", "frequency", "mean (active)", "std", "max", "prompts"],
      [[st.n_active, fmt(st.frac_active, 4), fmt(st.mean_active), fmt(st.std_active), fmt(st.max_act), st.n_prompts]]),
    h("h3", {}, "Activation histogram"), histogram(card.histogram),
    h("div", { class: "cols" }, outputs("Promotes", card.output_pos), outputs("Suppresses", card.output_neg)),
    h("h3", {}, "Top examples"), card.top_examples.map((ex) => example(ex, max)),
    h("h3", {}, "Examples by activation quantile"),
    card.quantile_buckets.map((b) => h("details", {},
      h("summary", {}, `quantile ${fmt(b.quantile_lo, 2)}–${fmt(b.quantile_hi, 2)} · ${b.n_active} tokens`),
      b.examples.map((ex) => example(ex, max)))),
    h("h3", {}, "Neighbours across prompts"), await neighbours(key));
}
