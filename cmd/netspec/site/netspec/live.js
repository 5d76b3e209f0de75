// The live status page: each server-sent event "snapshot" of /netspec/events
// (driver/observe.LiveEvent) redraws the connections, the state diagram's
// counts, the last trace lines, the spec rows fired most and the counters.
"use strict";

const $ = (id) => document.getElementById(id);

// rfcName turns tcp.State's name into RFC 9293's: SynReceived -> SYN-RECEIVED.
const rfcName = (s) => s.replace(/([a-z])([A-Z0-9])/g, "$1-$2").toUpperCase();

const ms = (us) => (us / 1000).toFixed(us >= 10000 ? 0 : us >= 1000 ? 1 : 3);

function cell(tr, text, num) {
  const td = tr.insertCell();
  td.textContent = text;
  if (num) td.className = "num";
  return td;
}

function drawSockets(ev) {
  const body = $("sockets").tBodies[0];
  body.replaceChildren();
  // The loop column only when several event loops hold sockets.
  $("sockets").classList.toggle("oneloop", !ev.sockets.some((so) => so.loop > 0));
  for (const so of ev.sockets) {
    const tr = body.insertRow();
    tr.dataset.state = so.state;
    const live = so.state !== "Listen" && so.state !== "TimeWait";
    cell(tr, rfcName(so.state));
    cell(tr, so.recv_q, true);
    cell(tr, so.send_q, true);
    cell(tr, so.local);
    cell(tr, so.remote || "*:*");
    cell(tr, so.fd >= 0 ? so.fd : "-", true);
    cell(tr, so.loop, true).classList.add("loopcol");
    cell(tr, live && so.srtt_us ? ms(so.srtt_us) : "", true);
    cell(tr, live ? ms(so.rto_us) : "", true);
    cell(tr, live ? Math.floor(so.cwnd / Math.max(so.mss, 1)) : "", true);
    cell(tr, live ? so.retries : "", true);
    cell(tr, so.rule || "-");
  }
  const more = ev.more_sockets || 0;
  $("nsockets").textContent = ev.sockets.length + more + " sockets";
  $("moresockets").hidden = !more;
  $("moresockets").textContent = more ? "and " + more + " more" : "";
}

// The diagram: docs/diagrams/tcp.svg, one <g class="node"> per state.
const nodes = new Map(); // state name -> {g, n (the count's <text>)}

async function loadDiagram() {
  const text = await (await fetch("tcp.svg")).text();
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  $("svg").replaceChildren(document.importNode(svg, true));
  for (const g of $("svg").querySelectorAll("g.node")) {
    const name = g.querySelector("title").textContent;
    const bb = g.getBBox();
    const n = document.createElementNS("http://www.w3.org/2000/svg", "text");
    n.setAttribute("class", "n");
    n.setAttribute("x", bb.x + bb.width + 3);
    n.setAttribute("y", bb.y + 11);
    n.setAttribute("font-size", "14");
    g.appendChild(n);
    nodes.set(name, { g, n });
  }
}

function drawStates(ev) {
  for (const [name, { g, n }] of nodes) {
    const k = ev.states[name] || 0;
    g.classList.toggle("busy", k > 0);
    g.dataset.count = k;
    n.textContent = k > 0 ? k : "";
  }
}

function drawTrace(ev) {
  $("tracelines").textContent = ev.trace.join("\n");
  $("traced").textContent = ev.traced + " frames traced while watched; the last " + ev.trace.length;
}

function drawRules(ev) {
  const body = $("rulehits").tBodies[0];
  body.replaceChildren();
  for (const r of ev.rules) {
    const tr = body.insertRow();
    cell(tr, r.hits, true);
    cell(tr, r.src);
    cell(tr, rfcName(r.state) + " / " + r.event);
    cell(tr, r.anchor);
  }
}

const previous = new Map(); // counter name -> value of the last event

function drawCounters(ev) {
  const byGroup = new Map();
  for (const c of ev.counters) {
    if (!byGroup.has(c.group)) byGroup.set(c.group, []);
    byGroup.get(c.group).push(c);
  }
  const out = [];
  for (const group of ev.groups) {
    const cs = byGroup.get(group);
    if (!cs) continue;
    const div = document.createElement("div");
    div.className = "group";
    const h = document.createElement("h3");
    h.textContent = group + ":";
    div.appendChild(h);
    for (const c of cs) {
      const row = document.createElement("div");
      row.className = "c";
      row.dataset.name = c.name;
      row.dataset.value = c.value;
      if (previous.has(c.name) && previous.get(c.name) !== c.value) row.classList.add("moved");
      const v = document.createElement("span");
      v.className = "v";
      v.textContent = c.value;
      row.append(v, c.name + (c.gauge ? " (now)" : ""));
      div.appendChild(row);
      previous.set(c.name, c.value);
    }
    out.push(div);
  }
  $("groups").replaceChildren(...out);
}

function status(state, text) {
  const s = $("status");
  s.dataset.state = state;
  s.textContent = text;
}

let events = 0;

function draw(ev) {
  events++;
  document.body.dataset.events = events;
  drawSockets(ev);
  drawStates(ev);
  drawTrace(ev);
  drawRules(ev);
  drawCounters(ev);
  const t = new Date(ev.time).toLocaleTimeString();
  status("live", "live: " + ev.addr + " at " + t + ", " + ev.clients + " watching");
}

loadDiagram().catch((e) => { $("svg").textContent = "diagram: " + e; }).finally(() => {
  const es = new EventSource("events");
  es.addEventListener("snapshot", (m) => draw(JSON.parse(m.data)));
  es.onerror = () => status("lost", "connection lost, reconnecting…");
});
