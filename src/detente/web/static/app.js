// Détente's page: one party's operational picture. Signs in, loads the party's items, notices,
// messages and live tracks, and keeps them current from the event stream.

import { Api, ApiError } from "./api.js";
import { conflictTitle, conflictWhere, renderInbox, renderThread, toAnswer } from "./inbox.js";
import { MapView } from "./map.js";
import { Timeline, drawProfile } from "./timeline.js";
import { Upload } from "./upload.js";
import { View3D } from "./view3d.js";
import { debounce, el, hhmm, isoUtc, seconds } from "./util.js";

const $ = (id) => document.getElementById(id);
const KEY = "detente.key";

const state = {
  api: null,
  me: null,
  items: [],
  conflicts: [],
  details: new Map(), // conflict id -> GET /v1/conflicts/{id} (with our item whole)
  messages: [],
  tracks: [],
  alerts: [],
  selected: { item: null, conflict: null, thread: null },
  clockOffset: 0, // exercise clock minus the browser's clock, seconds
  follow: true, // the timeline follows the clock until the user moves it
  time: null,
  abort: null,
};

const now = () => Date.now() / 1000 + state.clockOffset;
/** The server's clock for judging deadlines, or null when the server did not say (trust its marks). */
const clockNow = () => (state.clockKnown ? now() : null);

let map, timeline, upload, view3d;

async function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("key")) {
    sessionStorage.setItem(KEY, fragment.get("key"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("key").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("alert-dismiss").addEventListener("click", () => ($("alert-banner").hidden = true));
  $("alert-text").addEventListener("click", () => state.bannerConflict && selectConflict(state.bannerConflict));
  $("thread-close").addEventListener("click", closeThread);
  $("time-now").addEventListener("click", () => {
    state.follow = true;
    timeline.set(now());
  });
  for (const button of document.querySelectorAll(".answer-buttons button")) {
    button.addEventListener("click", () => answer(button.dataset.type));
  }
  $("send-query").addEventListener("click", sendQuery);
  map = new MapView($("map"), { onItem: (id) => selectItem(id), onConflict: (id) => selectConflict(id) });
  view3d = new View3D($("map-3d"), $("map"), $("view-3d"));
  timeline = new Timeline((t, byUser) => {
    if (byUser) state.follow = false;
    state.time = t;
    map.setTime(t);
    view3d.setTime(t);
    drawSelectedProfile();
  });
  window.addEventListener("resize", debounce(drawSelectedProfile, 150));
  setInterval(tick, 1000);
  loadConfig();
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
  else showSignIn();
}

async function loadConfig() {
  let config = {};
  try {
    config = await (await fetch("/v1/config")).json();
  } catch {
    config = {};
  }
  const clock = typeof config.now === "string" ? seconds(config.now) : config.now;
  if (Number.isFinite(clock)) {
    state.clockOffset = clock - Date.now() / 1000;
    state.clockKnown = true;
  }
  view3d.setBase(config.tile_url || null);
  await map.loadBase(config.tile_url || null);
}

function showSignIn(message = null) {
  $("signin").hidden = false;
  $("sign-in-error").hidden = !message;
  $("sign-in-error").textContent = message || "";
  $("key").focus();
}

async function signIn(key) {
  if (!key) return showSignIn("Enter your party's API key.");
  const api = new Api(key);
  try {
    const me = await api.get("/v1/me");
    state.api = api;
    state.me = me.party;
  } catch (error) {
    sessionStorage.removeItem(KEY);
    return showSignIn(error instanceof ApiError ? error.message : String(error));
  }
  sessionStorage.setItem(KEY, key);
  $("signin").hidden = true;
  $("key").value = "";
  $("party").textContent = state.me;
  document.title = `Détente — ${state.me}`;
  upload = upload || new Upload(api, () => refresh(["items", "conflicts"]), (found) => map.setPreview(found));
  upload.api = api;
  await refresh(["items", "conflicts", "messages", "tracks"]);
  map.fitAll();
  const first = state.conflicts.find((c) => c.status !== "resolved" && c.own.kind === "flight");
  if (!state.selected.item && first) selectItem(first.own.id, false);
  timeline.set(now());
  listen();
  clearInterval(state.poll);
  state.poll = setInterval(() => refresh(["tracks"]), 3000);
}

function signOut() {
  sessionStorage.removeItem(KEY);
  if (state.abort) state.abort.abort();
  clearInterval(state.poll);
  state.api = null;
  location.reload();
}

/** Reloads parts of the picture from the API and redraws what depends on them. */
async function refresh(parts) {
  const api = state.api;
  if (!api) return;
  try {
    const [items, conflicts, messages, tracks, alerts] = await Promise.all([
      parts.includes("items") ? api.get("/v1/items") : null,
      parts.includes("conflicts") ? api.get("/v1/conflicts") : null,
      parts.includes("messages") ? api.get("/v1/messages") : null,
      parts.includes("tracks") ? api.get("/v1/tracks") : null,
      parts.includes("tracks") ? api.get("/v1/alerts") : null,
    ]);
    if (items) state.items = items.items;
    if (conflicts) state.conflicts = conflicts.conflicts;
    if (messages) state.messages = messages.messages;
    if (tracks) state.tracks = tracks.tracks;
    if (alerts) state.alerts = alerts.alerts;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showSignIn(error.message);
    showBanner(`Could not reach the server: ${error.message}`, "caution");
    return;
  }
  if (parts.includes("items") || parts.includes("conflicts")) {
    if (!state.conflicts.some((c) => c.id === state.selected.conflict) && state.selected.conflict) closeThread();
    await fetchMissingDetails();
    renderItems();
    map.setItems(state.items);
    map.setConflicts(state.conflicts, features());
    view3d.setData(state.items, state.conflicts, features());
    map.selectItem(state.selected.item, false);
    timeline.setSpan(state.items, state.conflicts, (c) => selectConflict(c.id), now());
    drawSelectedProfile();
  }
  if (parts.includes("tracks")) map.setTracks(state.tracks, state.alerts);
  renderInboxNow();
  if (state.selected.conflict || state.selected.thread) showThread();
}

/** Our item's Feature for conflicts about items we no longer list (withdrawn, expired). */
async function fetchMissingDetails() {
  const listed = new Set(state.items.map((i) => i.id));
  const missing = state.conflicts.filter((c) => !listed.has(c.own.id) && !state.details.has(c.id));
  await Promise.all(missing.slice(0, 50).map(async (c) => {
    try {
      state.details.set(c.id, await state.api.get(`/v1/conflicts/${c.id}`));
    } catch {
      /* drawn without our part */
    }
  }));
}

function features() {
  const out = new Map();
  for (const detail of state.details.values()) if (detail.own.feature) out.set(detail.own.id, detail.own.feature);
  for (const item of state.items) out.set(item.id, item.feature);
  return out;
}

function renderItems() {
  const counts = new Map();
  for (const c of state.conflicts) if (c.status !== "resolved") counts.set(c.own.id, (counts.get(c.own.id) || 0) + 1);
  const order = ["flight", "airspace", "zone", "strike", "ground"];
  const items = [...state.items].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || seconds(a.start) - seconds(b.start));
  const rows = items.map((item) => {
    const p = item.feature.properties || {};
    const n = counts.get(item.id) || 0;
    const extra = item.kind === "flight" ? p.aircraft : p.alt_upper_m !== undefined ? `${p.alt_lower_m ?? "SFC"}–${p.alt_upper_m} m` : p.radius_m ? `r ${p.radius_m} m` : "";
    return el("li", {
      class: ["row", "item", `kind-${item.kind}`, item.id === state.selected.item ? "selected" : "", n ? "has-conflict" : ""].join(" "),
      testid: `item-${item.id}`,
      data: { itemId: item.id },
      tabindex: "0",
      on: { click: () => selectItem(item.id) },
    },
    el("div", { class: "row-top" },
      el("span", { class: `tag tag-kind-${item.kind}`, text: item.kind }),
      el("span", { class: "row-title", text: [item.id, p.callsign, p.name].filter((x, i, a) => x && a.indexOf(x) === i).join(" · ") }),
      n ? el("span", { class: "badge overdue", text: `${n} conflict${n > 1 ? "s" : ""}` }) : null),
    el("div", { class: "row-sub", text: `${hhmm(seconds(item.start))}–${hhmm(seconds(item.end))}${extra ? " · " + extra : ""} · v${item.version}` }));
  });
  if (!rows.length) rows.push(el("li", { class: "empty", text: "No active items: file a plan below." }));
  $("item-list").replaceChildren(...rows);
  $("item-count").textContent = String(state.items.length);
}

function renderInboxNow() {
  const summary = renderInbox(
    { conflicts: state.conflicts, messages: state.messages, me: state.me, now: clockNow(), selected: state.selected },
    { onConflict: selectConflict, onThread: selectThread },
  );
  $("summary").replaceChildren(
    el("span", { class: summary.open ? "pill bad" : "pill good", text: `${summary.open} open conflict${summary.open === 1 ? "" : "s"}` }),
    summary.overdue ? el("span", { class: "pill overdue", text: `${summary.overdue} overdue` }) : "",
    state.alerts.length ? el("span", { class: "pill warn", text: `${state.alerts.length} live alert${state.alerts.length === 1 ? "" : "s"}` }) : "",
  );
}

function selectItem(id, zoom = true) {
  state.selected.item = id;
  map.selectItem(id, zoom);
  for (const row of document.querySelectorAll("#item-list .row")) row.classList.toggle("selected", row.dataset.itemId === id);
  const row = document.querySelector(`#item-list [data-item-id="${CSS.escape(id)}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
  drawSelectedProfile();
}

function drawSelectedProfile() {
  const item = state.items.find((i) => i.id === state.selected.item) ||
    (state.details.get(state.selected.conflict) || {}).own;
  const record = item && item.feature ? { start: item.start, end: item.end, ...item, kind: item.kind } : null;
  drawProfile($("profile"), record, state.conflicts.filter((c) => c.status !== "resolved"), state.time);
}

async function selectConflict(id) {
  const conflict = state.conflicts.find((c) => c.id === id);
  if (!conflict) return;
  state.selected.conflict = id;
  state.selected.thread = null;
  if (!state.details.has(id)) {
    try {
      state.details.set(id, await state.api.get(`/v1/conflicts/${id}`));
    } catch {
      /* the list's view suffices */
    }
  }
  if (conflict.status === "resolved") map.setConflicts(state.conflicts, features());
  map.selectConflict(id);
  state.follow = false;
  timeline.set(seconds(conflict.worst.time));
  selectItem(conflict.own.id, false);
  renderInboxNow();
  showThread();
}

function selectThread(thread) {
  state.selected.thread = thread;
  state.selected.conflict = null;
  renderInboxNow();
  showThread();
}

function closeThread() {
  state.selected.conflict = null;
  state.selected.thread = null;
  $("thread-panel").hidden = true;
  renderInboxNow();
}

function threadMessages() {
  const { conflict, thread } = state.selected;
  return state.messages.filter((m) => (conflict ? m.conflict === conflict : m.thread === thread));
}

function showThread() {
  const conflict = state.conflicts.find((c) => c.id === state.selected.conflict);
  const messages = threadMessages();
  let head;
  if (conflict) {
    head = [
      el("div", { class: "thread-title", text: conflictTitle(conflict) }),
      el("div", { class: "row-sub", text: conflictWhere(conflict) }),
      el("div", { class: "row-sub", text: `worst at ${conflict.worst.position[1].toFixed(3)}°N ${conflict.worst.position[0].toFixed(3)}°E, ${Math.round(conflict.worst.position[2])} m · ${conflict.status}` }),
    ];
  } else if (messages.length) {
    head = [el("div", { class: "thread-title", text: `Hotline with ${messages[0].from === state.me ? messages[0].to : messages[0].from}` })];
  } else {
    $("thread-panel").hidden = true;
    return;
  }
  renderThread(head, messages, state.me, clockNow());
}

async function answer(type) {
  const messages = threadMessages();
  const parent = toAnswer(messages, state.me);
  const body = { type, text: $("query-text").value.trim() };
  if (state.selected.conflict) body.conflict = state.selected.conflict;
  if (parent) body.in_reply_to = parent.id;
  if (!body.conflict && !body.in_reply_to) return;
  await send(body);
}

async function sendQuery() {
  const text = $("query-text").value.trim();
  if (!text) return status("Write the query first.", true);
  const body = { type: "query", text };
  if (state.selected.conflict) body.conflict = state.selected.conflict;
  else {
    const parent = threadMessages().pop();
    if (!parent) return;
    body.in_reply_to = parent.id;
  }
  const within = Number($("respond-within").value);
  if (within && state.selected.conflict) body.respond_by = isoUtc(now() + within);
  await send(body);
}

async function send(body) {
  try {
    const sent = await state.api.post("/v1/messages", body);
    $("query-text").value = "";
    status(`${sent.type.toUpperCase()} sent to ${sent.to} at ${hhmm(seconds(sent.sent_at), true)}.`);
    await refresh(["messages"]);
  } catch (error) {
    status(`Not sent: ${error.message}`, true);
  }
}

function status(text, bad = false) {
  $("answer-status").textContent = text;
  $("answer-status").className = `answer-status ${bad ? "bad" : "good"}`;
}

/** Follows the party's event stream from its latest event; each new event updates the page. */
async function listen() {
  if (state.abort) state.abort.abort();
  state.abort = new AbortController();
  let after = 0;
  try {
    after = await state.api.lastEvent();
  } catch {
    after = 0;
  }
  const update = debounce((parts) => refresh([...parts]), 250);
  const pending = new Set();
  state.api.stream(after, (kind, data) => {
    const [family] = kind.split(".");
    if (family === "item" || family === "conflict") pending.add("items").add("conflicts");
    if (family === "message") pending.add("messages");
    if (family === "alert" || family === "track") pending.add("tracks");
    update(pending);
    announce(kind, data);
  }, (up, why) => {
    $("live").textContent = up ? "live" : why || "reconnecting";
    $("live").className = up ? "live up" : "live";
  }, state.abort.signal);
}

/** The banner for events that need the officer's eye. */
function announce(kind, data) {
  if (kind === "conflict.raised" && data.conflict) {
    const c = data.conflict;
    showBanner(`New conflict: ${conflictTitle(c)} — ${conflictWhere(c)}`, "warning", c.id);
  } else if (kind === "alert.raised" || kind === "alert.escalated") {
    const a = data.alert || {};
    const other = a.other && a.other.party ? ` with ${a.other.party}` : "";
    const own = a.own ? a.own.callsign || a.own.uid || a.own.item || "" : "";
    showBanner(`${(a.level || "").toUpperCase()}: ${a.type || "alert"} ${own}${other}`, a.level || "caution");
  } else if (kind === "message.sent" && data.message && data.message.to === state.me) {
    const m = data.message;
    showBanner(`${m.type.toUpperCase()} from ${m.from}: ${m.text || "(no text)"}`, "advisory", m.conflict);
  } else if (kind === "message.overdue" && data.message) {
    const m = data.message;
    showBanner(`Overdue: ${m.type} ${m.from === state.me ? "to" : "from"} ${m.from === state.me ? m.to : m.from} was due ${hhmm(seconds(m.respond_by))}`, "warning", m.conflict);
  }
}

function showBanner(text, level, conflict = null) {
  state.bannerConflict = conflict;
  $("alert-text").textContent = text;
  $("alert-banner").className = `banner level-${level}${conflict ? " linked" : ""}`;
  $("alert-banner").hidden = false;
}

function tick() {
  const t = now();
  $("clock").textContent = hhmm(t, true);
  $("clock-date").textContent = isoUtc(t).slice(0, 10);
  if (state.follow && state.api && Math.abs((state.time ?? 0) - t) >= 1) timeline.set(t);
}

start();
