// Charts of the compare page and the review report, drawn from the page's
// #analytics-charts JSON (built on the server; nulls are gaps). SVG traces, not
// WebGL, so that the charts print; traces are few (one per tuning job or per
// status group), so SVG stays light.
(function () {
  "use strict";

  const source = document.getElementById("analytics-charts");
  if (!source || typeof Plotly === "undefined") return;
  const data = JSON.parse(source.textContent);
  if (!data) return;

  // The dashboard's status colours (static/js/charts.js).
  const STATUS_COLORS = { Completed: "#2463eb", InProgress: "#0e9384", Stopped: "#8a94a6", Failed: "#b42318" };
  const config = { responsive: true, displaylogo: false };
  const objective = data.objective ? data.objective.name : "objective";
  const drawn = [];

  function layout(xTitle, yTitle) {
    return {
      margin: { l: 60, r: 20, t: 10, b: 50 },
      xaxis: { title: { text: xTitle }, zeroline: false },
      yaxis: { title: { text: yTitle }, zeroline: false },
      legend: { orientation: "h", y: -0.25 },
      hovermode: "closest",
    };
  }

  function draw(id, traces, chartLayout) {
    const element = document.getElementById(id);
    if (!element) return;
    if (!traces.length) {
      element.textContent = "Nothing to draw yet.";
      element.classList.add("chart-empty");
      return;
    }
    Plotly.newPlot(element, traces, chartLayout, config);
    drawn.push(element);
  }

  function statusTraces(groups, mode) {
    return Object.keys(STATUS_COLORS)
      .filter((status) => groups && groups[status])
      .map((status) => ({
        type: "scatter",
        mode: mode,
        name: status,
        x: groups[status].x,
        y: groups[status].y,
        text: groups[status].text,
        hovertemplate: "%{text}<br>%{x}: %{y}<extra>" + status + "</extra>",
        line: { color: STATUS_COLORS[status], width: 1 },
        marker: { color: STATUS_COLORS[status], size: 7 },
        connectgaps: false,
      }));
  }

  if (data.best_so_far) {
    draw(
      "chart-best-so-far",
      data.best_so_far
        .filter((series) => series.x.length)
        .map((series) => ({
          type: "scatter",
          mode: "lines+markers",
          line: { shape: "hv" },
          name: series.name + " (early stopping " + series.early_stopping + ")",
          x: series.x.map((seconds) => seconds / 60),
          y: series.y,
          text: series.text,
          hovertemplate: "%{text}<br>%{x:.1f} min: %{y}<extra>" + series.name + "</extra>",
        })),
      layout("cumulative training time (min)", "best " + objective + " so far")
    );
  }
  if (data.by_job) {
    draw("chart-by-job", statusTraces(data.by_job, "markers"), layout("training job (launch order)", objective));
  }
  if (data.curves) {
    draw("chart-curves", statusTraces(data.curves, "lines"), layout("epoch", objective));
  }

  // Fit the charts to the page before printing, and back afterwards.
  function resizeAll() {
    drawn.forEach((element) => Plotly.Plots.resize(element));
  }
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);

  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
})();
