// DOM and fetch helpers: elements are built with textContent only (data is never parsed as HTML).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {}

export function query(params) {
  // Empty values are left out; an array value repeats its parameter (`text=a&text=b`).
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x !== null && x !== undefined && x !== "") q.append(k, x);
    }
  }
  return q;
}

export async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  url.search = query(params).toString();
  const r = await fetch(url);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new ApiError(body.error || `HTTP ${r.status}`);
  return body;
}

export const fmt = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

export function featureLink(key, text, run) {
  const q = run ? `?run=${encodeURIComponent(run)}` : "";
  return h("a", { href: `#/feature/${encodeURIComponent(key)}${q}` }, text ?? key);
}

export function promptLink(id, run) {
  const q = run ? `?run=${encodeURIComponent(run)}` : "";
  return h("a", { href: `#/prompt/${encodeURIComponent(id)}${q}` }, id);
}

export function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

export function pager(page, go) {
  const prev = page.offset > 0 ? h("button", { onclick: () => go(Math.max(0, page.offset - page.limit)) }, "← previous") : null;
  const next = page.has_more ? h("button", { onclick: () => go(page.next_offset) }, "next →") : null;
  return h("div", { class: "pager" }, prev, ` results ${page.offset + 1}–${page.offset + page.results.length} `, next);
}
