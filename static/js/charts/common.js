// What every chart family shares: plotly.js's arrival, colours, layout, hover labels, clicks.
//
// One module per chart family (learning_curves.js, objective.js,
// parallel_coordinates.js), each imported by the pages that draw it: the tuning
// job page draws them all, the compare page and the report the learning curves.

// plotly.js loads in parallel with this module (the page's socket and data
// requests start while it compiles): read it when drawing, after `plotlyReady`.
export const plotly = () => globalThis.Plotly;

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
export function groupOf(status) {
  if (status === "Stopping" || status === "InProgress" || !status) return "InProgress";
  return status;
}

const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

/** The page's colours (tuneboard.css, dark mode included), for what plotly draws itself. */
export function themeColors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return { fg: read("--fg", "#1d2330"), surface: read("--surface", "#fff"), line: read("--line", "#dde2ea") };
}

export function baseLayout(extra = {}) {
  const colors = themeColors();
  const axis = { gridcolor: colors.line, linecolor: colors.line, zerolinecolor: colors.line };
  return {
    font: { family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12, color: colors.fg },
    margin: { l: 56, r: 16, t: 12, b: 44 },
    paper_bgcolor: colors.surface,
    plot_bgcolor: colors.surface,
    template: { layout: { xaxis: axis, yaxis: axis } },
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
export function drawn(node, jobs) {
  // Two animation frames: the browser has painted what Plotly drew.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      node.dataset.drawnJobs = jobs;
      performance.mark(`${node.id}-drawn`, { detail: jobs });
    }),
  );
}

export function emptyNote(text) {
  return [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#5b6475" } }];
}

/**
 * What an empty per-job chart says: "no value yet" only once the page has read the tuning job.
 * The charts below the fold are first drawn empty (`state.pending`), to show their axes, and
 * drawn with the jobs when scrolled to; until then they claimed there was nothing to show.
 */
export function noObjectiveNote(state) {
  return emptyNote(state.pending ? "Drawn when scrolled into view…" : "No objective value yet.");
}

/** Plotly renders a little HTML in hover labels; names and values are the user's, so escape them. */
export function escapeLabel(text) {
  return String(text).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

// Longer category labels are cut on an axis (hover labels keep them whole): a long one
// otherwise squeezed the plot into a sliver or ran off its card.
const MAX_TICK_LABEL = 18;

export function tickLabel(text) {
  const label = String(text);
  return label.length > MAX_TICK_LABEL ? `${label.slice(0, MAX_TICK_LABEL - 1)}…` : label;
}

/** "lr=0.01<br>optimizer=adam": a job's tuned hyperparameters for its hover label, computed once per job. */
export function hoverInfo(job) {
  if (!job.hover) {
    const pairs = Object.entries(job.hyperparameters || {}).map(([k, v]) => escapeLabel(`${k}=${v}`));
    job.hover = [escapeLabel(job.name), pairs.join("<br>")];
  }
  return job.hover;
}

export function jobsInOrder(state) {
  return [...state.jobs.values()].sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
}

/** Plotly.react with the pages' chart config: updates the chart in place if it exists. */
export function react(node, traces, layout) {
  const drawing = plotly().react(node, traces, layout, PLOT_CONFIG);
  followWidth(node);
  return drawing;
}

const followed = new WeakSet();
const resizeObserver =
  "ResizeObserver" in globalThis
    ? new ResizeObserver((entries) => {
        for (const { target } of entries) {
          if (target.isConnected && target._fullLayout) plotly().Plots.resize(target);
        }
      })
    : null;

/**
 * Keep the chart as wide as its box. Plotly's `responsive` follows only window
 * resizes: a chart drawn while its grid had one column stays that wide when a
 * second chart joins the grid, a card opens or the page is printed.
 */
export function followWidth(node) {
  if (!resizeObserver || followed.has(node)) return;
  followed.add(node);
  resizeObserver.observe(node);
}

export function betterThan(type) {
  return type === "Minimize" ? (a, b) => a < b : (a, b) => a > b;
}

export function numeric(value) {
  const number = Number.parseFloat(value);
  return Number.isFinite(number) ? number : null;
}

export function jobsWithObjective(state) {
  return jobsInOrder(state).filter((job) => job.objective !== null && job.objective !== undefined);
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
