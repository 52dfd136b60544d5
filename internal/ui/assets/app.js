// mmm status page: renders the watch's view from /v1/events/stream.
// No framework and no build step; the topology's SVG comes drawn by the
// watch (the same code as `mmm show --format svg`).
"use strict";
// Load timings, read by the browser test: script start, stream open, first view.
window.mmmTimes = { script: performance.now() };
(function () {
  var LOST_AFTER_MS = 5000; // samples come every second: 5 s of silence is a lost watch
  var HISTORY_MS = 5 * 60 * 1000;
  var PALETTE = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];

  var $ = function (id) { return document.getElementById(id); };
  var view = null, samples = [], lastMsg = 0, lostSince = 0, selected = "", es = null, firstShown = false;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { for (var k in attrs) { if (attrs[k] != null) e.setAttribute(k, attrs[k]); } }
    if (text != null) e.textContent = text;
    return e;
  }
  function clock(t) {
    var d = new Date(t);
    if (isNaN(d)) return "";
    return d.toLocaleTimeString([], { hour12: false });
  }
  function ago(t) {
    var s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
    if (!(s >= 0)) return "";
    if (s < 90) return s + "s ago";
    if (s < 5400) return Math.round(s / 60) + "m ago";
    return Math.round(s / 3600) + "h ago";
  }

  // ---- banners ---------------------------------------------------------
  function banners() {
    var list = [];
    if (lostSince) list.push(["bad", "lost", "Lost the watch at " + clock(lostSince) + ": retrying. What you see is from then."]);
    if (view) {
      if (view.network_down) list.push(["bad", "network", "The monitor is cut off: none of monitor.ping_ips (" + (view.ping_ips || []).join(", ") + ") answers, so the watch changes nothing."]);
      if (view.mode === "passive") list.push(["warn", "mode", "The watch is PASSIVE: it watches but moves nothing" + (view.mode_reason ? " (" + view.mode_reason + ")" : "") + "."]);
      if (view.mode === "manual") list.push(["warn", "mode", "The watch is in MANUAL mode: no automatic failover" + (view.mode_reason ? " (" + view.mode_reason + ")" : "") + "."]);
      if (view.semi_sync && view.semi_sync.indexOf("OFF") === 0) list.push(["warn", "semisync", "Semi-sync fell back: " + view.semi_sync + "."]);
      if (view.writer_verdict && view.writer_verdict !== "alive") list.push(["bad", "verdict", "Writer " + view.writer + " " + view.writer_verdict + (view.writer_verdict_reason ? ": " + view.writer_verdict_reason : "")]);
      if (view.node && !view.leader) list.push(["bad", "leader", "No watch node leads (an election, or no majority of the watch nodes answers): nobody fails over; the agents' failsafe holds the writer."]);
      else if (view.node && view.leader !== view.node) list.push(["info", "leader", "Watch node " + view.node + " follows " + view.leader + ", which acts; host states here are this node's own view."]);
      if (view.busy) list.push(["info", "busy", "Busy: " + view.busy]);
      if (view.last_failure) list.push(["bad", "failure", view.last_failure]);
      if (!view.writer) list.push(["bad", "nowriter", "No writer."]);
    }
    var box = $("banners");
    box.textContent = "";
    list.forEach(function (b) { box.appendChild(el("div", { "class": "banner " + b[0], "data-banner": b[1] }, b[2])); });
  }

  // ---- header, topology, hosts ----------------------------------------
  function render(svg) {
    var v = view;
    document.title = "mmm " + v.cluster + (v.writer ? " · writer " + v.writer : " · NO WRITER");
    $("cluster").textContent = v.cluster;
    var mode = $("mode");
    mode.textContent = v.mode;
    mode.className = "pill " + v.mode;
    $("writer").textContent = v.writer ? "writer: " + v.writer : "no writer";
    $("topology").innerHTML = svg; // drawn and escaped by the watch
    if (selected) {
      var g = $("topology").querySelector('g.host[data-host="' + CSS.escape(selected) + '"]');
      if (g) g.classList.add("selected");
    }
    renderHosts(v);
    renderEvents(v);
    banners();
    if (selected) renderDetail(false);
  }

  function lagText(r) {
    if (!r) return ["", ""];
    var running = r.io === "Yes" && r.sql === "Yes";
    if (!running) {
      var err = r.error || "";
      if (err.length > 60) err = err.slice(0, 59) + "…"; // the whole error is in the host's details
      return ["IO " + (r.io || "-") + ", SQL " + (r.sql || "-") + (err ? ": " + err : ""), "broken"];
    }
    var s = "from " + r.source + ", lag " + (r.lag_seconds == null ? "?" : r.lag_seconds + "s");
    if (r.behind != null) s += ", " + r.behind + " trx";
    var lagging = r.lag_seconds == null || r.lag_seconds > 0 || (r.behind || 0) > 0;
    return [s, lagging ? "lag" : "ok"];
  }

  function renderHosts(v) {
    var body = $("hosts").querySelector("tbody");
    body.textContent = "";
    v.hosts.forEach(function (h) {
      var tr = el("tr", { "data-host": h.name, "data-state": h.state });
      var name = el("td", { "class": "name" });
      name.appendChild(el("strong", null, h.name));
      name.appendChild(el("div", { "class": "muted small" }, h.address + " · " + h.mode));
      tr.appendChild(name);
      var st = el("td");
      st.appendChild(el("span", { "class": "state state-" + h.state }, h.state));
      if (h.problem) st.appendChild(el("div", { "class": "problem" }, h.problem));
      else if (h.agent) st.appendChild(el("div", { "class": "problem" }, h.agent));
      else if (h.state !== "ONLINE" && h.reason) st.appendChild(el("div", { "class": "muted small" }, h.reason));
      tr.appendChild(st);
      var roles = el("td", { "class": "roles" });
      (h.roles || []).forEach(function (r) {
        roles.appendChild(el("span", { "class": "tag" }, r.role + " " + r.ip));
      });
      if (h.writer) roles.insertBefore(el("span", { "class": "tag writer" }, "WRITER"), roles.firstChild);
      tr.appendChild(roles);
      var lt = lagText(h.replication);
      tr.appendChild(el("td", { "class": "lag-" + lt[1] }, lt[0]));
      tr.appendChild(el("td", { "class": "since muted small", title: h.since }, ago(h.since)));
      body.appendChild(tr);
    });
  }

  function renderEvents(v) {
    var ol = $("events");
    ol.textContent = "";
    var evs = (v.events || []).slice().reverse(); // newest first
    if (!evs.length) ol.appendChild(el("li", null, "no event yet"));
    evs.forEach(function (e) {
      var li = el("li", { "class": "kind-row-" + e.kind, "data-kind": e.kind });
      li.appendChild(el("time", { datetime: e.at, title: e.at }, clock(e.at)));
      li.appendChild(el("span", { "class": "kind kind-" + e.kind }, e.kind));
      var msg = el("span", { "class": "msg" });
      // "took 1.234s": the failover's or switchover's duration, in bold.
      var m = /^(.*took )([0-9.]+[a-zµ]+)(.*)$/.exec(e.message);
      if (m) {
        msg.appendChild(document.createTextNode(m[1]));
        msg.appendChild(el("span", { "class": "took" }, m[2]));
        msg.appendChild(document.createTextNode(m[3]));
      } else {
        msg.textContent = e.message;
      }
      li.appendChild(msg);
      // A failover's or switchover's steps, each with its time.
      if (e.steps && e.steps.length) {
        var d = el("details", { "class": "steps" });
        d.appendChild(el("summary", null, e.steps.length + " steps"));
        var sl = el("ol");
        e.steps.forEach(function (s) {
          var si = el("li", { "class": "step step-" + s.status });
          si.appendChild(el("span", { "class": "took" }, s.took_ms.toFixed(1) + " ms"));
          si.appendChild(document.createTextNode(" " + s.id + (s.status === "applied" ? "" : " (" + s.status + ")")));
          sl.appendChild(si);
        });
        d.appendChild(sl);
        li.appendChild(d);
      }
      ol.appendChild(li);
    });
  }

  // ---- a host's details and checks -------------------------------------
  function select(name) {
    selected = name;
    $("topology").querySelectorAll("g.host").forEach(function (g) {
      g.classList.toggle("selected", g.getAttribute("data-host") === name);
    });
    renderDetail(true);
  }

  function renderDetail(fetchChecks) {
    var h = null;
    (view.hosts || []).forEach(function (x) { if (x.name === selected) h = x; });
    var card = $("detail");
    if (!h) { card.hidden = true; return; }
    card.hidden = false;
    $("detail-title").textContent = h.name + " (" + h.address + ")";
    var body = $("detail-body");
    var dl = body.querySelector("dl");
    if (!dl) { body.textContent = ""; dl = el("dl"); body.appendChild(dl); body.appendChild(el("div", { id: "checks" }, "loading checks…")); }
    dl.textContent = "";
    var add = function (k, v, cls) { if (v == null || v === "") return; dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", cls ? { "class": cls } : null, String(v))); };
    add("state", h.state + " since " + clock(h.since));
    add("reason", h.reason);
    add("roles", (h.roles || []).map(function (r) { return r.role + " " + r.ip; }).join(", ") || "none");
    if (h.read_only != null) add("read_only", h.read_only ? "ON" : "OFF");
    if (h.replication) {
      var r = h.replication;
      add("replicates from", r.source);
      add("threads", "IO " + r.io + ", SQL " + r.sql);
      add("lag", r.lag_seconds == null ? "unknown (NULL)" : r.lag_seconds + " s");
      if (r.behind != null) add("behind", r.behind + " transactions (GTID)");
      add("semi-sync replica", r.semi_sync ? "on" : "");
      add("replication error", r.error, "fail");
    }
    // Errant GTIDs and what keeps the host out of ONLINE, as the watch says.
    add("problem", h.problem, "fail");
    add("agent", h.agent, "fail");
    if (h.fenced) add("fenced", "yes (no lease renewal until it rejoins)");
    if (fetchChecks) loadChecks(h.name);
  }

  function loadChecks(name) {
    fetch("/ui/checks?host=" + encodeURIComponent(name), { credentials: "same-origin" }).then(function (resp) {
      return resp.json().then(function (body) { return [resp.ok, body]; });
    }).then(function (res) {
      if (selected !== name) return;
      var box = $("checks");
      box.textContent = "";
      if (!res[0]) { box.appendChild(el("p", { "class": "error" }, res[1].error || "checks unavailable")); return; }
      var t = el("table", { "class": "checks" });
      var hr = el("tr");
      ["check", "result", "latency", "detail"].forEach(function (c) { hr.appendChild(el("th", null, c)); });
      t.appendChild(hr);
      (res[1] || []).forEach(function (c) {
        var tr = el("tr", { "data-check": c.check });
        tr.appendChild(el("td", null, c.check));
        // last_ok is the last run; ok is whether it counts as passing
        // (a failure counts once it lasted the trap period).
        var res = c.last_ok ? "ok" : "FAIL" + (c.failing_since ? " since " + clock(c.failing_since) : "") + (c.ok ? " (within the trap period)" : "");
        tr.appendChild(el("td", { "class": c.last_ok ? "ok" : "fail" }, res));
        tr.appendChild(el("td", null, c.latency_ns ? (c.latency_ns / 1e6).toFixed(1) + " ms" : ""));
        tr.appendChild(el("td", { "class": "small" }, c.detail));
        t.appendChild(tr);
      });
      box.appendChild(t);
    }).catch(function () {
      var box = $("checks");
      if (box) box.textContent = "checks unavailable: the watch does not answer";
    });
  }

  // ---- charts ------------------------------------------------------------
  function chart(id, series, unit) {
    var W = 560, H = 150, L = 40, R = 8, T = 8, B = 20;
    // The x axis spans what there is (at least a minute), up to HISTORY_MS:
    // a watch that just started does not draw its points in a corner.
    var now = Date.now(), first = now;
    series.forEach(function (s) { if (s.points.length && s.points[0][0] < first) first = s.points[0][0]; });
    var span = Math.min(HISTORY_MS, Math.max(60000, now - first)), t0 = now - span;
    var maxY = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] != null && p[1] > maxY) maxY = p[1]; }); });
    maxY = maxY <= 0 ? 1 : maxY * 1.15;
    var x = function (t) { return L + (W - L - R) * (t - t0) / span; };
    var y = function (v) { return T + (H - T - B) * (1 - v / maxY); };
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var mk = function (tag, attrs, text) {
      var e = document.createElementNS(ns, tag);
      for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text != null) e.textContent = text;
      svg.appendChild(e);
      return e;
    };
    mk("line", { "class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
    mk("line", { "class": "axis", x1: L, y1: T, x2: L, y2: H - B });
    var top = maxY >= 10 ? Math.round(maxY) : maxY.toFixed(1);
    mk("text", { x: L - 4, y: T + 9, "text-anchor": "end" }, top);
    mk("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0");
    mk("text", { x: L, y: H - 4 }, span >= 90000 ? "-" + Math.round(span / 60000) + " min" : "-" + Math.round(span / 1000) + " s");
    mk("text", { x: W - R, y: H - 4, "text-anchor": "end" }, "now");
    series.forEach(function (s) {
      var d = "", pen = false;
      s.points.forEach(function (p) {
        if (p[0] < t0 || p[1] == null) { pen = false; return; }
        d += (pen ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1);
        pen = true;
      });
      if (d) mk("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 1.8, "stroke-dasharray": s.dash || "none", "data-series": s.name });
    });
    var box = $(id);
    box.textContent = "";
    var legend = el("div", { "class": "legend" });
    var seen = {};
    series.forEach(function (s) {
      if (seen[s.host]) return;
      seen[s.host] = true;
      var item = el("span");
      var sw = el("i");
      sw.setAttribute("data-color", s.color);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.host));
      legend.appendChild(item);
    });
    box.appendChild(legend);
    box.appendChild(svg);
    // The legend's swatches take their colour from the SVG palette without
    // inline styles (the page's CSP allows none).
    legend.querySelectorAll("i").forEach(function (i) {
      var sv = document.createElementNS(ns, "svg");
      sv.setAttribute("width", "12"); sv.setAttribute("height", "4");
      var r = document.createElementNS(ns, "rect");
      r.setAttribute("width", "12"); r.setAttribute("height", "4"); r.setAttribute("fill", i.getAttribute("data-color"));
      sv.appendChild(r);
      i.replaceWith(sv);
    });
  }

  function renderCharts() {
    if (!view) return;
    var lag = [], lat = [];
    view.hosts.forEach(function (h, i) {
      var color = PALETTE[i % PALETTE.length];
      var pts = function (f) { return samples.map(function (s) { var hs = s.hosts && s.hosts[h.name]; return [new Date(s.at).getTime(), hs ? f(hs) : null]; }); };
      if (h.mode === "slave" || h.replication) lag.push({ host: h.name, name: h.name + " lag", color: color, points: pts(function (x) { return x.lag == null ? null : x.lag; }) });
      lat.push({ host: h.name, name: h.name + " inspect", color: color, points: pts(function (x) { return x.inspect_ms || null; }) });
      lat.push({ host: h.name, name: h.name + " ping", color: color, dash: "4 3", points: pts(function (x) { return x.ping_ms || null; }) });
    });
    chart("chart-lag", lag, "s");
    chart("chart-latency", lat, "ms");
  }

  // ---- the stream ----------------------------------------------------------
  function onView(ev) {
    var p = JSON.parse(ev.data);
    view = p.view;
    if (p.history) samples = p.history;
    lastMsg = Date.now();
    lostSince = 0;
    $("login").hidden = true;
    $("main").hidden = false;
    render(p.svg);
    renderCharts();
    $("updated").textContent = "updated " + clock(view.at);
    if (!firstShown) {
      firstShown = true;
      window.mmmFirstView = window.mmmTimes.view = performance.now(); // for the browser test's load measurement
    }
  }

  function onSample(ev) {
    var s = JSON.parse(ev.data);
    samples.push(s);
    var cut = Date.now() - HISTORY_MS - 5000;
    while (samples.length && new Date(samples[0].at).getTime() < cut) samples.shift();
    lastMsg = Date.now();
    if (lostSince) { lostSince = 0; banners(); }
    renderCharts();
    if (view) {
      $("updated").textContent = "updated " + clock(s.at);
      renderHosts(view); // the "since" column ages
    }
  }

  function connect() {
    if (es) es.close();
    es = new EventSource("/v1/events/stream");
    es.onopen = function () { if (!window.mmmTimes.open) window.mmmTimes.open = performance.now(); };
    es.addEventListener("view", onView);
    es.addEventListener("sample", onSample);
    es.onerror = function () {
      // EventSource reconnects by itself; a refused token does not heal:
      // ask for the login then.
      if (es.readyState === EventSource.CLOSED) {
        es = null;
        fetch("/v1/view", { credentials: "same-origin" }).then(function (r) {
          if (r.status === 401) showLogin(); else setTimeout(connect, 1000);
        }).catch(function () { setTimeout(connect, 1000); });
      }
    };
  }

  function showLogin() {
    $("main").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = location.hash !== "#login-failed";
  }

  setInterval(function () {
    if (lastMsg && !lostSince && Date.now() - lastMsg > LOST_AFTER_MS) {
      lostSince = lastMsg;
      banners();
    }
  }, 1000);

  $("topology").addEventListener("click", function (e) {
    var g = e.target.closest && e.target.closest("g.host");
    if (g) select(g.getAttribute("data-host"));
  });
  $("topology").addEventListener("keydown", function (e) {
    var g = e.target.closest && e.target.closest("g.host");
    if (g && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); select(g.getAttribute("data-host")); }
  });
  $("hosts").addEventListener("click", function (e) {
    var tr = e.target.closest && e.target.closest("tr[data-host]");
    if (tr) select(tr.getAttribute("data-host"));
  });
  $("detail-close").addEventListener("click", function () { selected = ""; $("detail").hidden = true; select(""); });

  // The stream at once (the fastest first picture); when it is refused,
  // a plain request tells a missing token (401: the login form) from a
  // watch that is not there.
  var initial = document.getElementById("mmm-initial");
  if (initial) onView({ data: initial.textContent });
  connect();
})();
