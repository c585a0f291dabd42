// The tuning jobs list: rows update in place from /ws/tuning-jobs/, wall times tick,
// and a tuning job created after the page loaded shows a "reload" notice.

import { ACTIVE_STATUSES, readJson, setStatusBadge, setText, showLiveState } from "./dom.js";
import * as format from "./format.js";
import { LiveSocket } from "./socket.js";

const config = readJson("page-config");
const table = document.querySelector('[data-testid="tuning-jobs-table"]');
const notice = document.querySelector('[data-testid="new-tuning-jobs"]');
const liveState = document.querySelector('[data-testid="live-state"]');
// Active tuning jobs when the page was drawn, on this page or another: an event
// for any other name is a tuning job created since.
const known = new Set(config.active);

function rowFor(name) {
  for (const row of table.tBodies[0].rows) if (row.dataset.name === name) return row;
  return null;
}

function matchesFilters(message) {
  if (config.status && message.status !== config.status) return false;
  return !config.query || message.name.toLowerCase().includes(config.query.toLowerCase());
}

function update(message) {
  const row = rowFor(message.name);
  if (!row) {
    if (!known.has(message.name) && matchesFilters(message)) notice.hidden = false;
    known.add(message.name);
    return;
  }
  setStatusBadge(row.querySelector('[data-field="status"]'), message.status);
  for (const [key, value] of Object.entries(message.counters || {})) {
    setText(row.querySelector(`[data-counter="${key}"]`), value);
  }
  setText(row.querySelector('[data-field="best"]'), format.number(message.best));
  const active = ACTIVE_STATUSES.has(message.status);
  row.dataset.active = String(active);
  const wall = row.querySelector('[data-field="wall"]');
  if (!active && !wall.dataset.ended) wall.dataset.ended = new Date().toISOString();
}

function tickWallTimes() {
  const now = Date.now();
  for (const row of table.tBodies[0].rows) {
    const wall = row.querySelector('[data-field="wall"]');
    if (!wall || wall.dataset.ended || row.dataset.active !== "true") continue;
    setText(wall, format.duration((now - Date.parse(wall.dataset.created)) / 1000));
  }
}

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

new LiveSocket(config.socket, {
  onMessage(message) {
    if (message.type === "tuning_job") update(message);
  },
  onState: (state) => showLiveState(liveState, state),
});
window.setInterval(tickWallTimes, 1000);
