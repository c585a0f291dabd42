// Charts of the compare page and the review report, drawn from the page's
// #analytics-charts JSON (built on the server; nulls are gaps). SVG, not WebGL,
// so that the charts print; traces are few (one per tuning job or per status
// group), and the learning curves are one path per status group, as on the
// tuning job page (curveGroup), so SVG stays light.
import { escapeLabel } from "../js/charts/common.js";
import { curveGroup } from "../js/charts/learning_curves.js";
import { PLOTLY_NUMBER } from "../js/format.js";

const source = document.getElementById("analytics-charts");
const data = source && typeof Plotly !== "undefined" ? JSON.parse(source.textContent) : null;
if (data) {
  // The dashboard's status colours (static/js/charts/common.js).
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

  async function printFigure(element) {
    // The size it was drawn at (a chart drawn while the page was already in print media has
    // plotly's default size, its box being hidden then).
    const { width, height } = element._fullLayout;
    const url = await Plotly.toImage(element, { format: "png", width, height, scale: 2 });
    const image = document.createElement("img");
    image.className = "print-figure";
    image.alt = "";
    image.src = url;
    await image.decode();
    element.after(image);
  }

  function statusMarkers(groups) {
    return Object.keys(STATUS_COLORS)
      .filter((status) => groups && groups[status])
      .map((status) => ({
        type: "scatter",
        mode: "markers",
        name: status,
        x: groups[status].x,
        y: groups[status].y,
        text: groups[status].text,
        hovertemplate: `%{text}<br>%{x}: %{y:${PLOTLY_NUMBER}}<extra>${status}</extra>`,
        marker: { color: STATUS_COLORS[status], size: 7 },
      }));
  }

  /** Each status group's curves ({names, curves: [[[epoch, value], ...], ...]}) as one path with hover. */
  function curveFigure(groups) {
    const traces = [];
    const shapes = [];
    for (const [status, color] of Object.entries(STATUS_COLORS)) {
      const group = groups[status];
      if (!group) continue;
      const curves = group.curves.map((points, i) => ({
        x: points.map((point) => point[0]),
        y: points.map((point) => point[1]),
        info: [escapeLabel(group.names[i])],
      }));
      const hovertemplate = `%{customdata[0]}<br>%{x}: %{y:${PLOTLY_NUMBER}}<extra>${status}</extra>`;
      const figure = curveGroup({ key: status, name: status, line: { color, width: 1 } }, curves, hovertemplate);
      shapes.push(figure.shape);
      traces.push(...figure.traces);
    }
    return { traces, shapes };
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
          hovertemplate: `%{text}<br>%{x:.1f} min: %{y:${PLOTLY_NUMBER}}<extra>${series.name}</extra>`,
        })),
      layout("cumulative training time (min)", "best " + objective + " so far")
    );
  }
  if (data.by_job) {
    draw("chart-by-job", statusMarkers(data.by_job), layout("training job (launch order)", objective));
  }
  if (data.curves) {
    const { traces, shapes } = curveFigure(data.curves.groups);
    draw("chart-curves", traces, { ...layout("epoch", objective), shapes });
  }

  // Paper gets a picture of each chart, which scales to the page's width like any image. The
  // SVG charts keep the size they were drawn at, and a browser printing without a window
  // (page.pdf()) sends no beforeprint event to resize them: they spilled over their captions.
  Promise.all(drawn.map(printFigure)).then(() => {
    document.body.dataset.printReady = "true";
  });

  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
}
