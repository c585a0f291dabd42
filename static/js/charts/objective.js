// The objective per training job: in launch order with the best so far, and against one
// hyperparameter. WebGL markers: thousands of them on a big tuning job.

import {
  COLORS,
  baseLayout,
  betterThan,
  drawn,
  noObjectiveNote,
  escapeLabel,
  groupOf,
  hoverInfo,
  jobsInOrder,
  jobsWithObjective,
  numeric,
  react,
  tickLabel,
} from "./common.js";
import { PLOTLY_NUMBER } from "../format.js";

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
      hovertemplate: `<b>%{customdata[0]}</b> (%{x})<br>%{y:${PLOTLY_NUMBER}}<br>%{customdata[1]}<extra></extra>`,
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
    annotations: traces.length ? [] : noObjectiveNote(state),
  });
  return react(node, traces, layout).then(() => drawn(node, jobs.length));
}

// The slice plot's groups, in legend order: completed and early-stopped jobs are what a review
// compares; a stopped job's objective is where it stood when it was stopped.
const SLICE_GROUPS = [
  ["Completed", "Completed"],
  ["Stopped", "Stopped (early or by a user)"],
  ["Failed", "Failed"],
  ["InProgress", "Running"],
];

export function renderObjectiveVsHyperparameter(node, state, parameterName) {
  const parameter = state.parameters.find((p) => p.name === parameterName) || state.parameters[0];
  const jobs = jobsWithObjective(state);
  const traces = [];
  const categorical = Boolean(parameter) && parameter.type === "Categorical";
  if (parameter && jobs.length) {
    for (const [group, label] of SLICE_GROUPS) {
      const members = jobs.filter((job) => groupOf(job.status) === group);
      if (!members.length) continue;
      traces.push({
        type: "scattergl",
        mode: "markers",
        uid: `jobs-${group}`,
        name: label,
        x: members.map((job) => {
          const value = (job.hyperparameters || {})[parameter.name];
          return categorical ? escapeLabel(value) : numeric(value);
        }),
        y: members.map((job) => job.objective),
        customdata: members.map(hoverInfo),
        marker: {
          size: 7,
          opacity: 0.85,
          color: COLORS[group],
          symbol: group === "InProgress" ? "circle-open" : group === "Stopped" ? "x" : "circle",
        },
        hovertemplate: `<b>%{customdata[0]}</b><br>%{y:${PLOTLY_NUMBER}}<br>%{customdata[1]}<extra>${label}</extra>`,
      });
    }
  }
  const xaxis = { title: { text: parameter ? parameter.name : "" }, zeroline: false, automargin: true };
  if (categorical) {
    const categories = parameter.values.map(escapeLabel);
    Object.assign(xaxis, {
      type: "category",
      categoryorder: "array",
      categoryarray: categories,
      tickvals: categories,
      ticktext: categories.map(tickLabel),
    });
  } else if (parameter && parameter.log) {
    xaxis.type = "log";
  } else {
    xaxis.type = "linear";
  }
  const layout = baseLayout({
    xaxis,
    yaxis: { title: { text: escapeLabel(state.objective.metric) }, zeroline: false, automargin: true },
    showlegend: traces.length > 0,
    uirevision: parameter ? parameter.name : "none", // a new axis starts unzoomed
    annotations: traces.length ? [] : noObjectiveNote(state),
  });
  return react(node, traces, layout).then(() => drawn(node, jobs.length));
}
