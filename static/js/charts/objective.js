// The objective per training job: in launch order with the best so far, and against one
// hyperparameter. WebGL markers: thousands of them on a big tuning job.

import {
  COLORS,
  baseLayout,
  betterThan,
  drawn,
  emptyNote,
  escapeLabel,
  groupOf,
  hoverInfo,
  jobsInOrder,
  jobsWithObjective,
  numeric,
  react,
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
    annotations: traces.length ? [] : emptyNote("No objective value yet."),
  });
  return react(node, traces, layout).then(() => drawn(node, jobs.length));
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
      hovertemplate: `<b>%{customdata[0]}</b><br>%{y:${PLOTLY_NUMBER}}<br>%{customdata[1]}<extra></extra>`,
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
  return react(node, traces, layout).then(() => drawn(node, jobs.length));
}
