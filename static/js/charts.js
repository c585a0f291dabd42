// The tuning job page's Plotly charts, drawn from the page's state (see tuning_job_detail.js).
//
// Scale matters here (thousands of training jobs, each with a curve), so the
// learning curves' ended jobs are drawn as one SVG path per status group (see
// curveGroup), with the best job and each running job as traces of
// their own. SVG, not WebGL: a big tuning job's curves come thinned
// (jobs.selectors.learning_curves_overview), and a few long paths paint
// several times faster than scattergl where WebGL is software (measured in
// bench/dashboard_load.py: 10,000 curves). The per-job charts, thousands of
// markers, stay WebGL. Each render is a Plotly.react of the whole figure,
// which updates the existing chart in place.

// plotly.js loads in parallel with this module (the page's socket and data
// requests start while it compiles): read it when drawing, after `plotlyReady`.
const plotly = () => globalThis.Plotly;

/** Resolves once plotly.js has run; the page's <script id="plotly-js" async> loads it. */
export const plotlyReady = new Promise((resolve, reject) => {
  const script = document.getElementById("plotly-js");
  if (globalThis.Plotly || !script) {
    performance.mark("plotly-ready"); // ran before this module: at the latest now
    resolve();
    return;
  }
  script.addEventListener("load", () => {
    performance.mark("plotly-ready");
    resolve();
  });
  script.addEventListener("error", () => reject(new Error("plotly.js did not load")));
});

export const COLORS = {
  InProgress: "#0e9384",
  Completed: "#2463eb",
  Stopped: "#8a94a6",
  Failed: "#b42318",
  Best: "#f79009",
};

// Stopping jobs still run, so they are drawn with the running ones (a trace each).
const RUNNING = { key: "InProgress", name: "Running", line: { color: COLORS.InProgress, width: 1.6 } };
// The ended jobs, one path per group.
const ENDED_GROUPS = [
  { key: "Completed", name: "Completed", line: { color: COLORS.Completed, width: 1.2 } },
  { key: "Stopped", name: "Stopped", line: { color: COLORS.Stopped, width: 1, dash: "dash" } },
  { key: "Failed", name: "Failed", line: { color: COLORS.Failed, width: 1, dash: "dot" } },
];

export function groupOf(status) {
  if (status === "Stopping" || status === "InProgress" || !status) return "InProgress";
  return status;
}

const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
const FONT = { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: "#1d2330" };

function baseLayout(extra = {}) {
  return {
    font: FONT,
    margin: { l: 56, r: 16, t: 12, b: 44 },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    uirevision: "keep", // zoom and legend clicks survive updates
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    ...extra,
  };
}

/**
 * Record that `node` now shows `jobs` training jobs: a dataset attribute for tests
 * and a performance mark ("<id>-drawn", detail: jobs) for bench/dashboard_load.py.
 */
function drawn(node, jobs) {
  // Two animation frames: the browser has painted what Plotly drew.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      node.dataset.drawnJobs = jobs;
      performance.mark(`${node.id}-drawn`, { detail: jobs });
    }),
  );
}

function emptyNote(text) {
  return [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#5b6475" } }];
}

/** Plotly renders a little HTML in hover labels; names and values are the user's, so escape them. */
export function escapeLabel(text) {
  return String(text).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** "lr=0.01<br>optimizer=adam": a job's tuned hyperparameters for its hover label, computed once per job. */
export function hoverInfo(job) {
  if (!job.hover) {
    const pairs = Object.entries(job.hyperparameters || {}).map(([k, v]) => escapeLabel(`${k}=${v}`));
    job.hover = [escapeLabel(job.name), pairs.join("<br>")];
  }
  return job.hover;
}

function jobsInOrder(state) {
  return [...state.jobs.values()].sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
}

function sortedCurve(curve) {
  if (!curve.sorted) {
    const epochs = [...curve.points.keys()].sort((a, b) => a - b);
    curve.sorted = { x: epochs, y: epochs.map((epoch) => curve.points.get(epoch)) };
  }
  return curve.sorted;
}

// --- learning curves ------------------------------------------------------------------

/** One SVG path of many curves: a subpath per curve, broken where a value is missing (NaN or inf). */
function pathOf(curves) {
  const parts = [];
  for (const { x, y } of curves) {
    let pen = "M";
    for (let i = 0; i < x.length; i += 1) {
      if (y[i] === null || y[i] === undefined) {
        pen = "M";
        continue;
      }
      parts.push(`${pen}${x[i]},${y[i]}`);
      pen = "L";
    }
  }
  return parts.join("");
}

/**
 * Many curves of one group ({key, name, line}) as Plotly draws them fast: ONE
 * path (a layout shape in data coordinates, a subpath per curve), a legend
 * entry, and a trace of the same points that draws nothing but gives hover.
 *
 * A trace whose curves are separated by null gaps becomes one SVG element per
 * curve, styled one by one: for 10,000 curves that was most of a big tuning
 * job's first draw (bench/dashboard_load.py). `curves`: [{x, y, info}], where
 * `info` is every point's customdata for `hovertemplate`.
 */
export function curveGroup(group, curves, hovertemplate) {
  const points = { x: [], y: [], customdata: [] };
  for (const { x, y, info } of curves) {
    for (let i = 0; i < x.length; i += 1) {
      points.x.push(x[i]);
      points.y.push(y[i]);
      points.customdata.push(info);
    }
  }
  const shape = {
    type: "path",
    xref: "x",
    yref: "y",
    layer: "between", // over the grid, under the traces
    path: pathOf(curves),
    line: group.line,
    name: group.name,
    legendgroup: group.key,
  };
  // A line entry like the other traces' (a shape's own entry is an icon of a shape); clicking it
  // hides the path and the hover points, which share its legend group.
  const legend = {
    type: "scatter",
    mode: "lines",
    uid: `${group.key}-legend`,
    name: group.name,
    legendgroup: group.key,
    line: group.line,
    hoverinfo: "skip",
    x: [null],
    y: [null],
  };
  const hover = {
    type: "scatter",
    mode: "none",
    uid: group.key,
    name: group.name,
    legendgroup: group.key,
    showlegend: false,
    hoveron: "points",
    hovertemplate,
    hoverlabel: { bgcolor: group.line.color },
    ...points,
  };
  return { shape, traces: [legend, hover] };
}

/**
 * The learning-curve figure: traces, shapes, and for each running job the
 * index of its own trace and its last epoch there.
 *
 * The ended jobs are drawn by status group (curveGroup). Running jobs (few,
 * at most the parallel limit) get a trace each, so that their new epochs are
 * appended with Plotly.extendTraces; the best job is a trace of its own.
 */
export function learningCurveTraces(state) {
  const bestName = state.best ? state.best.name : null;
  const ended = new Map(ENDED_GROUPS.map((group) => [group.key, []]));
  const best = { x: [], y: [], customdata: [] };
  const running = [];
  for (const job of jobsInOrder(state)) {
    const curve = state.curves.get(job.name);
    if (!curve || curve.points.size === 0) continue;
    const { x, y } = sortedCurve(curve);
    const info = hoverInfo(job);
    if (job.name === bestName) {
      Object.assign(best, { x: [...x], y: [...y], customdata: x.map(() => info) });
    } else if (groupOf(job.status) === "InProgress") {
      running.push({ name: job.name, x: [...x], y: [...y], customdata: x.map(() => info) });
    } else {
      ended.get(groupOf(job.status)).push({ x, y, info });
    }
  }
  const hovertemplate = "<b>%{customdata[0]}</b><br>epoch %{x}: %{y:.6g}<br>%{customdata[1]}<extra></extra>";
  const traces = [];
  const shapes = [];
  for (const group of ENDED_GROUPS) {
    if (!ended.get(group.key).length) continue;
    const figure = curveGroup(group, ended.get(group.key), hovertemplate);
    shapes.push(figure.shape);
    traces.push(...figure.traces);
  }
  const appendable = new Map();
  running.forEach(({ name, ...points }, index) => {
    appendable.set(name, { index: traces.length, last: points.x[points.x.length - 1] });
    traces.push({
      type: "scatter",
      mode: "lines",
      uid: `running-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`, // Plotly puts uids in CSS selectors
      name: RUNNING.name,
      legendgroup: RUNNING.key,
      showlegend: index === 0,
      line: RUNNING.line,
      hovertemplate,
      ...points,
    });
  });
  if (best.x.length) {
    traces.push({
      type: "scatter",
      mode: "lines+markers",
      uid: "Best",
      name: `Best (${escapeLabel(bestName)})`,
      line: { color: COLORS.Best, width: 3 },
      marker: { size: 4, color: COLORS.Best },
      hovertemplate,
      ...best,
    });
  }
  return { traces, shapes, appendable };
}

export function renderLearningCurves(node, state) {
  const { traces, shapes, appendable } = learningCurveTraces(state);
  state.appendable = appendable;
  const layout = baseLayout({
    xaxis: { title: { text: "epoch" }, zeroline: false },
    yaxis: { title: { text: escapeLabel(state.objective.metric) }, zeroline: false },
    shapes,
    annotations: traces.length ? [] : emptyNote("Waiting for the first epoch's metrics…"),
  });
  const jobs = [...state.curves.values()].filter((curve) => curve.points.size).length;
  return plotly().react(node, traces, layout, PLOT_CONFIG).then(() => drawn(node, jobs));
}

/**
 * Append running jobs' new epochs to their traces in place; false (nothing done)
 * when that cannot show them right and the whole chart must be drawn again: a
 * job without a trace of its own, or an epoch at or before its last drawn one.
 */
export function extendLearningCurves(node, state, appended) {
  if (!state.appendable) return false;
  const indices = [];
  const update = { x: [], y: [], customdata: [] };
  for (const [name, points] of appended) {
    const trace = state.appendable.get(name);
    const job = state.jobs.get(name);
    if (!trace || !job || groupOf(job.status) !== "InProgress") return false;
    const fresh = [...points].sort((a, b) => a[0] - b[0]);
    if (fresh[0][0] <= trace.last) return false;
    indices.push(trace.index);
    update.x.push(fresh.map((point) => point[0]));
    update.y.push(fresh.map((point) => point[1]));
    update.customdata.push(fresh.map(() => hoverInfo(job)));
  }
  if (!indices.length) return true;
  plotly().extendTraces(node, update, indices);
  for (const [name, points] of appended) {
    const trace = state.appendable.get(name);
    trace.last = Math.max(trace.last, ...points.map((point) => point[0]));
  }
  return true;
}

// --- objective by training job --------------------------------------------------------------

function betterThan(type) {
  return type === "Minimize" ? (a, b) => a < b : (a, b) => a > b;
}

export function renderObjectiveByJob(node, state) {
  const jobs = jobsInOrder(state).filter((job) => job.objective !== null && job.objective !== undefined);
  const better = betterThan(state.objective.type);
  const bestSoFar = { x: [], y: [] };
  let best = null;
  for (const job of jobs) {
    // As the service decides it: an ended job that was not Failed, with a final value.
    if (job.status !== "Completed" && job.status !== "Stopped") continue;
    if (best === null || better(job.objective, best)) best = job.objective;
    bestSoFar.x.push(job.sequence);
    bestSoFar.y.push(best);
  }
  const traces = [];
  if (jobs.length) {
    traces.push({
      type: "scattergl",
      mode: "markers",
      uid: "jobs",
      name: "Training jobs",
      x: jobs.map((job) => job.sequence),
      y: jobs.map((job) => job.objective),
      customdata: jobs.map(hoverInfo),
      marker: {
        size: 7,
        color: jobs.map((job) => COLORS[groupOf(job.status)]),
        symbol: jobs.map((job) => (groupOf(job.status) === "InProgress" ? "circle-open" : "circle")),
      },
      hovertemplate: "<b>%{customdata[0]}</b> (%{x})<br>%{y:.6g}<br>%{customdata[1]}<extra></extra>",
    });
  }
  if (bestSoFar.x.length) {
    traces.push({
      type: "scatter",
      mode: "lines",
      uid: "best-so-far",
      name: "Best so far",
      line: { color: COLORS.Best, width: 2, shape: "hv" },
      hoverinfo: "skip",
      ...bestSoFar,
    });
  }
  const layout = baseLayout({
    // Whole training jobs only: a tick at 1.5 would mean nothing.
    xaxis: {
      title: { text: "training job" },
      rangemode: "tozero",
      zeroline: false,
      dtick: Math.max(1, Math.ceil((jobs.length ? jobs[jobs.length - 1].sequence : 1) / 10)),
    },
    yaxis: { title: { text: escapeLabel(state.objective.metric) }, zeroline: false },
    annotations: traces.length ? [] : emptyNote("No objective value yet."),
  });
  return plotly().react(node, traces, layout, PLOT_CONFIG).then(() => drawn(node, jobs.length));
}

// --- hyperparameters ---------------------------------------------------------------------

function numeric(value) {
  const number = Number.parseFloat(value);
  return Number.isFinite(number) ? number : null;
}

/** Ticks of a log10 axis from min to max: its two ends and the powers of ten between. */
function logTicks(min, max) {
  const values = [Math.log10(min)];
  for (let k = Math.ceil(Math.log10(min)); k <= Math.floor(Math.log10(max)); k += 1) {
    if (Math.abs(k - values[values.length - 1]) > 0.15) values.push(k);
  }
  if (Math.log10(max) - values[values.length - 1] > 0.15) values.push(Math.log10(max));
  else values[values.length - 1] = Math.log10(max);
  return { tickvals: values, ticktext: values.map((v) => String(Number((10 ** v).toPrecision(3)))) };
}

/** One parcoords dimension: categories as ticks, log-scaled ranges on a log10 axis. */
function dimension(parameter, jobs) {
  const raw = jobs.map((job) => (job.hyperparameters || {})[parameter.name]);
  const label = parameter.name;
  if (parameter.type === "Categorical") {
    const n = parameter.values.length;
    return {
      label,
      values: raw.map((value) => parameter.values.indexOf(value)),
      tickvals: parameter.values.map((_, i) => i),
      ticktext: parameter.values, // parcoords writes tick labels as plain text
      range: n > 1 ? [0, n - 1] : [-0.5, 0.5],
    };
  }
  if (parameter.log) {
    return {
      label: `${label} (log)`,
      values: raw.map((value) => Math.log10(numeric(value))),
      range: [Math.log10(parameter.min), Math.log10(parameter.max)],
      ...logTicks(parameter.min, parameter.max),
    };
  }
  return { label, values: raw.map(numeric), range: [parameter.min, parameter.max] };
}

function jobsWithObjective(state) {
  return jobsInOrder(state).filter((job) => job.objective !== null && job.objective !== undefined);
}

// Parallel coordinates draw every line on every axis pair; past this many
// jobs (seconds per draw in software WebGL at 10,000) only the best are drawn.
export const PARCOORDS_MAX_JOBS = 1000;

export function renderParallelCoordinates(node, state) {
  const all = jobsWithObjective(state);
  let jobs = all;
  if (all.length > PARCOORDS_MAX_JOBS) {
    const better = betterThan(state.objective.type);
    jobs = [...all].sort((a, b) => (better(a.objective, b.objective) ? -1 : better(b.objective, a.objective) ? 1 : 0));
    jobs = jobs.slice(0, PARCOORDS_MAX_JOBS);
  }
  if (!jobs.length || !state.parameters.length) {
    const layout = baseLayout({ xaxis: { visible: false }, yaxis: { visible: false }, annotations: emptyNote("No objective value yet.") });
    return plotly().react(node, [], layout, PLOT_CONFIG).then(() => drawn(node, 0));
  }
  const objectives = jobs.map((job) => job.objective);
  const dimensions = state.parameters.map((parameter) => dimension(parameter, jobs));
  dimensions.push({ label: state.objective.metric, values: objectives }); // plain text, like the ticks
  const trace = {
    type: "parcoords",
    uid: "parcoords",
    dimensions,
    line: {
      color: objectives,
      colorscale: "Viridis",
      // The brightest lines are the best ones, whichever way the objective goes.
      reversescale: state.objective.type === "Minimize",
      showscale: true,
      colorbar: { thickness: 12, title: { text: escapeLabel(state.objective.metric), side: "right" } },
    },
    labelangle: -12,
  };
  const layout = baseLayout({ margin: { l: 64, r: 72, t: 56, b: 28 } });
  if (jobs.length < all.length) {
    const text = `The best ${jobs.length.toLocaleString("en")} of ${all.length.toLocaleString("en")} training jobs`;
    layout.annotations = [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0, y: -0.06, xanchor: "left" }];
    layout.margin.b = 40;
  }
  // Counted as drawn from every job: the chart reflects them all, by showing the best.
  return plotly().react(node, [trace], layout, PLOT_CONFIG).then(() => drawn(node, all.length));
}

export function renderObjectiveVsHyperparameter(node, state, parameterName) {
  const parameter = state.parameters.find((p) => p.name === parameterName) || state.parameters[0];
  const jobs = jobsWithObjective(state);
  const traces = [];
  if (parameter && jobs.length) {
    const categorical = parameter.type === "Categorical";
    traces.push({
      type: "scattergl",
      mode: "markers",
      uid: "jobs",
      name: "Training jobs",
      x: jobs.map((job) => {
        const value = (job.hyperparameters || {})[parameter.name];
        return categorical ? escapeLabel(value) : numeric(value);
      }),
      y: jobs.map((job) => job.objective),
      customdata: jobs.map(hoverInfo),
      marker: { size: 7, opacity: 0.85, color: jobs.map((job) => COLORS[groupOf(job.status)]) },
      hovertemplate: "<b>%{customdata[0]}</b><br>%{y:.6g}<br>%{customdata[1]}<extra></extra>",
    });
  }
  const xaxis = { title: { text: parameter ? parameter.name : "" }, zeroline: false };
  if (parameter && parameter.type === "Categorical") {
    const categories = parameter.values.map(escapeLabel);
    Object.assign(xaxis, { type: "category", categoryorder: "array", categoryarray: categories });
  } else if (parameter && parameter.log) {
    xaxis.type = "log";
  } else {
    xaxis.type = "linear";
  }
  const layout = baseLayout({
    xaxis,
    yaxis: { title: { text: escapeLabel(state.objective.metric) }, zeroline: false },
    showlegend: false,
    uirevision: parameter ? parameter.name : "none", // a new axis starts unzoomed
    annotations: traces.length ? [] : emptyNote("No objective value yet."),
  });
  return plotly().react(node, traces, layout, PLOT_CONFIG).then(() => drawn(node, jobs.length));
}

/** Click a point to open its training job. */
export function linkPoints(node, urlFor) {
  node.on("plotly_click", (event) => {
    const point = event.points && event.points[0];
    const name = point && point.customdata && point.customdata[0];
    if (name) window.location.assign(urlFor(unescapeLabel(name)));
  });
}

function unescapeLabel(text) {
  return String(text).replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}
