// The tuning job page, live.
//
// State: every training job's summary (status, objective, hyperparameters; from
// summary.json, then kept current by socket events) and the objective metric's
// curve of each (first from curves.json, then the socket's catch-up and live batches), with the cursor
// {training job: last sample id} that a reconnect sends so nothing is lost or
// doubled. Counters, the best job and the charts update in place; the training-jobs
// table is the server's, swapped in anew (htmx) when events say its rows changed.
//
// Counters and the best job come both over the socket and in summary.json
// responses; each carries the server time it was read at, and the page keeps
// the newest, so a slow response cannot put back counters the socket has
// already moved on from.

import { linkPoints, plotlyReady } from "./charts/common.js";
import { extendLearningCurves, renderLearningCurves } from "./charts/learning_curves.js";
import { renderObjectiveByJob, renderObjectiveVsHyperparameter } from "./charts/objective.js";
import { renderParallelCoordinates } from "./charts/parallel_coordinates.js";
import { el, isNewerStatus, readJson, setStatusBadge, setText, showLiveState } from "./dom.js";
import * as format from "./format.js";
import { LiveSocket } from "./socket.js";

const config = readJson("page-config");
const CURVES_INTERVAL_MS = 300;
const JOB_CHARTS_INTERVAL_MS = 1000;
const TABLE_REFRESH_MS = 1500;
const SUMMARY_REFRESH_MS = 400;
const RESYNC_INTERVAL_MS = 2000;
const SAFETY_REFRESH_MS = 30000;
const JOB_CHARTS_WAIT_MS = 3000;

const state = {
  status: config.status,
  objective: config.objective,
  parameters: config.parameters,
  jobs: new Map(), // name -> {name, sequence, status, stop_reason, objective, objective_status, hyperparameters}
  curves: new Map(), // name -> {points: Map(epoch -> value), sorted: {x, y} | null}
  cursor: {}, // name -> last sample id received
  best: config.best,
  countersReadAt: config.counters_read_at,
  thinned: null, // {stride, jobs, whole} when the server sent big curves thinned
  caughtUp: false, // the socket's first catch-up is in: the per-job charts may draw
  appended: new Map(), // name -> [[epoch, value]] received since the curves were last drawn
  curvesStale: true, // more than appended points changed: the curves need a full redraw
  asOf: null, // the last summary's as_of: the next one asks only for what changed since
};

// Curves are drawn once the jobs' statuses are known (curves.json carries them,
// and so does summary.json): until then a job of unknown status would be drawn
// as running, with a trace of its own.
let statusesArrived;
const statusesKnown = new Promise((resolve) => {
  statusesArrived = resolve;
});

const $ = (selector) => document.querySelector(selector);
const nodes = {
  status: $('[data-testid="tuning-job-status"]'),
  failure: $('[data-testid="failure-reason"]'),
  stopForm: $("[data-stop-form]"),
  liveState: $('[data-testid="live-state"]'),
  learningCurves: $('[data-testid="learning-curves"]'),
  objectiveByJob: $('[data-testid="objective-by-job"]'),
  parallel: $('[data-testid="parallel-coordinates"]'),
  versus: $('[data-testid="objective-vs-hyperparameter"]'),
  versusChoice: $('[data-testid="hyperparameter-choice"]'),
  best: $('[data-testid="best-training-job"]'),
  thinnedNote: $("[data-curves-thinned]"),
};

// The table is server-rendered: usable as soon as this module runs.
performance.mark("training-jobs-table-ready");

function trainingJobUrl(name) {
  return config.urls.training_job.replace(config.placeholder, encodeURIComponent(name));
}

/** `pending`: the fetch of `url` if already started (the page's head starts one); fetched anew if that failed. */
async function getJson(url, pending = null) {
  const response =
    (await pending) || (await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }));
  if (response.status === 401) {
    window.location.reload(); // the session ended: the page itself now leads to the login
    throw new Error("logged out");
  }
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

/**
 * Run `task` at most once per `ms`, and once more if asked again while it ran.
 * The first call after a quiet spell runs at once: waiting would only delay
 * the first draw and every isolated update.
 */
function throttle(task, ms) {
  let timer = null;
  let running = false;
  let again = false;
  let last = -Infinity;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    last = performance.now();
    try {
      await task();
    } catch (error) {
      console.warn(error);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer) return;
    if (running) {
      again = true;
      return;
    }
    timer = window.setTimeout(run, Math.max(0, last + ms - performance.now()));
  };
  return schedule;
}

// --- state ---------------------------------------------------------------------------

function mergeJob(row) {
  const job = state.jobs.get(row.name);
  if (!job) {
    state.jobs.set(row.name, { ...row });
    return;
  }
  const status = isNewerStatus(job.status, row.status) ? row.status : job.status;
  if (row.hyperparameters) delete job.hover;
  Object.assign(job, row, { status });
}

function addPoints(jobs) {
  const metric = state.objective.metric;
  let changed = false;
  for (const [name, metrics] of Object.entries(jobs)) {
    const points = metrics[metric];
    if (!points || !points.length) continue;
    let curve = state.curves.get(name);
    if (!curve) {
      curve = { points: new Map(), sorted: null };
      state.curves.set(name, curve);
    }
    // Keyed by epoch: a point received twice (a reconnect's overlap) is drawn once.
    const appended = state.appended.get(name) || [];
    for (const [epoch, value] of points) {
      if (curve.points.has(epoch)) state.curvesStale = true; // a rewrite: only a redraw shows it
      curve.points.set(epoch, value);
      appended.push([epoch, value]);
    }
    state.appended.set(name, appended);
    curve.sorted = null;
    if (!state.jobs.has(name)) state.jobs.set(name, { name, status: "InProgress" });
    changed = true;
  }
  return changed;
}

function mergeCursor(cursor) {
  for (const [name, id] of Object.entries(cursor || {})) {
    state.cursor[name] = Math.max(state.cursor[name] || 0, id);
  }
}

/** Whether the jobs this page holds add up to the server's counters. */
function countsAgree(counters) {
  const held = { Completed: 0, InProgress: 0, Stopped: 0, Failed: 0 };
  for (const job of state.jobs.values()) {
    const key = job.status === "Stopping" ? "InProgress" : job.status;
    if (key in held) held[key] += 1;
  }
  return Object.entries(held).every(([key, count]) => counters[key] === count);
}

// --- header: status, counters, best -------------------------------------------------------

function showTuningJobStatus(status, failureReason) {
  if (!isNewerStatus(state.status, status)) return;
  state.status = status;
  setStatusBadge(nodes.status, status);
  if (failureReason !== undefined) {
    nodes.failure.hidden = !failureReason;
    setText(nodes.failure, failureReason || "");
  }
  if (nodes.stopForm && status !== "InProgress") nodes.stopForm.hidden = true;
}

/** Whether counters read at `readAt` (server seconds) are at least as new as those shown; records them if so. */
function newerCounters(readAt) {
  if (readAt === undefined) return true;
  if (state.countersReadAt !== undefined && readAt < state.countersReadAt) return false;
  state.countersReadAt = readAt;
  return true;
}

function showCounters(counters) {
  for (const [key, value] of Object.entries(counters || {})) {
    setText(document.querySelector(`[data-testid="counter-${key}"]`), value);
  }
}

function showBest(best) {
  const previous = state.best ? state.best.name : null;
  const same = best && state.best && state.best.name === best.name;
  state.best = same ? { ...state.best, ...best } : best;
  const empty = nodes.best.querySelector("[data-best-empty]");
  const filled = nodes.best.querySelector("[data-best]");
  empty.hidden = Boolean(best);
  filled.hidden = !best;
  if (!best) return previous !== null;
  const link = filled.querySelector("[data-best-link]");
  link.href = trainingJobUrl(best.name);
  setText(link, best.name);
  setText(filled.querySelector("[data-best-value]"), format.number(best.value));
  const job = state.jobs.get(best.name);
  const hyperparameters = best.hyperparameters || (job && job.hyperparameters) || {};
  // Empty until known (a summary read brings them), rather than another job's.
  filled
    .querySelector("[data-best-hyperparameters]")
    .replaceChildren(...Object.entries(hyperparameters).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  return previous !== best.name;
}

// --- charts ------------------------------------------------------------------------------

// Learning curves follow the epochs closely; the per-job charts (parallel
// coordinates above all) are dearer to draw and change only when a job ends.
// On a big tuning job, drawing a chart blocks the page for a while, so the
// learning curves go first: the per-job charts wait until the socket's
// catch-up is in (or JOB_CHARTS_WAIT_MS), and each is drawn only while it is
// on screen (or near it), one at a time with a pause for input between them.
const linked = new WeakSet();

/** Click a point to open its training job: wired once, after the chart's first draw created it. */
function linkOnce(node) {
  if (linked.has(node)) return;
  linked.add(node);
  linkPoints(node, trainingJobUrl);
}

let curvesFirstDrawn;
const firstDraw = new Promise((resolve) => {
  curvesFirstDrawn = resolve;
});

async function drawCurves(curvesState) {
  await renderLearningCurves(nodes.learningCurves, curvesState);
  linkOnce(nodes.learningCurves);
  curvesFirstDrawn();
}

const renderCurves = throttle(async () => {
  await plotlyReady;
  await statusesKnown;
  // Not before the first load is in (or failed): a draw of what the socket or summary.json
  // brought before it would only hold up the full one on a big tuning job.
  await firstCurves;
  const appended = state.appended;
  state.appended = new Map();
  if (!state.curvesStale && extendLearningCurves(nodes.learningCurves, state, appended)) return;
  state.curvesStale = false;
  await drawCurves(state);
}, CURVES_INTERVAL_MS);
const jobCharts = [
  {
    node: nodes.objectiveByJob,
    draw: (from) => renderObjectiveByJob(nodes.objectiveByJob, from),
    clickable: true,
  },
  {
    node: nodes.versus,
    draw: (from) => renderObjectiveVsHyperparameter(nodes.versus, from, nodes.versusChoice.value),
    clickable: true,
  },
  { node: nodes.parallel, draw: (from) => renderParallelCoordinates(nodes.parallel, from), clickable: false },
].map((chart) => ({ ...chart, dirty: true, visible: false, created: false }));

async function drawJobChart(chart, from) {
  chart.created = true;
  await chart.draw(from);
  if (chart.clickable) linkOnce(chart.node);
}

const renderJobCharts = throttle(async () => {
  if (!state.caughtUp) return;
  await plotlyReady;
  for (const chart of jobCharts) {
    if (!chart.dirty || !chart.visible) continue;
    chart.dirty = false;
    await drawJobChart(chart, state);
    await new Promise((resolve) => window.setTimeout(resolve));
  }
}, JOB_CHARTS_INTERVAL_MS);

const onScreen = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      jobCharts.find((chart) => chart.node === entry.target).visible = entry.isIntersecting;
    }
    renderJobCharts();
  },
  { rootMargin: "200px" },
);
for (const chart of jobCharts) onScreen.observe(chart.node);

function jobChartsMayStart() {
  if (state.caughtUp) return;
  state.caughtUp = true;
  renderJobCharts();
}

/** `curves`: something besides new epochs changed (a status, the best job), so the curves are drawn anew. */
function chartsChanged({ curves = false, jobs = false }) {
  if (curves) {
    state.curvesStale = true;
    renderCurves();
  }
  if (jobs) {
    for (const chart of jobCharts) chart.dirty = true;
    renderJobCharts();
  }
}

// --- the training jobs table ----------------------------------------------------------------

// Rendered on the server (_training_jobs_table.html): sort links, pages and the
// status filter are htmx requests that swap the table in; live events only ask
// for the table again. The wrapper syncs its requests (hx-sync "replace"), and a
// refresh asks for the table last asked for, so a sort click is never undone by
// a refresh that started before it.
const tableNode = () => document.querySelector("[data-training-jobs]");
let tableUrl = tableNode().dataset.refreshUrl;
const changedRows = new Set(); // names whose status changed since the table was last swapped in

document.body.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.target === tableNode()) tableUrl = event.detail.pathInfo.finalRequestPath;
});

document.body.addEventListener("htmx:afterSwap", () => {
  const node = tableNode();
  tableUrl = node.dataset.refreshUrl;
  window.history.replaceState(null, "", node.dataset.pageUrl);
  for (const row of node.querySelectorAll("tbody tr[data-name]")) {
    if (changedRows.has(row.dataset.name)) row.classList.add("flash");
  }
  changedRows.clear();
});

document.body.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status === 401) window.location.reload(); // the session ended: the page leads to the login
});

const refreshTable = throttle(() => {
  const node = tableNode();
  return window.htmx.ajax("GET", tableUrl, { source: node, target: node, swap: "outerHTML" });
}, TABLE_REFRESH_MS);

// --- summary.json: hyperparameters and statuses the socket does not carry --------------------------

const refreshSummary = throttle(async () => {
  const query = state.asOf ? `?${new URLSearchParams({ updated_since: state.asOf })}` : "";
  const data = await getJson(config.urls.summary + query);
  state.asOf = data.as_of;
  for (const row of data.training_jobs) mergeJob(row);
  showTuningJobStatus(data.status, data.failure_reason);
  let bestMoved = false;
  if (newerCounters(data.counters_read_at)) {
    showCounters(data.counters);
    bestMoved = showBest(data.best);
  }
  statusesArrived();
  const changed = data.training_jobs.length > 0;
  chartsChanged({ jobs: changed || bestMoved, curves: changed || bestMoved });
}, SUMMARY_REFRESH_MS);

// --- thinned curves ---------------------------------------------------------------------

function showThinned(thinned) {
  state.thinned = thinned;
  nodes.thinnedNote.hidden = false;
  setText(
    nodes.thinnedNote,
    `${thinned.jobs} of ${thinned.jobs + thinned.whole} curves are thinned to one epoch in ${thinned.stride} ` +
      `(with their first and last) to keep the page fast; the best and the running ones are whole. ` +
      `A training job's own page has its whole curve.`,
  );
}

/** A new best job's curve may have come thinned: fetch it whole (points are keyed by epoch, so none doubles). */
async function wholeCurve(name) {
  if (!state.thinned) return;
  try {
    const data = await getJson(`${trainingJobUrl(name)}metrics.json`);
    const points = data.metrics[state.objective.metric];
    if (points && addPoints({ [name]: { [state.objective.metric]: points } })) chartsChanged({ curves: true });
  } catch (error) {
    console.warn(error);
  }
}

// --- the curves' first load ------------------------------------------------------------------

// Requested by the page's head (tuning_job_detail.html) before this module or
// plotly.js loaded, so the server reads it while the browser compiles plotly.js.
// The socket's catch-up then starts from its cursor: nothing missed, nothing twice.
// If it fails, the cursor stays empty and the catch-up brings the curves instead.
const firstCurves = getJson(config.urls.curves, window.tuneboardCurves)
  .then((data) => {
    performance.mark("curves-json-in");
    mergeCursor(data.cursor);
    if (data.statuses) {
      for (const [name, status] of Object.entries(data.statuses)) mergeJob({ name, status });
      statusesArrived();
    }
    if (data.thinned) showThinned(data.thinned);
    if (addPoints(data.jobs)) renderCurves();
  })
  .catch((error) => console.warn(error));

// --- the socket ---------------------------------------------------------------------------

const handlers = {
  metrics(message) {
    mergeCursor(message.cursor);
    if (message.thinned) showThinned(message.thinned);
    // A big catch-up comes in parts ("more" until the last): drawn once, when whole.
    // New epochs of running jobs are appended to their traces (extendTraces).
    if (addPoints(message.jobs) && !message.more) renderCurves();
  },
  counters(message) {
    jobChartsMayStart(); // counters follow the catch-up's samples
    showTuningJobStatus(message.status);
    if (!newerCounters(message.read_at)) return;
    showCounters(message.counters);
    if (state.asOf && !countsAgree(message.counters)) {
      // An event went missing (a full channel drops messages): read what changed.
      refreshSummary();
      refreshTable();
      resync();
    }
    const best = message.best;
    const changed = showBest(best);
    if (best && state.jobs.has(best.name)) state.jobs.get(best.name).objective = best.value;
    if (changed) {
      chartsChanged({ curves: true, jobs: true });
      if (best && !(state.jobs.get(best.name) || {}).hyperparameters) refreshSummary();
      if (best) wholeCurve(best.name);
    }
  },
  "training_job.created"(message) {
    mergeJob({ name: message.name, status: message.status, stop_reason: message.stop_reason });
    refreshSummary(); // for its sequence number and hyperparameters
    refreshTable();
  },
  "training_job.status"(message) {
    mergeJob({
      name: message.name,
      status: message.status,
      stop_reason: message.stop_reason,
      objective: message.final_objective_value,
    });
    changedRows.add(message.name);
    refreshTable(); // the sort order or the filter may now place it elsewhere
    if (!["InProgress", "Stopping"].includes(message.status)) refreshSummary(); // its objective status
    chartsChanged({ curves: true, jobs: true });
  },
  "tuning_job.status"(message) {
    showTuningJobStatus(message.status, message.failure_reason);
    if (!["InProgress", "Stopping"].includes(message.status)) {
      // The end: make sure the last counters, statuses and points are the page's.
      refreshSummary();
      refreshTable();
      resync();
    }
  },
};

let socket = null;

/** Ask again for every point after the cursor; the socket sends only what this page lacks. */
const resync = throttle(() => {
  if (socket) socket.send({ type: "catch_up", since: { ...state.cursor } });
}, RESYNC_INTERVAL_MS);

function connect() {
  socket = new LiveSocket(config.urls.socket, {
    onOpen(live) {
      // The cursor says what this page holds; the server sends only the rest.
      firstCurves.then(() => live.send({ type: "catch_up", since: { ...state.cursor } }));
      // Status changes before this moment are not replayed by catch-up: ask what
      // changed. The first time too: the table was rendered, and the first
      // summary may have been read, before the socket joined its group, and
      // training jobs created or ended in between would otherwise never reach
      // the table (it stayed "No training jobs yet." when a short tuning job
      // ran while plotly.js loaded).
      refreshTable();
      refreshSummary();
    },
    onMessage(message) {
      const handler = handlers[message.type];
      if (handler) handler(message);
    },
    onState: (liveState) => showLiveState(nodes.liveState, liveState),
  });
}

// --- start ------------------------------------------------------------------------------

if (nodes.stopForm) {
  nodes.stopForm.addEventListener("submit", (event) => {
    if (!window.confirm(nodes.stopForm.dataset.confirm)) event.preventDefault();
  });
}
nodes.versusChoice.addEventListener("change", () => chartsChanged({ jobs: true }));
connect();
refreshSummary();
// A channel layer drops messages when a consumer falls behind; while the tuning
// job runs, a cheap incremental read now and then repairs whatever was missed.
window.setInterval(() => {
  if (["InProgress", "Stopping"].includes(state.status)) refreshSummary();
}, SAFETY_REFRESH_MS);
window.setTimeout(jobChartsMayStart, JOB_CHARTS_WAIT_MS);
// First things first: on a big tuning job, plotly.js's first draws block the
// page for seconds, so the learning curves are drawn before any other chart
// exists. With curves.json in, their first draw creates the chart; without
// curves (a new tuning job, or the request failed), it starts empty. The other
// charts are created empty, so that they show their axes, only once the curves
// are drawn (or JOB_CHARTS_WAIT_MS passed) and the browser is idle; a chart
// that renderJobCharts already drew is left as it is.
await plotlyReady;
await firstCurves;
const blank = { ...state, jobs: new Map(), curves: new Map(), pending: true };
if (!state.curves.size) await drawCurves(blank);
await Promise.race([firstDraw, new Promise((resolve) => window.setTimeout(resolve, JOB_CHARTS_WAIT_MS))]);
await new Promise((resolve) =>
  window.requestIdleCallback ? window.requestIdleCallback(resolve, { timeout: 1000 }) : window.setTimeout(resolve),
);
for (const chart of jobCharts) {
  if (!chart.created) await drawJobChart(chart, blank);
}
