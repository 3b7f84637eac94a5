// The live execution page. Everything from the API is written with textContent, never as HTML.

import { Api, ApiError, executionIdFromPath, takeToken } from "./api.js";
import { LogView, PAGE } from "./logview.js";
import { VirtualList } from "./vlist.js";

const $ = (id) => document.getElementById(id);
const FINAL_OK = new Set(["SUCCESS", "COMPLETED"]);

const state = {
  api: null,
  mode: "business", // or "technical"
  view: null,
  list: null,
  nodes: new Map(), // node_id -> {node_name, status, duration_seconds, step_number}
  milestones: [],
  lastSeq: 0, // newest seq received live: the stream's de-duplication cursor
  progress: null, // {percent, step, total}
  progressSeq: 0, // the seq the progress was read from (older logs never move it back)
  status: "",
  source: null,
  finished: false,
  retryTimer: 0,
};

// ------------------------------------------------------------------------------------------------
// Small DOM helpers
// ------------------------------------------------------------------------------------------------
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  const s = Math.round(Number(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function showMessage(title, detail) {
  const box = $("message");
  box.replaceChildren(el("strong", null, title));
  if (detail) box.append(el("p", null, detail));
  box.hidden = false;
}

function showApiError(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) {
      showMessage("Your access token is invalid or has expired.", `Open this page again with a fresh link. (${err.detail})`);
      $("main").hidden = true;
    } else if (err.status === 404 || err.status === 403) {
      showMessage("Execution not found.", "It does not exist, or it belongs to someone else.");
      $("main").hidden = true;
    } else if (err.status === 429) {
      showMessage("Too many open pages.", "Close some tabs watching executions and reload.");
    } else {
      showMessage("The log service did not answer as expected.", `${err.status}: ${err.detail}`);
    }
  } else {
    showMessage("Could not reach the log service.", String(err && err.message ? err.message : err));
  }
  setLive("stopped", "offline");
}

function setLive(stateName, text) {
  const live = $("live");
  live.dataset.state = stateName;
  live.textContent = text;
}

// ------------------------------------------------------------------------------------------------
// Header: status, progress, steps, milestones
// ------------------------------------------------------------------------------------------------
function setStatus(status) {
  state.status = status || "";
  const badge = $("status");
  badge.textContent = (status || "unknown").toLowerCase();
  badge.dataset.status = status || "";
}

function noteProgress(entry) {
  const step = entry.step_number;
  const total = entry.total_steps;
  let percent = entry.progress_percentage;
  if ((percent === null || percent === undefined) && step != null && total) percent = (step / total) * 100;
  if (percent === null || percent === undefined || entry.seq < state.progressSeq) return;
  state.progressSeq = entry.seq;
  state.progress = { percent: Number(percent), step, total };
  renderProgress();
}

function renderProgress() {
  const bar = $("progress");
  const p = state.progress;
  const percent = p ? Math.max(0, Math.min(100, p.percent)) : 0;
  bar.setAttribute("aria-valuenow", String(Math.round(percent)));
  $("progress-fill").style.width = `${percent}%`;
  let text = p ? `${Math.round(percent)}%` : "–";
  if (p && p.step != null && p.total) text += ` · step ${p.step} of ${p.total}`;
  $("progress-text").textContent = text;
}

function noteNode(entry) {
  if (!entry.node_id) return;
  const status = { step_started: "running", step_completed: "completed", step_error: "failed" }[entry.event_type];
  const node = state.nodes.get(entry.node_id) || { node_name: entry.node_name || entry.node_id };
  if (entry.node_name) node.node_name = entry.node_name;
  if (entry.step_number != null) node.step_number = entry.step_number;
  if (status) {
    node.status = status;
    if (status === "running") { node.started = entry.timestamp; delete node.duration_seconds; }
    if (entry.duration_seconds != null) node.duration_seconds = entry.duration_seconds;
  }
  if (!state.nodes.has(entry.node_id)) {
    state.nodes.set(entry.node_id, node);
    addNodeOption(entry.node_id, node.node_name);
  }
  renderNodes();
}

function addNodeOption(id, name) {
  const select = $("filter-node");
  const option = el("option", null, name || id);
  option.value = id;
  select.append(option);
}

function renderNodes() {
  const list = $("steps");
  const items = [];
  for (const [id, node] of state.nodes) {
    const li = el("li", "step");
    li.dataset.node = id;
    li.dataset.status = node.status || "";
    li.append(el("span", "step-dot"), el("span", "step-name", node.node_name || id));
    li.append(el("span", "step-status", node.status || "—"));
    const duration = node.duration_seconds != null ? formatDuration(node.duration_seconds) : "";
    li.append(el("span", "step-duration", duration));
    items.push(li);
  }
  if (!items.length) items.push(el("li", "empty", "No steps yet"));
  list.replaceChildren(...items);
}

function noteMilestone(entry) {
  if (!entry.is_milestone) return;
  if (state.milestones.some((m) => m.seq === entry.seq)) return;
  state.milestones.push({ seq: entry.seq, message: entry.message, timestamp: entry.timestamp });
  renderMilestones();
}

function renderMilestones() {
  const items = state.milestones.slice(-50).map((m) => {
    const li = el("li", "ms");
    li.append(el("time", null, formatTime(m.timestamp)), el("span", null, m.message));
    return li;
  });
  if (!items.length) items.push(el("li", "empty", "None yet"));
  $("milestones").replaceChildren(...items);
}

function applySummary(summary) {
  setStatus(summary.status);
  for (const [id, node] of Object.entries(summary.nodes || {})) {
    if (!state.nodes.has(id)) addNodeOption(id, node.node_name);
    state.nodes.set(id, { ...(state.nodes.get(id) || {}), ...node });
  }
  state.milestones = (summary.milestones || []).map((m) => ({ ...m }));
  renderNodes();
  renderMilestones();
  const started = summary.timeline && summary.timeline.first_log;
  const meta = [];
  if (started) meta.push(`started ${new Date(started).toLocaleString()}`);
  meta.push(`${summary.total_logs} logs`);
  $("meta").textContent = meta.join(" · ");
}

function showFinal(status, message) {
  state.finished = true;
  setStatus(status);
  const banner = $("banner");
  const ok = FINAL_OK.has(status);
  document.body.dataset.final = ok ? "ok" : "bad";
  banner.dataset.kind = ok ? "ok" : status === "RUNNING" ? "info" : "bad";
  banner.replaceChildren(
    el("strong", null, ok ? "Finished successfully" : `Finished: ${String(status).toLowerCase()}`),
    el("span", null, message ? ` — ${message}` : ""),
  );
  banner.hidden = false;
  if (ok) { state.progress = { ...(state.progress || {}), percent: 100 }; renderProgress(); }
  setLive("done", "finished");
}

// ------------------------------------------------------------------------------------------------
// Rows
// ------------------------------------------------------------------------------------------------
function hasDetails(entry) {
  const nonEmpty = (o) => o && typeof o === "object" && Object.keys(o).length > 0;
  return Boolean(entry.stack_trace || nonEmpty(entry.technical_details) || nonEmpty(entry.performance_metrics)
    || nonEmpty(entry.data) || entry.technical_message);
}

function detailBlock(title, value) {
  const box = el("div", "detail");
  box.append(el("div", "detail-title", title));
  box.append(el("pre", null, typeof value === "string" ? value : JSON.stringify(value, null, 2)));
  return box;
}

function renderRow(row, entry, index, expanded) {
  row.className = "row";
  if (entry === undefined) {
    row.classList.add("placeholder");
    row.append(el("span", "msg", "…"));
    return;
  }
  const level = String(entry.level || "info").toLowerCase();
  row.dataset.seq = String(entry.seq);
  row.dataset.level = level;
  if (entry.is_milestone) row.classList.add("milestone");
  if (level === "error" || level === "critical") row.classList.add("bad");
  const line = el("div", "line");
  line.append(el("time", "time", formatTime(entry.timestamp)));
  if (state.mode === "technical") {
    line.append(el("span", `lvl lvl-${level}`, level));
    line.append(el("span", "etype", entry.event_type));
    if (entry.node_name || entry.node_id) line.append(el("span", "pill", entry.node_name || entry.node_id));
    line.append(el("span", "msg", entry.technical_message || entry.message));
    if (hasDetails(entry)) {
      row.classList.add("expandable");
      row.setAttribute("aria-expanded", String(expanded));
      line.append(el("span", "chev", expanded ? "▾" : "▸"));
    }
  } else {
    line.append(el("span", "mark", entry.is_milestone ? "★" : level === "error" || level === "critical" ? "!" : "•"));
    line.append(el("span", "msg", entry.message));
    if (entry.node_name) line.append(el("span", "pill", entry.node_name));
  }
  row.append(line);
  if (expanded && state.mode === "technical") {
    row.classList.add("open");
    const details = el("div", "details");
    if (entry.technical_message) details.append(detailBlock("User-friendly message", entry.message));
    if (entry.stack_trace) details.append(detailBlock("Stack trace", entry.stack_trace));
    for (const key of ["technical_details", "performance_metrics", "data"]) {
      const value = entry[key];
      if (value && typeof value === "object" && Object.keys(value).length) details.append(detailBlock(key, value));
    }
    details.append(el("div", "detail-ids", `seq ${entry.seq} · id ${entry.id}`));
    row.append(details);
  }
}

// ------------------------------------------------------------------------------------------------
// Views
// ------------------------------------------------------------------------------------------------
function currentFilters() {
  if (state.mode === "business") return { category: "business" };
  return {
    level: $("filter-level").value,
    node_id: $("filter-node").value,
    event_type: $("filter-event").value,
  };
}

function renderCount() {
  const view = state.view;
  const count = view && view.loaded ? view.count : 0;
  const label = state.mode === "business" ? "updates" : "logs";
  $("count").textContent = view && view.loaded ? `${count} ${label}` : "loading…";
  $("count").dataset.count = String(count);
}

async function openView() {
  if (state.view) state.view.close();
  const view = new LogView(state.api, currentFilters(), (contentChanged) => {
    if (state.view !== view) return;
    renderCount();
    if (contentChanged) state.list.refresh(); else state.list.update(false);
  }, showApiError);
  state.view = view;
  // The list reads the view directly; its count stays 0 until the view has loaded.
  state.list.setSource({
    get count() { return view.count; },
    row: (i) => view.row(i),
    need: (a, b) => view.need(a, b),
  });
  renderCount();
  try {
    await view.load(); // renders through onChange
  } catch (err) {
    if (err.name !== "AbortError") showApiError(err);
    return;
  }
  if (state.view !== view) return;
  for (let i = Math.max(0, view.count - PAGE); i < view.count; i++) {
    const entry = view.row(i);
    if (entry) noteProgress(entry);
  }
  renderCount();
}

function setMode(mode) {
  if (state.mode === mode) return;
  state.mode = mode;
  $("view-business").setAttribute("aria-selected", String(mode === "business"));
  $("view-technical").setAttribute("aria-selected", String(mode === "technical"));
  $("filters").hidden = mode !== "technical";
  document.body.dataset.mode = mode;
  openView();
}

// ------------------------------------------------------------------------------------------------
// Live
// ------------------------------------------------------------------------------------------------
function onLog(entry) {
  if (entry.seq <= state.lastSeq) return; // a reconnect never shows a log twice
  state.lastSeq = entry.seq;
  noteProgress(entry);
  noteNode(entry);
  noteMilestone(entry);
  if (state.view && state.view.live(entry)) {
    renderCount();
    state.list.refresh();
  }
}

function connect() {
  clearTimeout(state.retryTimer);
  if (state.source) state.source.close();
  const source = state.api.stream(state.lastSeq);
  state.source = source;
  source.onopen = () => { if (!state.finished) setLive("live", "live"); };
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.event_type === "LOG") {
      onLog(event.data);
    } else if (event.event_type === "COMPLETE") {
      source.close();
      showFinal(event.data.status, event.data.message);
      state.api.summary().then(applySummary).catch(() => {});
    } else if (event.event_type === "ERROR") {
      source.close();
      if (event.data.error_type === "access_revoked") {
        showMessage("You no longer have access to this execution.");
        setLive("stopped", "stopped");
      } else {
        setLive("connecting", "reconnecting…");
        state.retryTimer = setTimeout(connect, 3000);
      }
    }
  };
  source.onerror = () => {
    if (state.finished) { source.close(); return; }
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (token expired, access withdrawn, too many streams): ask the
      // REST API why, then try again later unless it is final.
      state.api.summary().then(() => {
        setLive("connecting", "reconnecting…");
        state.retryTimer = setTimeout(connect, 3000);
      }, showApiError);
    } else {
      setLive("connecting", "reconnecting…");
    }
  };
}

// ------------------------------------------------------------------------------------------------
// Boot
// ------------------------------------------------------------------------------------------------
async function main() {
  const executionId = executionIdFromPath();
  $("title").textContent = executionId || "Execution";
  document.title = `${executionId} · workflow-logs`;
  const token = takeToken();
  if (!token) {
    showMessage("No access token.", "Open this page with ?access_token=<your token> (the link your app gives you).");
    setLive("stopped", "offline");
    setStatus("");
    return;
  }
  state.api = new Api(executionId, token);
  state.list = new VirtualList($("list"), $("spacer"), {
    render: renderRow,
    onScroll: (following) => { $("to-latest").hidden = following; },
  });
  $("list").addEventListener("click", (event) => {
    const row = event.target.closest(".row.expandable");
    if (!row || state.mode !== "technical" || event.target.closest(".details")) return;
    const index = [...state.list.pool].find(([, node]) => node === row);
    if (index) state.list.toggle(index[0]);
  });
  $("to-latest").addEventListener("click", () => state.list.scrollToBottom());
  $("view-business").addEventListener("click", () => setMode("business"));
  $("view-technical").addEventListener("click", () => setMode("technical"));
  for (const id of ["filter-level", "filter-node", "filter-event"]) $(id).addEventListener("change", openView);

  let summary;
  try {
    summary = await state.api.summary();
    // The stream starts after the newest log at this moment; the views read everything up to it.
    if (summary.total_logs > 0) {
      const tail = await state.api.logs({ limit: 1, offset: summary.total_logs - 1 });
      const last = tail.logs[tail.logs.length - 1];
      state.lastSeq = last ? last.seq : 0;
    }
  } catch (err) {
    showApiError(err);
    return;
  }
  applySummary(summary);
  $("main").hidden = false;
  document.body.dataset.mode = state.mode;
  connect();
  await openView();
}

main();
