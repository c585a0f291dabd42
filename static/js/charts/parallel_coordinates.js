// Parallel coordinates: every tuned hyperparameter and the objective, one line per training job.

import {
  baseLayout,
  betterThan,
  drawn,
  noObjectiveNote,
  escapeLabel,
  jobsWithObjective,
  numeric,
  react,
  tickLabel,
} from "./common.js";

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
      ticktext: parameter.values.map(tickLabel), // parcoords writes tick labels as plain text
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
    const layout = baseLayout({ xaxis: { visible: false }, yaxis: { visible: false }, annotations: noObjectiveNote(state) });
    return react(node, [], layout).then(() => drawn(node, 0));
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
  return react(node, [trace], layout).then(() => drawn(node, all.length));
}
