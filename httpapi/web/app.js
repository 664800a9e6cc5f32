// The libcluster web view. Plain JavaScript, no framework and no build
// step: it reads api/view, api/mesh and api/events (relative URLs, so it
// works under a reverse proxy's path prefix) and draws them with the DOM
// and inline SVG. Everything shown is set as text, never as HTML.
"use strict";

// Under a prefix opened without its trailing slash ("/ops/lc"), relative
// URLs would resolve one level up; prefix them with the last segment.
const last = location.pathname.split("/").pop();
const base = location.pathname.endsWith("/") ? "" : last + "/";
const api = (p) => base + "api/" + p;

const MAX_EVENTS = 500;
const KINDS = ["connected", "connect_failed", "disconnected", "disconnect_failed", "discovery_error",
  "node_up", "node_down", "strategy_failed", "desired_changed"];

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// el builds an element: attrs are attributes ("class", "data-*", ...),
// children are nodes or strings (set as text).
function el(tag, attrs, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function ago(t) {
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 1) return "just now";
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function clock(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

async function getJSON(path) {
  const r = await fetch(api(path), { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + r.statusText);
  return r.json();
}

// ---- the node's view ----

let view = null;

function renderView(v) {
  view = v;
  $("self").textContent = v.self;
  $("connector").textContent = v.connector ? "connector " + v.connector : "";
  const ready = $("ready");
  ready.textContent = v.ready ? "ready" : "not ready";
  ready.className = "badge " + (v.ready ? "ok" : "bad");
  $("updated").textContent = "updated " + clock(v.time);
  document.title = v.self + " · libcluster";
  const box = $("topologies");
  box.replaceChildren(...v.topologies.map(renderTopology));
  if (v.topologies.length === 0) box.append(el("div", { class: "card" }, el("p", { class: "muted" }, "No topologies.")));
  renderFigures(v);
  addFilterOptions("ftopo", v.topologies.map((t) => t.name));
}

function renderTopology(t) {
  const card = el("div", { class: "card topology", "data-topology": t.name });
  card.append(el("h2", {},
    "topology ", el("span", { class: "mono" }, t.name), " ",
    el("span", { class: "muted" }, t.strategy ? "strategy " + t.strategy : ""), " ",
    el("span", { class: "badge " + (t.ready ? "ok" : "bad"), "data-ready": t.ready }, t.ready ? "ready" : "not ready")));
  card.append(el("dl", { class: "kv" },
    el("dt", {}, "connected"), el("dd", {}, `${t.connected.length} of ${t.desired.length} desired` + (t.min_nodes > 0 ? ` (min_nodes ${t.min_nodes})` : "")),
    el("dt", {}, "prune"), el("dd", {}, t.prune),
    el("dt", {}, "restarts"), el("dd", { "data-restarts": t.restarts }, String(t.restarts)),
    el("dt", {}, "running"), el("dd", {}, t.running ? "yes" : "no")));
  if (t.last_error) card.append(el("div", { class: "error last-error" }, "last error: " + t.last_error));

  card.append(el("h3", {}, "desired vs connected"));
  if (t.desired.length === 0) {
    card.append(el("p", { class: "muted" }, "nothing desired yet"));
  } else {
    const rows = t.desired.map((n) => {
      const up = t.connected.includes(n);
      return el("tr", { class: "member", "data-node": n, "data-state": up ? "up" : "down" },
        el("td", { class: "node" }, n), el("td", { class: up ? "st-up" : "st-down" }, up ? "connected" : "down"));
    });
    card.append(el("table", {}, el("tbody", {}, rows)));
  }

  const d = t.discovery;
  card.append(el("h3", {}, "source of truth"));
  if (!d) {
    card.append(el("p", { class: "muted" }, "no discovery reported yet"));
  } else {
    card.append(el("dl", { class: "kv" },
      el("dt", {}, "source"), el("dd", { class: "source" }, d.source || "(not named by the strategy)"),
      el("dt", {}, "answer"), el("dd", {}, (d.complete ? "complete set" : "nodes seen (additive)") + ", " + ago(d.time) + `, ${d.reports} reports`)));
    if (d.error) card.append(el("div", { class: "error discovery-error" }, "discovery failed " + ago(d.error_at) + ": " + d.error + " (the last good answer is kept)"));
    const items = [];
    for (const n of d.kept) items.push(el("li", { class: "kept", "data-candidate": n }, "kept     " + n));
    for (const x of d.dropped) {
      items.push(el("li", { class: "dropped", "data-candidate": x.candidate },
        "dropped  " + x.candidate + "  ", el("span", { class: "reason" }, x.reason)));
    }
    if (items.length === 0) items.push(el("li", { class: "muted" }, "(no candidates)"));
    if (d.truncated) items.push(el("li", { class: "muted" }, "(more candidates than shown)"));
    card.append(el("ul", { class: "cands" }, items));
  }
  if (t.gossip) {
    const g = t.gossip;
    card.append(el("h3", {}, "gossip packets"));
    const rows = [["received", g.received], ["accepted", g.accepted], ["sent", g.sent], ["send errors", g.send_errors], ["dropped", g.dropped_total]];
    for (const [r, n] of Object.entries(g.dropped).sort()) rows.push(["  dropped: " + r, n]);
    card.append(el("table", { class: "gossip" }, el("tbody", {}, rows.map(([k, n]) =>
      el("tr", { "data-counter": k }, el("td", {}, k), el("td", { class: "num" }, String(n)))))));
  }
  return card;
}

function renderFigures(v) {
  const rows = v.figures.map((f) => el("tr", {},
    el("td", { class: "mono" }, f.name + (f.labels ? "{" + f.labels + "}" : "")),
    el("td", { class: "num" }, Number.isInteger(f.value) ? String(f.value) : f.value.toPrecision(4))));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { class: "muted" }, "no metrics")));
  $("figures").tBodies[0].replaceChildren(...rows);
}

// ---- the mesh ----

function renderMesh(m) {
  const svg = $("mesh");
  const W = 520, H = 360, cx = W / 2, cy = H / 2 + 4;
  const n = m.nodes.length;
  const r = n <= 1 ? 0 : Math.min(130, 40 + n * 18);
  const pos = {};
  m.nodes.forEach((node, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    pos[node.name] = [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  });
  const lines = m.links.map((l) => {
    const [x1, y1] = pos[l.a] || [cx, cy], [x2, y2] = pos[l.b] || [cx, cy];
    const cls = l.one_sided ? "onesided" : l.direct ? "direct" : "peer";
    return el("svg:line", { x1, y1, x2, y2, class: cls, "data-a": l.a, "data-b": l.b, "data-direct": l.direct },
      el("svg:title", {}, `${l.a} — ${l.b}: seen by ${l.seen_by.join(", ")}` + (l.direct ? "" : " (this node cannot see this link)")));
  });
  const nodes = m.nodes.map((node) => {
    const [x, y] = pos[node.name];
    const label = node.name.length > 28 ? node.name.slice(0, 27) + "…" : node.name;
    const below = y >= cy;
    const noview = node.state !== "self" && node.state !== "down" && node.view !== "ok";
    return el("svg:g", { class: "n " + node.state + (noview ? " noview" : ""), "data-node": node.name, "data-state": node.state },
      el("svg:circle", { cx: x, cy: y, r: 13 }),
      el("svg:text", { x, y: below ? y + 28 : y - 19 }, label),
      el("svg:title", {}, node.name + ": " + node.state + (node.view && node.view !== "ok" ? " — view not joined: " + node.view : "")));
  });
  svg.replaceChildren(...lines, ...nodes);
  const joined = m.nodes.filter((x) => x.view === "ok").length;
  const remote = m.links.filter((l) => !l.direct).length;
  $("meshnote").textContent = `${n} nodes, ${m.links.length} links; views joined: ${joined} of ${n}` +
    (remote ? `; ${remote} link(s) known only from peers' views` : "");
}

// ---- events ----

const events = [];
const seenIDs = new Set();

function addFilterOptions(id, values) {
  const sel = $(id);
  const have = new Set([...sel.options].map((o) => o.value));
  for (const v of values) if (v && !have.has(v)) { sel.append(el("option", { value: v }, v)); have.add(v); }
}

function renderEvents() {
  const ft = $("ftopo").value, fk = $("fkind").value;
  const shown = events.filter((e) => (!ft || e.topology === ft) && (!fk || e.kind === fk));
  $("events").replaceChildren(...shown.map((e) => el("li", { class: "ev", "data-kind": e.kind, "data-node": e.node, "data-topology": e.topology, "data-id": e.id },
    el("span", { class: "time" }, clock(e.time)),
    el("span", { class: "kind k-" + e.kind }, e.kind),
    el("span", {}, el("span", { class: "node" }, e.node || (e.kind === "desired_changed" ? e.nodes + " desired" : "")), " ",
      el("span", { class: "muted" }, e.topology + (e.attempt ? " · attempt " + e.attempt : "") + (e.duration_ms ? ` · ${e.duration_ms} ms` : ""))),
    e.error ? el("span", { class: "err" }, e.error) : null)));
  $("evcount").textContent = `${shown.length} of ${events.length}`;
}

let viewTimer = null, meshTimer = null;
function soon(which, ms) {
  if (which === "view") { if (!viewTimer) viewTimer = setTimeout(() => { viewTimer = null; refreshView(); }, ms); }
  else if (!meshTimer) meshTimer = setTimeout(() => { meshTimer = null; refreshMesh(); }, ms);
}

function connectEvents() {
  const es = new EventSource(api("events"));
  const st = $("stream");
  es.onopen = () => { st.textContent = "events: live"; st.className = "badge ok"; };
  es.onerror = () => {
    st.textContent = "events: reconnecting"; st.className = "badge off";
    // The browser retries by itself unless the server answered an error
    // (e.g. 503 while the node starts): then start over.
    if (es.readyState === EventSource.CLOSED) setTimeout(connectEvents, 1000);
  };
  es.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    if (seenIDs.has(e.id)) return;
    seenIDs.add(e.id);
    events.unshift(e);
    if (events.length > MAX_EVENTS) seenIDs.delete(events.pop().id);
    addFilterOptions("ftopo", [e.topology]);
    addFilterOptions("fkind", [e.kind]);
    renderEvents();
    soon("view", 50);
    if (e.kind !== "desired_changed") soon("mesh", 150);
  });
}

// ---- refresh loop ----

async function refreshView() {
  try { renderView(await getJSON("view")); }
  catch (err) { $("updated").textContent = "node unreachable: " + err.message; $("ready").className = "badge off"; }
}

async function refreshMesh() {
  try { renderMesh(await getJSON("mesh")); }
  catch (err) { $("meshnote").textContent = "mesh unavailable: " + err.message; }
}

addFilterOptions("fkind", KINDS);
$("ftopo").onchange = renderEvents;
$("fkind").onchange = renderEvents;
refreshView();
refreshMesh();
connectEvents();
setInterval(refreshView, 2000);
setInterval(refreshMesh, 2000);
