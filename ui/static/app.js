// Anshin NOC interim dashboard (plain JS, no bundler): draws the engine's servers as tiles.
//
// Transport: Tauri IPC through window.__TAURI__ (app.withGlobalTauri). The data comes from the
// `servers` command; every `engine-event` triggers a throttled re-read, and a timer re-reads
// every 5 s. Untrusted strings (labels, details, names) only ever go through textContent.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const THROTTLE_MS = 300;
  const STALE_MS = 15000;
  const MAX_EVENTS = 60;
  const FRESH_MS = 10000;

  const TEXT = {
    ja: {
      updated: "最終更新",
      events: "最近のイベント",
      ok: "正常",
      unknown: "未確認",
      demo: "デモ",
      noServers: "監視対象のサーバーはありません。",
      noEvents: "まだイベントはありません。",
      plan: "プラン",
      gateway: "ゲートウェイ",
      checking: (n) => `確認中 (${n} 件のチェックが失敗)`,
      failures: (n) => `${n} 回失敗`,
      suppressedHost: "ホスト到達不可のため通知抑止",
      suppressedGateway: (g) => `ゲートウェイ ${g} 停止のため通知抑止`,
      opened: "発生",
      closed: "復旧",
      started: (n) => `監視開始 (${n} チェック)`,
      stopped: "監視停止",
      lagged: (n) => `${n} 件のイベントを取りこぼしました`,
      backendError: "エンジンから状態を取得できません: ",
      noTauri: "Tauri の IPC が見つかりません (アプリのウィンドウで開いてください)。",
      levels: { 2: "警告", 3: "軽度の障害", 4: "重度の障害", 5: "疎通不可" },
      lang: "EN",
    },
    en: {
      updated: "Updated",
      events: "Recent events",
      ok: "OK",
      unknown: "Unknown",
      demo: "Demo",
      noServers: "No servers are monitored.",
      noEvents: "No events yet.",
      plan: "Plan",
      gateway: "Gateway",
      checking: (n) => `Checking (${n} check${n === 1 ? "" : "s"} failing)`,
      failures: (n) => `failed ${n}×`,
      suppressedHost: "Suppressed: host unreachable",
      suppressedGateway: (g) => `Suppressed: gateway ${g} down`,
      opened: "Problem",
      closed: "Resolved",
      started: (n) => `Monitoring started (${n} checks)`,
      stopped: "Monitoring stopped",
      lagged: (n) => `${n} events missed`,
      backendError: "Cannot read the engine's state: ",
      noTauri: "Tauri IPC not found (open this page in the app window).",
      levels: { 2: "Warning", 3: "Minor", 4: "Severe", 5: "Unreachable" },
      lang: "日本語",
    },
  };

  // One icon per state, so colour is never the only cue.
  const ICON = { ok: "✔", unknown: "?", 2: "▲", 3: "◆", 4: "■", 5: "✖", soft: "…" };

  const $ = (id) => document.getElementById(id);
  const jst = new Intl.DateTimeFormat("ja-JP", {
    timeZone: "Asia/Tokyo", hour12: false,
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const jstTime = new Intl.DateTimeFormat("ja-JP", {
    timeZone: "Asia/Tokyo", hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit",
  });

  let lang = localStorage.getItem("anshin.lang") === "en" ? "en" : "ja";
  let servers = [];
  let info = null;
  let lastUpdate = 0;
  let refreshTimer = null;
  let lastRefreshAt = 0;
  let inFlight = false;
  const events = []; // newest first
  const worstSeen = new Map(); // label -> worst level number last drawn
  const freshUntil = new Map(); // label -> time until which the tile flashes

  const t = () => TEXT[lang];

  /** Creates an element; `text` goes through textContent only. */
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  /** Strips control characters (terminal escapes included) from untrusted text. */
  function clean(s) {
    // eslint-disable-next-line no-control-regex
    return String(s ?? "").replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  }

  function levelName(level) {
    if (!level) return "";
    return lang === "ja" ? level.name_ja : t().levels[level.number] || `Lv.${level.number}`;
  }

  /** The tile's state: worst open level, else unknown until every check has a result, else OK. */
  function stateOf(s) {
    if (s.worst_level) return { key: `lv${s.worst_level.number}`, rank: s.worst_level.number, level: s.worst_level };
    if (s.checks.some((c) => c.ok === null)) return { key: "unknown", rank: 1 };
    return { key: "ok", rank: 0 };
  }

  function stateText(st) {
    if (st.level) return `Lv.${st.level.number} ${levelName(st.level)}`;
    return st.key === "ok" ? t().ok : t().unknown;
  }

  function stateIcon(st) {
    return st.level ? ICON[st.level.number] : ICON[st.key];
  }

  // ------------------------------------------------------------------ drawing

  function drawSummary(states) {
    const box = $("summary");
    box.replaceChildren();
    const counts = { 5: 0, 4: 0, 3: 0, 2: 0, ok: 0, unknown: 0 };
    for (const st of states) {
      if (st.level) counts[st.level.number] += 1;
      else counts[st.key] += 1;
    }
    const chip = (cls, icon, label, n) => {
      const c = el("span", `chip ${cls}${n === 0 ? " zero" : ""}`);
      c.append(el("span", "icon", icon), el("span", null, `${label} ${n}`));
      box.append(c);
    };
    for (const n of [5, 4, 3, 2]) {
      chip(`lv${n}`, ICON[n], `Lv.${n}`, counts[n]);
    }
    chip("ok", ICON.ok, t().ok, counts.ok);
    chip("unknown", ICON.unknown, t().unknown, counts.unknown);
  }

  function drawTile(s, st, now) {
    const tile = el("article", `tile ${st.key}${st.level ? " problem" : ""}`);
    if ((freshUntil.get(s.label) || 0) > now) tile.classList.add("fresh");
    tile.dataset.label = s.label;
    tile.dataset.state = st.key;

    const head = el("div", "tile-head");
    const label = el("span", "label", clean(s.label));
    label.title = clean(s.fqdn || s.label);
    const state = el("span", "state");
    state.append(el("span", "icon", stateIcon(st)), el("span", null, stateText(st)));
    head.append(label, state);

    const meta = el("div", "meta");
    if (s.role === "gateway") {
      meta.append(el("span", "customer", t().gateway));
    } else {
      meta.append(el("span", "customer", clean(s.customer_name || s.customer)));
      if (s.plan) meta.append(el("span", "plan", `${t().plan} ${clean(s.plan)}`));
    }
    meta.append(el("span", "ip", clean(s.ip)));
    tile.append(head, meta);

    if (s.resources && s.resources.length > 0) {
      const res = el("div", "resources");
      for (const r of s.resources) {
        const name = { load: "Load", disk: "/", inode: "inode", mailq: "MailQ" }[r.resource] || r.resource;
        const item = el("span", r.sample_level ? `res lv${r.sample_level}` : "res", `${name} ${clean(r.value)}`);
        res.append(item);
      }
      tile.append(res);
    } else if (s.resource_error) {
      const err = el("div", "resources error", clean(s.resource_error));
      err.title = clean(s.resource_error);
      tile.append(err);
    }

    const failing = s.checks.filter((c) => c.ok === false || c.incident !== null);
    if (failing.length > 0) {
      const pendingOnly = failing.filter((c) => c.incident === null);
      if (!st.level && pendingOnly.length > 0) {
        tile.append(el("div", "pending", t().checking(pendingOnly.length)));
      }
      const list = el("ul", "failing");
      for (const c of failing) {
        const open = c.incident !== null;
        const li = el("li", open ? `incident lv${c.level ? c.level.number : 4}` : "soft");
        const name = el("span", "check");
        name.append(el("span", "icon", open && c.level ? ICON[c.level.number] : ICON.soft), clean(c.name || c.check));
        const detail = el("span", "detail", clean(c.detail) || "—");
        detail.title = clean(c.detail);
        li.append(name, detail);
        const notes = [];
        if (c.failures > 0) notes.push(t().failures(c.failures));
        if (c.suppressed === "host_unreachable") notes.push(t().suppressedHost);
        else if (c.suppressed && c.suppressed.startsWith("gateway_down:")) {
          notes.push(t().suppressedGateway(clean(c.suppressed.slice("gateway_down:".length))));
        }
        if (open && c.level) notes.push(`Lv.${c.level.number} ${levelName(c.level)} #${c.incident}`);
        if (notes.length) li.append(el("span", "note", notes.join(" · ")));
        list.append(li);
      }
      tile.append(list);
    }
    return tile;
  }

  function draw() {
    const now = Date.now();
    const rows = servers.map((s, i) => ({ s, st: stateOf(s), i }));
    for (const { s, st } of rows) {
      const before = worstSeen.get(s.label) || 0;
      const rank = st.level ? st.level.number : 0;
      if (rank > before && worstSeen.size > 0 && lastUpdate > 0) freshUntil.set(s.label, now + FRESH_MS);
      worstSeen.set(s.label, rank);
    }
    // Problems first (worst first), then unknown, then OK; fleet order within a state.
    rows.sort((a, b) => b.st.rank - a.st.rank || a.i - b.i);
    drawSummary(rows.map((r) => r.st));
    const grid = $("grid");
    if (rows.length === 0) {
      grid.replaceChildren(el("div", "empty", t().noServers));
    } else {
      grid.replaceChildren(...rows.map(({ s, st }) => drawTile(s, st, now)));
    }
    drawTitle(rows);
  }

  function drawTitle(rows) {
    const worst = rows.find((r) => r.st.level);
    document.title = worst ? `[Lv.${worst.st.level.number}] Anshin NOC` : "Anshin NOC";
  }

  function drawEvents() {
    const list = $("events");
    if (events.length === 0) {
      list.replaceChildren(el("li", "empty", t().noEvents));
      return;
    }
    list.replaceChildren(
      ...events.map((e) => {
        const li = el("li", e.kind + (e.level ? ` lv${e.level}` : ""));
        li.append(el("span", "time", e.time), el("span", "what", e.what()));
        if (e.trigger) li.append(el("span", "trigger", e.trigger));
        return li;
      }),
    );
  }

  function drawStatic() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t()[node.dataset.i18n];
    }
    $("lang").textContent = t().lang;
    const mode = $("mode");
    if (info) {
      mode.textContent = info.mode === "demo" ? t().demo : clean(info.source);
      mode.title = `${clean(info.source)} — ${clean(info.db)} — v${clean(info.version)}`;
      mode.className = `mode ${info.mode}`;
    }
  }

  function tick() {
    const now = new Date();
    $("clock").textContent = `${jst.format(now)} JST`;
    const updated = $("updated");
    updated.textContent = lastUpdate ? jstTime.format(new Date(lastUpdate)) : "—";
    // A frozen screen must be noticed: the time turns orange when data is old.
    updated.parentElement.classList.toggle("stale", lastUpdate > 0 && now - lastUpdate > STALE_MS);
  }

  // ------------------------------------------------------------------ data

  function showError(message) {
    const box = $("error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    lastRefreshAt = Date.now();
    try {
      servers = await window.__TAURI__.core.invoke("servers");
      lastUpdate = Date.now();
      showError(null);
      draw();
    } catch (err) {
      showError(t().backendError + clean(err && err.message ? err.message : err));
    } finally {
      inFlight = false;
      tick();
    }
  }

  /** Re-reads at most once per THROTTLE_MS, however many events arrive. */
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    const wait = Math.max(0, lastRefreshAt + THROTTLE_MS - Date.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refresh();
    }, wait);
  }

  function onEngineEvent(payload) {
    const e = payload || {};
    const at = e.at ? new Date(e.at) : new Date();
    const time = Number.isNaN(at.getTime()) ? "" : jstTime.format(at);
    let entry = null;
    switch (e.event) {
      case "incident_opened":
        entry = { kind: "opened", level: e.level, time, trigger: clean(e.trigger),
          what: () => `${t().opened} Lv.${e.level} ${t().levels[e.level] || ""}` };
        break;
      case "incident_closed":
        entry = { kind: "closed", level: e.level, time, trigger: clean(e.trigger), what: () => t().closed };
        break;
      case "engine_started":
        entry = { kind: "engine", time, trigger: "", what: () => t().started(e.checks) };
        break;
      case "engine_stopped":
        entry = { kind: "engine", time, trigger: "", what: () => t().stopped };
        break;
      case "lagged":
        entry = { kind: "engine", time, trigger: "", what: () => t().lagged(e.missed) };
        break;
      default:
        break; // check_state: only the tiles change
    }
    if (entry) {
      events.unshift(entry);
      events.length = Math.min(events.length, MAX_EVENTS);
      drawEvents();
    }
    scheduleRefresh();
  }

  async function main() {
    drawStatic();
    drawEvents();
    tick();
    setInterval(tick, 1000);
    $("lang").addEventListener("click", () => {
      lang = lang === "ja" ? "en" : "ja";
      localStorage.setItem("anshin.lang", lang);
      drawStatic();
      drawEvents();
      draw();
    });
    const tauri = window.__TAURI__;
    if (!tauri || !tauri.core || !tauri.event) {
      showError(t().noTauri);
      return;
    }
    await tauri.event.listen("engine-event", (ev) => onEngineEvent(ev.payload));
    try {
      info = await tauri.core.invoke("app_info");
      drawStatic();
    } catch (err) {
      showError(t().backendError + clean(err));
    }
    await refresh();
    setInterval(refresh, REFRESH_MS);
  }

  main();
})();
