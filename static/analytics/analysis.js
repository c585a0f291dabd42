// The Analysis page: importance, contour and rank of two hyperparameters, a slice per
// hyperparameter, the objective's EDF and the timeline, all drawn from the page's
// #analysis-charts JSON (analytics/analysis.py). Log toggles redraw every chart that
// has the axis; the page holds at most a few thousand points, so redrawing is cheap.
import { COLORS, baseLayout, emptyNote, escapeLabel, react, themeColors, tickLabel } from "../js/charts/common.js";
import { PLOTLY_NUMBER, duration } from "../js/format.js";

const data = JSON.parse(document.getElementById("analysis-charts").textContent);
const objective = data.objective.name;
const minimize = data.objective.type === "Minimize";
const observations = data.observations;
const parameters = new Map(data.parameters.map((parameter) => [parameter.name, parameter]));

const OUTCOMES = {
  Completed: { label: "completed", color: COLORS.Completed, symbol: "circle" },
  EarlyStopped: { label: "early-stopped", color: "#7f56d9", symbol: "x" },
  Stopped: { label: "stopped", color: COLORS.Stopped, symbol: "square" },
  Failed: { label: "failed", color: COLORS.Failed, symbol: "triangle-up" },
  InProgress: { label: "running", color: COLORS.InProgress, symbol: "diamond" },
};

const logAxes = new Map(
  [...document.querySelectorAll("[data-log-axis]")].map((box) => [box.dataset.logAxis, box.checked]),
);

/** A Plotly axis for a hyperparameter or the objective, logarithmic if its toggle says so. */
function axis(name, title) {
  const parameter = parameters.get(name);
  if (parameter && parameter.type === "Categorical") {
    return {
      title: { text: title },
      type: "category",
      categoryorder: "array",
      categoryarray: parameter.values,
      tickmode: "array",
      tickvals: parameter.values,
      ticktext: parameter.values.map(tickLabel),
    };
  }
  return { title: { text: title }, type: logAxes.get(name) ? "log" : "linear", zeroline: false };
}

const labels = observations.names.map(escapeLabel);
// SVG markers up to a few thousand jobs; WebGL past that, where SVG took seconds per chart.
// Not always WebGL: each WebGL chart holds a context, browsers allow a handful per page,
// and a chart past the limit shows "WebGL is not supported" instead of its points.
const MARKERS = observations.names.length > 2000 ? "scattergl" : "scatter";

function hover(xName, yName) {
  const x = parameters.has(xName) ? `${escapeLabel(xName)}=%{x}` : "%{x}";
  return `%{customdata}<br>${x}<br>${escapeLabel(yName)}: %{y:${PLOTLY_NUMBER}}<extra></extra>`;
}

function drawImportance() {
  const node = document.getElementById("chart-importance");
  if (!node) return;
  const methods = data.importance.methods;
  // Least important at the bottom: Plotly draws the first category lowest.
  const order = Object.keys(methods[0].importances).reverse();
  const traces = methods.map((method) => ({
    type: "bar",
    orientation: "h",
    name: method.method,
    y: order,
    x: order.map((name) => method.importances[name]),
    hovertemplate: `%{y}: %{x:.3f}<extra>${method.method}</extra>`,
  }));
  const height = Math.max(220, 60 + 36 * order.length);
  node.style.height = `${height}px`;
  react(node, traces, baseLayout({ barmode: "group", xaxis: { title: { text: "importance" }, range: [0, 1] }, margin: { l: 140, r: 16, t: 30, b: 44 } }));
}

// Plotly grids scattered (x, y, z) on every distinct x and y: 10,000 jobs made a
// 10,000 x 10,000 grid that froze the tab. The contour is drawn on at most GRID x GRID
// cells instead (each the mean objective of its jobs; Plotly interpolates the empty ones),
// with the jobs themselves as dots on top.
const GRID = 30;

/** Cells along one axis: a category each, or GRID equal steps on the axis's (log or linear) scale. */
function bins(name, values) {
  const parameter = parameters.get(name);
  if (parameter.type === "Categorical") {
    return { centers: parameter.values, cell: (value) => parameter.values.indexOf(value) };
  }
  const log = logAxes.get(name);
  const scale = log ? Math.log10 : (value) => value;
  const low = values.reduce((least, value) => Math.min(least, scale(value)), Infinity);
  const high = values.reduce((most, value) => Math.max(most, scale(value)), -Infinity);
  const count = Math.min(GRID, new Set(values).size);
  if (!(high > low) || count < 2) return { centers: [values[0]], cell: () => 0 };
  const step = (high - low) / count;
  const centers = Array.from({ length: count }, (_, i) => low + (i + 0.5) * step).map((c) => (log ? 10 ** c : c));
  return { centers, cell: (value) => Math.min(count - 1, Math.floor((scale(value) - low) / step)) };
}

function meanGrid(xBins, x, yBins, y, z) {
  const sums = yBins.centers.map(() => xBins.centers.map(() => 0));
  const counts = yBins.centers.map(() => xBins.centers.map(() => 0));
  z.forEach((value, i) => {
    const column = xBins.cell(x[i]);
    const row = yBins.cell(y[i]);
    sums[row][column] += value;
    counts[row][column] += 1;
  });
  return {
    x: xBins.centers,
    y: yBins.centers,
    z: sums.map((row, r) => row.map((sum, c) => (counts[r][c] ? sum / counts[r][c] : null))),
  };
}

function drawContourAndRank() {
  const contour = document.getElementById("chart-contour");
  const rank = document.getElementById("chart-rank");
  if (!contour) return;
  const xName = document.getElementById("contour-x").value;
  const yName = document.getElementById("contour-y").value;
  const x = observations.params[xName];
  const y = observations.params[yName];
  const z = observations.values;
  const layout = baseLayout({ xaxis: axis(xName, xName), yaxis: axis(yName, yName), margin: { l: 64, r: 16, t: 12, b: 48 } });
  const points = {
    type: MARKERS,
    mode: "markers",
    x,
    y,
    customdata: labels,
    // Past a few hundred jobs, full-size dots would hide the contour under them.
    marker: { color: themeColors().fg, size: z.length > 300 ? 3 : 5, opacity: z.length > 300 ? 0.35 : 1 },
    hovertemplate: `%{customdata}<br>${escapeLabel(xName)}=%{x}<br>${escapeLabel(yName)}=%{y}<extra></extra>`,
    showlegend: false,
  };
  if (xName === yName) {
    react(contour, [points], { ...layout, annotations: emptyNote("Pick two different hyperparameters.") });
  } else {
    const grid = meanGrid(bins(xName, x), x, bins(yName, y), y, z);
    const surface = {
      type: "contour",
      ...grid,
      connectgaps: true,
      colorscale: "Blues",
      reversescale: !minimize, // the darker, the better
      colorbar: { title: { text: objective } },
      hovertemplate: `${escapeLabel(xName)}=%{x}<br>${escapeLabel(yName)}=%{y}<br>${escapeLabel(objective)}: %{z:${PLOTLY_NUMBER}}<extra></extra>`,
    };
    react(contour, [surface, points], layout);
  }
  // 0 is the best training job, 1 the worst, whichever way the objective goes (plotly.js's YlOrRd
  // runs from dark red at 0: the best stand out on a light page and a dark one).
  const order = z.map((_, i) => i).sort((a, b) => (minimize ? z[a] - z[b] : z[b] - z[a]));
  const ranks = new Array(z.length);
  order.forEach((index, position) => {
    ranks[index] = z.length > 1 ? position / (z.length - 1) : 0;
  });
  react(
    rank,
    [
      {
        type: MARKERS,
        mode: "markers",
        x,
        y,
        customdata: labels.map((label, i) => [label, z[i]]),
        marker: { color: ranks, colorscale: "YlOrRd", cmin: 0, cmax: 1, size: 9, colorbar: { title: { text: "rank" } } },
        hovertemplate: `%{customdata[0]}<br>${escapeLabel(xName)}=%{x}<br>${escapeLabel(yName)}=%{y}<br>${escapeLabel(objective)}: %{customdata[1]:${PLOTLY_NUMBER}}<br>rank %{marker.color:.2f}<extra></extra>`,
      },
    ],
    layout,
  );
}

/** One trace per outcome present: a legend says which marker is which. */
function byOutcome(x) {
  return Object.entries(OUTCOMES)
    .map(([outcome, style]) => {
      const picked = observations.outcomes.map((o, i) => (o === outcome ? i : -1)).filter((i) => i >= 0);
      return {
        type: MARKERS,
        mode: "markers",
        name: style.label,
        x: picked.map((i) => x[i]),
        y: picked.map((i) => observations.values[i]),
        customdata: picked.map((i) => labels[i]),
        marker: { color: style.color, symbol: style.symbol, size: 8, line: { width: style.symbol === "x" ? 0 : 1, color: themeColors().surface } },
      };
    })
    .filter((trace) => trace.x.length);
}

/** A box per hyperparameter, all placed before any is drawn: Plotly sizes a chart to its box once. */
function sliceNodes(container) {
  if (!container.children.length) {
    for (const name of parameters.keys()) {
      const figure = document.createElement("figure");
      figure.className = "chart-box";
      const node = document.createElement("div");
      node.className = "chart";
      node.dataset.slice = name;
      figure.append(node);
      container.append(figure);
    }
  }
  return new Map([...container.querySelectorAll("[data-slice]")].map((node) => [node.dataset.slice, node]));
}

function drawSlices() {
  const container = document.getElementById("slices");
  if (!container) return;
  for (const [name, node] of sliceNodes(container)) {
    const traces = byOutcome(observations.params[name]).map((trace) => ({ ...trace, hovertemplate: hover(name, objective) }));
    react(node, traces, baseLayout({ xaxis: axis(name, name), yaxis: axis("objective", objective) }));
  }
}

function drawEdf() {
  const node = document.getElementById("chart-edf");
  if (!node) return;
  const sorted = [...observations.values].sort((a, b) => a - b);
  const trace = {
    type: "scatter",
    mode: "lines",
    line: { shape: "hv", color: COLORS.Completed },
    x: sorted,
    y: sorted.map((_, i) => (i + 1) / sorted.length),
    hovertemplate: `${escapeLabel(objective)} ≤ %{x:${PLOTLY_NUMBER}}: %{y:.0%} of training jobs<extra></extra>`,
  };
  react(node, [trace], baseLayout({ xaxis: axis("objective", objective), yaxis: { title: { text: "fraction of training jobs" }, range: [0, 1.02] } }));
}

function drawTimeline() {
  const node = document.getElementById("chart-timeline");
  if (!node) return;
  const t = data.timeline;
  const bars = t.names.map((name, i) => ({
    name,
    slot: t.slots[i],
    start: t.starts[i],
    seconds: t.seconds[i],
    outcome: t.outcomes[i],
    epochsRun: t.epochs_run[i],
    gaveBack: t.gave_back_seconds[i],
  }));
  const traces = Object.entries(OUTCOMES)
    .map(([outcome, style]) => {
      const picked = bars.filter((bar) => bar.outcome === outcome);
      return {
        type: "bar",
        orientation: "h",
        name: style.label,
        base: picked.map((bar) => bar.start),
        x: picked.map((bar) => bar.seconds * 1000),
        y: picked.map((bar) => bar.slot + 1),
        customdata: picked.map((bar) => [
          escapeLabel(bar.name),
          duration(bar.seconds),
          bar.epochsRun,
          bar.gaveBack === null ? "" : `<br>gave back about ${duration(bar.gaveBack)}`,
        ]),
        marker: { color: style.color },
        hovertemplate: "%{customdata[0]}<br>%{customdata[1]}, %{customdata[2]} epochs%{customdata[3]}<extra>" + style.label + "</extra>",
      };
    })
    .filter((trace) => trace.x.length);
  const saved = bars.filter((bar) => bar.gaveBack !== null);
  if (saved.length) {
    traces.push({
      type: "bar",
      orientation: "h",
      name: "given back by early stopping (estimate)",
      base: saved.map((bar) => bar.start + bar.seconds * 1000),
      x: saved.map((bar) => bar.gaveBack * 1000),
      y: saved.map((bar) => bar.slot + 1),
      customdata: saved.map((bar) => [escapeLabel(bar.name), duration(bar.gaveBack)]),
      marker: { color: "rgba(127, 86, 217, 0.15)", line: { color: OUTCOMES.EarlyStopped.color, width: 1 }, pattern: { shape: "/", fgcolor: OUTCOMES.EarlyStopped.color } },
      hovertemplate: "%{customdata[0]} would have run about %{customdata[1]} more<extra></extra>",
    });
  }
  const slots = bars.reduce((most, bar) => Math.max(most, bar.slot + 1), 0);
  node.style.height = `${Math.max(220, 110 + 26 * slots)}px`;
  react(
    node,
    traces,
    baseLayout({
      barmode: "overlay",
      bargap: 0.25,
      xaxis: { type: "date", title: { text: `wall time (${document.documentElement.dataset.timeZone || "UTC"})` } },
      yaxis: { title: { text: "slot" }, autorange: "reversed", dtick: 1 },
    }),
  );
}

function drawAxes() {
  drawContourAndRank();
  drawSlices();
  drawEdf();
}

drawImportance();
drawAxes();
drawTimeline();

for (const box of document.querySelectorAll("[data-log-axis]")) {
  box.addEventListener("change", () => {
    logAxes.set(box.dataset.logAxis, box.checked);
    drawAxes();
  });
}
for (const id of ["contour-x", "contour-y"]) {
  const select = document.getElementById(id);
  if (select) select.addEventListener("change", drawContourAndRank);
}
