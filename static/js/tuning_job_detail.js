// The tuning job page, live.
//
// State: every training job's summary (status, objective, hyperparameters; from
// summary.json, then kept current by socket events) and the objective metric's
// curve of each (from the socket's catch-up and live batches), with the cursor
// {training job: last sample id} that a reconnect sends so nothing is lost or
// doubled. Counters, the best job, the table's rows and the charts update in place.

import * as charts from "./charts.js";
import { el, formatValue, isNewerStatus, readJson, setStatusBadge, setText, showLiveState } from "./dom.js";
import { LiveSocket } from "./socket.js";

const config = readJson("page-config");
const CURVES_INTERVAL_MS = 300;
const JOB_CHARTS_INTERVAL_MS = 1000;
const TABLE_REFRESH_MS = 1500;
const SUMMARY_REFRESH_MS = 400;
const RESYNC_INTERVAL_MS = 2000;
const SAFETY_REFRESH_MS = 30000;

const state = {
  status: config.status,
  objective: config.objective,
  parameters: config.parameters,
  jobs: new Map(), // name -> {name, sequence, status, stop_reason, objective, objective_status, hyperparameters}
  curves: new Map(), // name -> {points: Map(epoch -> value), sorted: {x, y} | null}
  cursor: {}, // name -> last sample id received
  best: config.best,
  asOf: null, // the last summary's as_of: the next one asks only for what changed since
};

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
  table: $('[data-testid="training-jobs-table"]'),
  tableFilter: $("[data-table-filter]"),
  pages: $("[data-table-pages]"),
  best: $('[data-testid="best-training-job"]'),
};

function trainingJobUrl(name) {
  return config.urls.training_job.replace(config.placeholder, encodeURIComponent(name));
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 401) {
    window.location.reload(); // the session ended: the page itself now leads to the login
    throw new Error("logged out");
  }
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

/** Run `task` at most once per `ms`, and once more if asked again while it ran. */
function throttle(task, ms) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
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
    if (!timer) timer = window.setTimeout(run, ms);
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
    for (const [epoch, value] of points) curve.points.set(epoch, value);
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
  setText(filled.querySelector("[data-best-value]"), formatValue(best.value));
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
const renderCurves = throttle(() => charts.renderLearningCurves(nodes.learningCurves, state), CURVES_INTERVAL_MS);
const renderJobCharts = throttle(
  () =>
    Promise.all([
      charts.renderObjectiveByJob(nodes.objectiveByJob, state),
      charts.renderParallelCoordinates(nodes.parallel, state),
      charts.renderObjectiveVsHyperparameter(nodes.versus, state, nodes.versusChoice.value),
    ]),
  JOB_CHARTS_INTERVAL_MS,
);

function chartsChanged({ curves = false, jobs = false }) {
  if (curves) renderCurves();
  if (jobs) renderJobCharts();
}

// --- the training jobs table ----------------------------------------------------------------

const table = { ...config.table };

function tableRow(row) {
  const hyperparameters = Object.entries(row.hyperparameters).flatMap(([k, v]) => [el("code", {}, `${k}=${v}`), " "]);
  return el(
    "tr",
    { dataset: { name: row.name } },
    el("td", { className: "num" }, row.sequence),
    el("td", {}, el("a", { href: row.url }, row.name)),
    el("td", {}, el("span", { className: `status status-${row.status}`, dataset: { field: "status" } }, row.status)),
    el("td", { dataset: { field: "stop_reason" } }, row.stop_reason_text),
    el("td", { className: "num", dataset: { field: "objective" } }, row.objective_text),
    el("td", { className: "num", dataset: { field: "epochs" } }, row.epochs),
    el("td", { className: "num", dataset: { field: "duration" } }, row.duration_text),
    el("td", { className: "hyperparameters" }, ...hyperparameters),
  );
}

function tableQuery() {
  return new URLSearchParams({ page: table.page, sort: table.sort, status: table.status });
}

function showTable(data) {
  Object.assign(table, { page: data.page, sort: data.sort, status: data.status });
  const body = nodes.table.tBodies[0];
  const rows = data.rows.map(tableRow);
  if (!rows.length) {
    const text = data.status ? `No ${data.status} training jobs.` : "No training jobs yet.";
    rows.push(el("tr", { className: "empty" }, el("td", { colSpan: 8 }, text)));
  }
  body.replaceChildren(...rows);
  nodes.table.dataset.count = data.count;
  for (const th of nodes.table.querySelectorAll("th[data-sort]")) {
    const current = data.sort.replace(/^-/, "") === th.dataset.sort;
    th.setAttribute("aria-sort", current ? (data.sort.startsWith("-") ? "descending" : "ascending") : "none");
    th.querySelector("a").href = `?${new URLSearchParams({ sort: nextSort(th), status: data.status })}#training-jobs`;
  }
  nodes.pages.hidden = data.num_pages < 2;
  setText(nodes.pages.querySelector("[data-page-text]"), `Page ${data.page} of ${data.num_pages} · ${data.count} training jobs`);
  nodes.pages.querySelector('[data-page-link="prev"]').hidden = data.page <= 1;
  nodes.pages.querySelector('[data-page-link="next"]').hidden = data.page >= data.num_pages;
  window.history.replaceState(null, "", `?${tableQuery()}#training-jobs`);
}

function nextSort(th) {
  const key = th.dataset.sort;
  if (table.sort.replace(/^-/, "") !== key) return th.dataset.first;
  return table.sort.startsWith("-") ? key : `-${key}`;
}

async function loadTable() {
  showTable(await getJson(`${config.urls.table}?${tableQuery()}`));
}

const refreshTable = throttle(loadTable, TABLE_REFRESH_MS);

function updateTableRow(event) {
  const row = nodes.table.querySelector(`tbody tr[data-name="${CSS.escape(event.name)}"]`);
  if (!row) return;
  setStatusBadge(row.querySelector('[data-field="status"]'), event.status);
  setText(row.querySelector('[data-field="stop_reason"]'), config.stop_reasons[event.stop_reason] || "");
  if (event.final_objective_value !== undefined) {
    setText(row.querySelector('[data-field="objective"]'), formatValue(event.final_objective_value));
  }
  row.classList.remove("flash");
  void row.offsetWidth; // restart the animation
  row.classList.add("flash");
}

function wireTable() {
  nodes.table.querySelector("thead").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-sort-link]");
    if (!link) return;
    event.preventDefault();
    Object.assign(table, { sort: nextSort(link.closest("th")), page: 1 });
    loadTable();
  });
  nodes.pages.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-page-link]");
    if (!link) return;
    event.preventDefault();
    table.page += link.dataset.pageLink === "next" ? 1 : -1;
    loadTable();
  });
  nodes.tableFilter.addEventListener("submit", (event) => event.preventDefault());
  nodes.tableFilter.querySelector("select").addEventListener("change", (event) => {
    Object.assign(table, { status: event.target.value, page: 1 });
    loadTable();
  });
}

// --- summary.json: hyperparameters and statuses the socket does not carry --------------------------

const refreshSummary = throttle(async () => {
  const query = state.asOf ? `?${new URLSearchParams({ updated_since: state.asOf })}` : "";
  const data = await getJson(config.urls.summary + query);
  state.asOf = data.as_of;
  for (const row of data.training_jobs) mergeJob(row);
  showTuningJobStatus(data.status, data.failure_reason);
  showCounters(data.counters);
  const bestMoved = showBest(data.best);
  chartsChanged({ jobs: true, curves: bestMoved || data.training_jobs.length > 0 });
}, SUMMARY_REFRESH_MS);

// --- the socket ---------------------------------------------------------------------------

const handlers = {
  metrics(message) {
    mergeCursor(message.cursor);
    if (addPoints(message.jobs)) chartsChanged({ curves: true });
  },
  counters(message) {
    showCounters(message.counters);
    showTuningJobStatus(message.status);
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
    updateTableRow(message);
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
let opened = false;

/** Ask again for every point after the cursor; the socket sends only what this page lacks. */
const resync = throttle(() => {
  if (socket) socket.send({ type: "catch_up", since: { ...state.cursor } });
}, RESYNC_INTERVAL_MS);

function connect() {
  socket = new LiveSocket(config.urls.socket, {
    onOpen(live) {
      // The cursor says what this page holds; the server sends only the rest.
      live.send({ type: "catch_up", since: { ...state.cursor } });
      if (opened) {
        // Status changes while disconnected are not replayed by catch-up: ask what changed.
        refreshSummary();
        refreshTable();
      }
      opened = true;
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
wireTable();
connect();
refreshSummary();
// A channel layer drops messages when a consumer falls behind; while the tuning
// job runs, a cheap incremental read now and then repairs whatever was missed.
window.setInterval(() => {
  if (["InProgress", "Stopping"].includes(state.status)) refreshSummary();
}, SAFETY_REFRESH_MS);
// Draw the charts at once (empty until data comes), so that they exist to be clicked and updated.
await Promise.all([
  charts.renderLearningCurves(nodes.learningCurves, state),
  charts.renderObjectiveByJob(nodes.objectiveByJob, state),
  charts.renderObjectiveVsHyperparameter(nodes.versus, state, nodes.versusChoice.value),
  charts.renderParallelCoordinates(nodes.parallel, state),
]);
for (const node of [nodes.learningCurves, nodes.objectiveByJob, nodes.versus]) charts.linkPoints(node, trainingJobUrl);
