// The page's router: hash routes to views (search, feature, circuits, prompts, prompt graph, runs).

import { api, featureLink, fmt, h, pager, promptLink, query, table } from "./dom.js";
import { featureView } from "./feature.js";
import { promptView } from "./graph.js";
import { initSearchForm, searchView } from "./search.js";

const view = () => document.getElementById("view");

function go(path, params) {
  const q = query(params);
  window.location.hash = `#${path}${q.toString() ? "?" + q : ""}`;
}

async function circuitsView(_, params) {
  const args = { min_prompts: params.get("min_prompts") || 3, token: params.get("token"),
    offset: Number(params.get("offset") || 0), limit: 20 };
  const page = await api("/api/circuits", args);
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    go("/circuits", { min_prompts: f.get("min_prompts"), token: f.get("token") });
  } },
  h("label", {}, "min prompts ", h("input", { name: "min_prompts", type: "number", min: 1, value: args.min_prompts })),
  h("label", {}, " output token id ", h("input", { name: "token", type: "number", min: 0, value: args.token || "" })),
  h("button", { type: "submit" }, "Filter"));
  return h("section", {}, h("h2", {}, "Recurring circuits"), form,
    table(["path", "token", "support", "mean weight", "prompts"], page.results.map((c) => [
      h("span", {}, c.features.map((f, i) => [i ? " → " : "", featureLink(f, c.labels[i] || f)])),
      c.token ?? "", c.support, fmt(c.mean_weight),
      h("span", {}, c.example_prompts.map((p, i) => [i ? ", " : "", promptLink(p)]), " ",
        h("a", { href: `#/circuit?features=${encodeURIComponent(c.features.join(","))}${c.token !== null ? "&token=" + c.token : ""}` }, "all…")),
    ])),
    pager(page, (o) => go("/circuits", { ...args, limit: null, offset: o })));
}

async function circuitView(_, params) {
  const features = params.get("features") || "";
  const page = await api("/api/circuits/prompts", { features, token: params.get("token"), limit: 100 });
  return h("section", {}, h("h2", {}, "Prompts containing the circuit"),
    h("p", {}, features.split(",").map((f, i) => [i ? " → " : "", featureLink(f)])),
    table(["prompt", "run", "text", "hop weights", "total |w|"], page.results.map((r) => [
      promptLink(r.prompt_id, r.run), r.run, r.text || "", r.hop_weights.map((w) => fmt(w, 2)).join(", "), fmt(r.total_abs_weight)])));
}

async function promptsView(_, params) {
  const offset = Number(params.get("offset") || 0);
  const page = await api("/api/prompts", { run: params.get("run"), offset, limit: 50 });
  return h("section", {}, h("h2", {}, "Prompts"),
    table(["prompt", "run", "tokens", "text"], page.results.map((p) => [promptLink(p.prompt_id, p.run), p.run, p.n_tokens ?? "", p.text || ""])),
    pager(page, (o) => go("/prompts", { run: params.get("run"), offset: o })));
}

async function runsView() {
  const runs = await api("/api/runs");
  return h("section", {}, h("h2", {}, "Runs"), table(["run", "state", "shards", "by state", "graphs", "tokens", "errors"],
    runs.map((r) => [r.name, r.state, r.n_shards, Object.entries(r.by_state).map(([k, v]) => `${k} ${v}`).join(", "),
      r.n_graphs, r.n_tokens, r.n_errors])));
}

async function homeView() {
  return h("section", {}, h("h2", {}, "Feature Atlas"),
    h("p", {}, "Search features above, browse ", h("a", { href: "#/circuits" }, "recurring circuits"),
      " or ", h("a", { href: "#/prompts" }, "prompts"), " and their attribution graphs."),
    await circuitsView(null, new URLSearchParams()));
}

const ROUTES = [
  [/^\/feature\/(.+)$/, (m, p) => featureView(decodeURIComponent(m[1]), p)],
  [/^\/prompt\/(.+)$/, (m, p) => promptView(decodeURIComponent(m[1]), p)],
  [/^\/search$/, (_, p) => searchView(p, go)], [/^\/circuits$/, circuitsView], [/^\/circuit$/, circuitView],
  [/^\/prompts$/, promptsView], [/^\/runs$/, runsView], [/^\/?$/, homeView],
];

async function render() {
  const [path, query] = (window.location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const route = ROUTES.find(([re]) => re.test(path));
  view().replaceChildren(h("p", { class: "loading" }, "loading…"));
  try {
    const el = route ? await route[1](path.match(route[0]), params) : h("p", {}, "No such page.");
    view().replaceChildren(el);
  } catch (e) {
    view().replaceChildren(h("p", { class: "error" }, e.message));
  }
}

initSearchForm(go);
window.addEventListener("hashchange", render);
render();
