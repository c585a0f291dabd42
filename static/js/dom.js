// Small helpers shared by the page modules. Text goes in with textContent only:
// names, hyperparameters and log lines are user-controlled.

export function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

/** el("td", {className: "num", dataset: {field: "status"}}, "text" | Node, ...) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { dataset, attrs, ...rest } = props;
  Object.assign(node, rest);
  for (const [key, value] of Object.entries(dataset || {})) node.dataset[key] = value;
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(node, text) {
  if (node && node.textContent !== String(text)) node.textContent = String(text);
}

export function showLiveState(node, state) {
  if (!node) return;
  node.hidden = false;
  node.dataset.state = state;
  const labels = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", closed: "offline", idle: "" };
  setText(node, labels[state] ?? state);
}

export const ACTIVE_STATUSES = new Set(["InProgress", "Stopping"]);

/** Statuses only move forward; an older event arriving late must not undo a newer one. */
const STATUS_RANK = { InProgress: 0, Stopping: 1, Completed: 2, Stopped: 2, Failed: 2 };
export function isNewerStatus(current, next) {
  if (!current) return true;
  return (STATUS_RANK[next] ?? 0) >= (STATUS_RANK[current] ?? 0);
}

export function setStatusBadge(node, status) {
  if (!node) return;
  node.className = node.className.replace(/\bstatus-\S+/g, "").trim() + ` status-${status}`;
  setText(node, status);
}
