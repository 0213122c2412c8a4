// The server's API: JSON calls with the party's key, problem details as errors, the event stream.

/** A refused call: `status` and the RFC 9457 problem (`detail`, `errors`, `items`, ...). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  /** GET or send JSON; answers the parsed body or throws ApiError. */
  async call(method, path, body = undefined, raw = false) {
    const init = { method, headers: this.headers() };
    if (body !== undefined) {
      init.body = raw ? body : JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, { detail: `the server does not answer (${error.message})` });
    }
    const text = await response.text();
    let parsed = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { detail: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  get(path) {
    return this.call("GET", path);
  }

  post(path, body, raw = false) {
    return this.call("POST", path, body, raw);
  }

  /** The number of the party's latest event (pages through `?after=`). */
  async lastEvent() {
    let after = 0;
    for (;;) {
      const page = await this.get(`/v1/events?after=${after}&limit=5000`);
      if (page.events.length < 5000) return page.last;
      after = page.last;
    }
  }

  /**
   * Reads the Server-Sent Events after event `after` with fetch (EventSource cannot send the
   * key), calling onEvent(kind, data, id) for each; reconnects with Last-Event-ID until
   * `signal` aborts. onState(true|false) tells whether the stream is up.
   */
  async stream(after, onEvent, onState, signal) {
    let last = after;
    while (!signal.aborted) {
      try {
        const response = await fetch("/v1/events", {
          headers: this.headers({ "Last-Event-ID": String(last), Accept: "text/event-stream" }),
          signal,
        });
        if (response.status === 401) {
          onState(false, "key refused");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onState(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = parseBlock(block);
            if (event && event.data !== "") {
              if (event.id !== null) last = Number(event.id);
              let data = null;
              try {
                data = JSON.parse(event.data);
              } catch {
                continue;
              }
              onEvent(event.event, data, last);
            }
          }
        }
      } catch (error) {
        if (signal.aborted) return;
      }
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

function parseBlock(block) {
  const event = { id: null, event: "message", data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") data.push(value);
    else if (field === "id") event.id = value;
    else if (field === "event") event.event = value;
  }
  if (!data.length && event.id === null) return null;
  event.data = data.join("\n");
  return event;
}
