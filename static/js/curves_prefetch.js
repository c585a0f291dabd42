// Started from <head>, before plotly.js loads: the server reads the curves while the
// browser compiles plotly.js; tuning_job_detail.js reads the answer. A file of its own,
// not an inline script, so the Content-Security-Policy can refuse every inline script.
window.tuneboardCurves = fetch(document.currentScript.dataset.curvesUrl, {
  headers: { Accept: "application/json" },
  credentials: "same-origin",
}).catch(() => null);
