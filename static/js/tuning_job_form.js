// The create form: add and remove range and static-hyperparameter rows (Django
// formsets), offer the chosen algorithm's metrics as objectives, and show the
// Hyperband fields only for Hyperband. The server validates everything again.

import { el, readJson } from "./dom.js";

const form = document.querySelector('[data-testid="tuning-job-form"]');
const algorithms = readJson("algorithms") || {};

// --- rows ---------------------------------------------------------------------------

function totalForms(prefix) {
  return form.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
}

function addRow(prefix) {
  const template = form.querySelector(`template[data-row-template="${prefix}"]`);
  const total = totalForms(prefix);
  const index = Number(total.value);
  const fragment = template.content.cloneNode(true);
  for (const node of fragment.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
    for (const attr of ["name", "id", "for", "aria-describedby"]) {
      const value = node.getAttribute(attr);
      if (value) node.setAttribute(attr, value.replaceAll("__prefix__", String(index)));
    }
  }
  const row = fragment.querySelector("[data-row]");
  form.querySelector(`tbody[data-rows="${prefix}"]`).append(fragment);
  total.value = String(index + 1);
  enhanceRow(row);
  row.querySelector("input, select").focus();
}

function enhanceRow(row) {
  const box = row.querySelector('input[type="checkbox"][name$="-DELETE"]');
  if (box && !row.querySelector("button.remove-row")) {
    const label = box.closest("label");
    label.hidden = true;
    const button = el("button", { type: "button", className: "link remove-row", title: "Remove this row" }, "Remove");
    button.addEventListener("click", () => {
      box.checked = true;
      row.hidden = true;
      const errors = row.nextElementSibling;
      if (errors && errors.matches("[data-row-errors]")) errors.hidden = true;
    });
    label.after(button);
    if (box.checked) row.hidden = true;
  }
  const type = row.querySelector('select[name$="-type"]');
  if (type) {
    type.addEventListener("change", () => showRangeKind(row));
    showRangeKind(row);
  }
}

function showRangeKind(row) {
  const categorical = row.querySelector('select[name$="-type"]').value === "Categorical";
  for (const cell of row.querySelectorAll("[data-numeric]")) toggleCell(cell, !categorical);
  for (const cell of row.querySelectorAll("[data-categorical]")) toggleCell(cell, categorical);
}

function toggleCell(cell, enabled) {
  cell.toggleAttribute("data-disabled", !enabled);
  for (const input of cell.querySelectorAll("input, select")) input.disabled = !enabled;
}

for (const row of form.querySelectorAll("[data-row]")) enhanceRow(row);
for (const button of form.querySelectorAll("[data-add-row]")) {
  button.addEventListener("click", () => addRow(button.dataset.addRow));
}

// --- algorithm -> objective metrics ------------------------------------------------------

const algorithmSelect = form.querySelector('select[name="algorithm_name"]');
const metricSelect = form.querySelector('select[name="objective_metric_name"]');
const description = form.querySelector("[data-algorithm-description]");
const defaults = form.querySelector("[data-algorithm-defaults]");
const tunableHint = form.querySelector("[data-algorithm-hyperparameters]");
const tunableList = form.querySelector("#tunable-hyperparameters");

// `chosen` says whether the user just picked the algorithm: then its own objective (metric and
// goal) is selected, as the page does for the first algorithm; otherwise the form's stays.
function showAlgorithm(chosenNow = false) {
  const algorithm = algorithms[algorithmSelect.value];
  if (!algorithm) return;
  const chosen = chosenNow && algorithm.objective ? algorithm.objective[0] : metricSelect.value;
  if (chosenNow && algorithm.objective) {
    const goal = form.querySelector(`input[name="objective_type"][value="${algorithm.objective[1]}"]`);
    if (goal) goal.checked = true;
  }
  const metrics = [...algorithm.metrics];
  // A submitted metric the algorithm lacks stays, so its error still sits next to it.
  if (chosen && !metrics.includes(chosen) && metricSelect.closest(".has-error")) metrics.push(chosen);
  metricSelect.replaceChildren(...metrics.map((name) => el("option", { value: name, selected: name === chosen }, name)));
  description.textContent = algorithm.description;
  const statics = Object.entries(algorithm.static_hyperparameters);
  defaults.textContent = statics.length
    ? `The algorithm's defaults, which rows here override: ${statics.map(([k, v]) => `${k}=${v}`).join(", ")}.`
    : "The algorithm has no default hyperparameters.";
  showHyperparameters(algorithm.hyperparameters || []);
}

// What the algorithm declares it accepts (SageMaker's SupportedHyperParameters): the tunable ones
// are offered as range names, and the server refuses any other.
function showHyperparameters(declared) {
  const tunable = declared.filter((hyperparameter) => hyperparameter.tunable);
  tunableList.replaceChildren(
    ...tunable.map((hyperparameter) => el("option", { value: hyperparameter.name }, hyperparameter.valid)),
  );
  tunableHint.textContent = declared.length
    ? `Tunable: ${tunable.map((h) => `${h.name} (${h.valid})`).join("; ") || "none"}.`
    : "The algorithm does not declare its hyperparameters: any name is accepted.";
}

if (algorithmSelect) {
  algorithmSelect.addEventListener("change", () => showAlgorithm(true));
  showAlgorithm();
}

// --- strategy -----------------------------------------------------------------------------

const strategySelect = form.querySelector('select[name="strategy"]');
const hyperbandFields = form.querySelector("[data-hyperband-only]");

function showStrategy() {
  const hyperband = strategySelect.value === "Hyperband";
  const hasErrors = hyperbandFields.querySelector(".has-error") !== null;
  hyperbandFields.hidden = !hyperband && !hasErrors;
}

strategySelect.addEventListener("change", showStrategy);
showStrategy();

// --- submit ---------------------------------------------------------------------------------

const summary = form.querySelector('[data-testid="error-summary"]');
if (summary) summary.focus();
const submit = form.querySelector('[data-testid="create-button"]');
form.addEventListener("submit", () => {
  submit.disabled = true; // one tuning job per click
});
// Coming back to the page from history restores it as it was left, button included.
window.addEventListener("pageshow", () => {
  submit.disabled = false;
});
