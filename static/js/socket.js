// A JSON websocket that reconnects by itself, with exponential backoff and jitter.
//
// The page decides what to send on (re)connection through `onOpen`: the tuning
// job page sends its catch-up cursor there, so a dropped connection costs no
// point and doubles none.

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// The close code the server sends a socket whose user may no longer read it (jobs.consumers.ACCESS_REVOKED).
const ACCESS_REVOKED = 4403;

export function socketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

/**
 * JSON.parse, and if that fails, again with the NaN and Infinity that Python's json
 * writes (a diverged training job's objective) read as null, outside strings only.
 */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    let out = "";
    let inString = false;
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i];
      if (inString) {
        out += c;
        if (c === "\\") {
          i += 1;
          out += text[i];
        } else if (c === '"') {
          inString = false;
        }
        continue;
      }
      const token = ["NaN", "-Infinity", "Infinity"].find((t) => text.startsWith(t, i));
      if (token) {
        out += "null";
        i += token.length - 1;
        continue;
      }
      if (c === '"') inString = true;
      out += c;
    }
    if (out === text) throw error;
    return JSON.parse(out);
  }
}

export class LiveSocket {
  /**
   * @param {string} path  e.g. "/ws/tuning-jobs/"
   * @param {{onOpen?: (socket: LiveSocket) => void, onMessage?: (message: object) => void,
   *          onState?: (state: "connecting"|"live"|"reconnecting"|"closed") => void}} handlers
   */
  constructor(path, { onOpen, onMessage, onState } = {}) {
    this.url = socketUrl(path);
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onState = onState;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
    this.ws = null;
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("pagehide", () => this.close());
    // Closing on pagehide lets the browser keep the page in its back/forward
    // cache; when it comes back from there, its socket must come back too, or
    // the page would show what it knew when it was left, frozen.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.reopen();
    });
    this.connect();
  }

  reopen() {
    this.closed = false;
    this.attempt = 1; // a reconnection: the page asks what changed while it was away
    this.connect();
  }

  connect() {
    this.timer = null;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.setState("live");
      if (this.onOpen) this.onOpen(this);
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = parseJson(event.data);
      } catch {
        return;
      }
      if (this.onMessage) this.onMessage(message);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws || this.closed) return;
      if (event.code === ACCESS_REVOKED) {
        // Logged out, deactivated or out of the team: reconnecting would be refused.
        // Reloaded, the page shows what its user may see now (the login, or a 404).
        this.closed = true;
        this.setState("closed");
        window.location.reload();
        return;
      }
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    this.setState("reconnecting");
    const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.closed || !this.timer) return;
    window.clearTimeout(this.timer);
    this.connect();
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    if (this.timer) window.clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.setState("closed");
  }

  setState(state) {
    this.state = state;
    if (this.onState) this.onState(state);
  }
}
