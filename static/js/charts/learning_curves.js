// The learning curves of a tuning job's training jobs (the tuning job page), and the
// one-path-per-group drawing that the compare page and the report reuse.
//
// Scale matters here (thousands of training jobs, each with a curve), so the
// ended jobs are drawn as one SVG path per status group (see curveGroup), with
// the best job and each running job as traces of their own. SVG, not WebGL: a
// big tuning job's curves come thinned (jobs.selectors.learning_curves_overview),
// and a few long paths paint several times faster than scattergl where WebGL is
// software (measured in bench/dashboard_load.py: 10,000 curves). Each render is a
// Plotly.react of the whole figure, which updates the existing chart in place.

import { COLORS, baseLayout, drawn, emptyNote, escapeLabel, groupOf, hoverInfo, jobsInOrder, plotly, react } from "./common.js";
import { PLOTLY_NUMBER } from "../format.js";

// Stopping jobs still run, so they are drawn with the running ones (a trace each).
const RUNNING = { key: "InProgress", name: "Running", line: { color: COLORS.InProgress, width: 1.6 } };
// The ended jobs, one path per group.
const ENDED_GROUPS = [
  { key: "Completed", name: "Completed", line: { color: COLORS.Completed, width: 1.2 } },
  { key: "Stopped", name: "Stopped", line: { color: COLORS.Stopped, width: 1, dash: "dash" } },
  { key: "Failed", name: "Failed", line: { color: COLORS.Failed, width: 1, dash: "dot" } },
];

function sortedCurve(curve) {
  if (!curve.sorted) {
    const epochs = [...curve.points.keys()].sort((a, b) => a - b);
    curve.sorted = { x: epochs, y: epochs.map((epoch) => curve.points.get(epoch)) };
  }
  return curve.sorted;
}
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
  const hovertemplate = `<b>%{customdata[0]}</b><br>epoch %{x}: %{y:${PLOTLY_NUMBER}}<br>%{customdata[1]}<extra></extra>`;
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
  return react(node, traces, layout).then(() => drawn(node, jobs));
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
