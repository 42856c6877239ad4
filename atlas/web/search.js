// The search box and its results: features by words, by meaning, or by example texts run through a run's model.

import { api, featureLink, fmt, h, pager, table } from "./dom.js";

const el = (id) => document.getElementById(id);
const MODE_NAMES = { text: "words", semantic: "meaning", examples: "by examples" };

export function exampleLines(value) {
  return String(value || "").split("\n").map((t) => t.trim()).filter(Boolean);
}

async function labelSearch(params, go) {
  const q = params.get("q") || "";
  const mode = params.get("mode") || "text";
  const offset = Number(params.get("offset") || 0);
  const page = await api("/api/search", { q, mode, offset, limit: 20 });
  return h("section", {}, h("h2", {}, `Features matching “${q}” (${MODE_NAMES[mode] || mode})`),
    page.results.length ? table(["feature", "label", "layer", "index", "score"],
      page.results.map((r) => [featureLink(r.feature), r.label || "", r.layer, r.index, fmt(r.score)])) : h("p", {}, "No features found."),
    pager(page, (o) => go("/search", { q, mode, offset: o })));
}

async function labelsOf(keys) {
  // feature key -> label, from the graph (features it lacks, or has no label for, are left out).
  if (!keys.length) return new Map();
  const res = await api("/api/queries/feature-labels", { features: keys.join(",") });
  return new Map(res.rows.filter((r) => r.label).map((r) => [r.feature, r.label]));
}

function exampleRows(page, labels, run) {
  return table(["feature", "label", "layer", "index", "score", "mean on examples", "mean on baseline", "active on examples"],
    page.results.map((r) => [featureLink(r.feature, r.feature, run), labels.get(r.feature) || "", r.layer, r.index,
      fmt(r.score), fmt(r.mean_examples), fmt(r.mean_baseline), fmt(r.frac_examples_active, 2)]));
}

async function exampleSearch(params, go) {
  const run = params.get("run") || "";
  const texts = params.getAll("text");
  const offset = Number(params.get("offset") || 0);
  if (!run) throw new Error("search by examples needs a run: pick one next to the search box");
  if (!texts.length) throw new Error("search by examples needs text: write one example per line");
  const page = await api("/api/search/examples", { run, text: texts, offset, limit: 20 });
  const labels = await labelsOf(page.results.map((r) => r.feature)).catch((e) => e);
  return h("section", {},
    h("h2", {}, `Features firing on ${texts.length} example text${texts.length === 1 ? "" : "s"} (run ${run})`),
    h("ol", { class: "example-texts" }, texts.map((t) => h("li", {}, t))),
    labels instanceof Error ? h("p", { class: "error" }, `labels unavailable: ${labels.message}`) : null,
    page.results.length ? exampleRows(page, labels instanceof Error ? new Map() : labels, run)
      : h("p", {}, "No features found."),
    pager(page, (o) => go("/search", { mode: "examples", run, text: texts, offset: o })));
}

const SEARCHES = { text: labelSearch, semantic: labelSearch, examples: exampleSearch };

export async function searchView(params, go) {
  syncForm(params);
  const search = SEARCHES[params.get("mode") || "text"];
  if (!search) throw new Error(`unknown search mode ${params.get("mode")}; use one of ${Object.keys(SEARCHES).join(", ")}`);
  return search(params, go);
}

let runsLoaded = null;

function loadRuns(selected) {
  // Fill the run select from /api/runs once; a failure shows in the view as one line.
  runsLoaded ||= api("/api/runs").then((runs) => {
    el("search-run").replaceChildren(...runs.map((r) => h("option", { value: r.name }, r.name)));
  }).catch((e) => {
    runsLoaded = null;
    el("view").replaceChildren(h("p", { class: "error" }, `runs unavailable: ${e.message}`));
  });
  return runsLoaded.then(() => { if (selected) el("search-run").value = selected; });
}

function showMode(mode) {
  const examples = mode === "examples";
  el("search-q").hidden = examples;
  el("search-q").required = !examples;
  el("search-texts").hidden = !examples;
  el("search-texts").required = examples;
  el("search-run").hidden = !examples;
  if (examples) loadRuns(null);
}

function syncForm(params) {
  // The search box shows the search on the page (so a shared link reopens it as it was).
  const mode = params.get("mode") || "text";
  el("search-mode").value = mode;
  showMode(mode);
  if (mode === "examples") {
    el("search-texts").value = params.getAll("text").join("\n");
    loadRuns(params.get("run"));
  } else {
    el("search-q").value = params.get("q") || "";
  }
}

function submit(go) {
  const mode = el("search-mode").value;
  if (mode !== "examples") return go("/search", { q: el("search-q").value, mode });
  const texts = exampleLines(el("search-texts").value);
  return go("/search", { mode, run: el("search-run").value, text: texts });
}

export function initSearchForm(go) {
  el("search-mode").addEventListener("change", (e) => showMode(e.target.value));
  el("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit(go);
  });
}
