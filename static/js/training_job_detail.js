// The training job page: a chart per metric and the log's tail, polled every
// 2 s while the job runs (metrics.json?after=<sample id>, log?offset=<byte>),
// then once more after it ends, and never again.

import { baseLayout, followWidth } from "./charts/common.js";
import { el, readJson, setStatusBadge, setText, showLiveState } from "./dom.js";
import * as format from "./format.js";

const Plotly = globalThis.Plotly;
const config = readJson("page-config");
const POLL_MS = 2000;
const LOG_KEEP_CHARS = 512 * 1024; // the page keeps the log's last half megabyte

const chartGrid = document.getElementById("metric-charts");
const emptyNote = document.querySelector("[data-metrics-empty]");
const logNode = document.querySelector('[data-testid="log"]');
const liveState = document.querySelector('[data-testid="live-state"]');

const metricCursor = { after: 0 };
const logCursor = { offset: config.log_offset };
const charts = new Map(); // metric -> {node, epochs: Set}
let job = config.state;

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 401) {
    window.location.reload();
    throw new Error("logged out");
  }
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// --- metrics ---------------------------------------------------------------------------

function chartFor(metric) {
  let chart = charts.get(metric);
  if (chart) return chart;
  const node = el("div", { className: "chart", dataset: { testid: `metric-chart-${metric}`, metric } });
  const figure = el("figure", { className: "chart-figure" }, el("figcaption", {}, metric), node);
  // The objective metric first, the others in the order they appear.
  if (metric === config.objective_metric) chartGrid.prepend(figure);
  else chartGrid.append(figure);
  emptyNote.hidden = true;
  const trace = {
    type: "scattergl",
    mode: "lines+markers",
    x: [],
    y: [],
    name: metric,
    line: { color: metric === config.objective_metric ? "#f79009" : "#2463eb", width: 2 },
    marker: { size: 4 },
    hovertemplate: `epoch %{x}: %{y:${format.PLOTLY_NUMBER}}<extra></extra>`,
  };
  const layout = baseLayout({
    margin: { l: 56, r: 16, t: 8, b: 40 },
    xaxis: { title: { text: "epoch" }, zeroline: false },
    yaxis: { zeroline: false },
    showlegend: false,
  });
  Plotly.newPlot(node, [trace], layout, { responsive: true, displaylogo: false });
  followWidth(node);
  chart = { node, epochs: new Set() };
  charts.set(metric, chart);
  return chart;
}

function addMetrics(metrics) {
  for (const [metric, points] of Object.entries(metrics)) {
    const chart = chartFor(metric);
    // Keyed by epoch, so a point sent twice is drawn once; new epochs only ever follow old ones.
    const fresh = points.filter(([epoch]) => !chart.epochs.has(epoch)).sort((a, b) => a[0] - b[0]);
    if (!fresh.length) continue;
    for (const [epoch] of fresh) chart.epochs.add(epoch);
    Plotly.extendTraces(chart.node, { x: [fresh.map((p) => p[0])], y: [fresh.map((p) => p[1])] }, [0]);
  }
}

async function pollMetrics() {
  for (;;) {
    const data = await getJson(`${config.urls.metrics}?${new URLSearchParams({ after: metricCursor.after })}`);
    addMetrics(data.metrics);
    metricCursor.after = data.cursor;
    showJob(data.job);
    if (!data.more) return;
  }
}

// --- the job's state ---------------------------------------------------------------------

function addHistory(label, iso, detail) {
  const item = el("li", {}, el("strong", {}, label));
  if (iso) item.append(" ", el("time", { dateTime: iso }, format.timestamp(iso)));
  if (detail) item.append(" ", el("span", { className: "muted" }, detail));
  document.querySelector('[data-testid="status-history"]').append(item);
}

function showJob(state) {
  const before = job;
  job = state;
  if (state.started_at && !before.started_at) addHistory("Started", state.started_at, "");
  if (state.stop_reason && !before.stop_reason) addHistory("Stop requested", null, state.stop_reason_text);
  if (state.ended_at && !before.ended_at) {
    const seconds = (Date.parse(state.ended_at) - Date.parse(state.started_at || state.ended_at)) / 1000;
    addHistory(state.status, state.ended_at, state.started_at ? `after ${format.duration(seconds)}` : "");
  }
  setStatusBadge(document.querySelector('[data-testid="training-job-status"]'), state.status);
  const failure = document.querySelector('[data-testid="failure-reason"]');
  failure.hidden = !state.failure_reason;
  setText(failure, state.failure_reason);
  setText(document.querySelector('[data-field="objective"]'), state.objective_text);
  setText(document.querySelector('[data-field="epochs"]'), state.epochs);
  setText(document.querySelector('[data-field="stop_reason"]'), state.stop_reason_text || "–");
  if (state.started_at) {
    const end = state.ended_at ? Date.parse(state.ended_at) : Date.now();
    setText(document.querySelector('[data-field="duration"]'), format.duration((end - Date.parse(state.started_at)) / 1000));
  }
}

// --- log ------------------------------------------------------------------------------------

async function pollLog() {
  for (;;) {
    const data = await getJson(`${config.urls.log}?${new URLSearchParams({ offset: logCursor.offset })}`);
    if (data.text) appendLog(data.text);
    logCursor.offset = data.offset;
    if (data.offset >= data.size) return;
  }
}

function appendLog(text) {
  const atBottom = logNode.scrollHeight - logNode.scrollTop - logNode.clientHeight < 24;
  logNode.append(document.createTextNode(text));
  if (logNode.textContent.length > LOG_KEEP_CHARS) {
    logNode.textContent = logNode.textContent.slice(-LOG_KEEP_CHARS);
  }
  if (atBottom) logNode.scrollTop = logNode.scrollHeight;
}

// --- polling ----------------------------------------------------------------------------------

async function poll() {
  const wasActive = job.active;
  try {
    await Promise.all([pollMetrics(), pollLog()]);
    showLiveState(liveState, job.active ? "live" : "idle");
  } catch (error) {
    console.warn(error);
    showLiveState(liveState, "reconnecting");
  }
  // One more round after the job ends picks up its last lines and epochs.
  if (job.active || wasActive) window.setTimeout(poll, POLL_MS);
  else liveState.hidden = true;
}

logNode.scrollTop = logNode.scrollHeight;
poll();
