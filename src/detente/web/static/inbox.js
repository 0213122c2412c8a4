// The inbox (notices of conflicts, then hotline threads not about a conflict) and one thread.

import { band, distance, el, hhmm, seconds, span } from "./util.js";

const KIND = { air: "AIR", zone: "ZONE", "strike-ground": "STRIKE/GROUND", "strike-air": "STRIKE/AIR" };

/** Whether a message's deadline has passed unanswered (as the server says, or by the clock). */
export function isOverdue(message, now) {
  if (message.deadline === "overdue") return true;
  return now !== null && message.deadline === "open" && message.respond_by !== null && seconds(message.respond_by) < now;
}

/** Conflicts open first, overdue first among them, then by start; resolved last. */
export function sortConflicts(conflicts, overdue) {
  const key = (c) => [c.status === "resolved" ? 1 : 0, overdue(c) ? 0 : 1, seconds(c.start)];
  return [...conflicts].sort((a, b) => {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    return 0;
  });
}

/** One line saying what clashes with what. */
export function conflictTitle(c) {
  const other = c.other || {};
  const b = other.band ? ` ${band(other.band.lower_m, other.band.upper_m)}` : "";
  return `${c.own.id} (${c.own.kind}) × ${other.party} ${other.kind}${b}`;
}

/** Where and when it is worst. */
export function conflictWhere(c) {
  const w = c.worst;
  return `${span(seconds(c.start), seconds(c.end))} · closest ${distance(w.horizontal_m)}, ${Math.round(w.vertical_m)} m vertically at ${hhmm(seconds(w.time))}`;
}

/**
 * Renders the inbox. state: {conflicts, messages, me, now, selected: {conflict|thread}};
 * handlers: onConflict(id), onThread(threadId).
 */
export function renderInbox(state, handlers) {
  const list = document.getElementById("inbox");
  const byThread = groupThreads(state.messages);
  const overdue = (c) => (byThread.get(c.id) || []).some((m) => isOverdue(m, state.now));
  const rows = sortConflicts(state.conflicts, overdue).map((c) => {
    const thread = byThread.get(c.id) || [];
    const last = thread[thread.length - 1];
    const late = overdue(c);
    const waiting = last && last.to === state.me && ["notice", "query"].includes(last.type);
    const answered = thread.filter((m) => m.from === state.me && ["wilco", "cantco", "ack"].includes(m.type)).pop();
    return el("li", {
      class: ["row", "notice", c.status, late ? "overdue" : "", c.id === state.selected.conflict ? "selected" : ""].join(" "),
      testid: "notice",
      data: { conflictId: c.id },
      tabindex: "0",
      on: { click: () => handlers.onConflict(c.id), keydown: (e) => e.key === "Enter" && handlers.onConflict(c.id) },
    },
    el("div", { class: "row-top" },
      el("span", { class: `tag tag-${c.kind}`, text: KIND[c.kind] || c.kind.toUpperCase() }),
      el("span", { class: "row-title", text: conflictTitle(c) })),
    el("div", { class: "row-sub", text: conflictWhere(c) }),
    el("div", { class: "row-badges" },
      c.status === "resolved" ? el("span", { class: "badge resolved", text: "resolved" }) : null,
      late ? el("span", { class: "badge overdue", text: "OVERDUE" }) : null,
      waiting ? el("span", { class: "badge waiting", text: `${last.type} from ${last.from}` }) : null,
      answered ? el("span", { class: `badge ${answered.type}`, text: `we: ${answered.type.toUpperCase()}` }) : null,
      thread.length ? el("span", { class: "badge", text: `${thread.length} msg` }) : null));
  });
  const conflictIds = new Set(state.conflicts.map((c) => c.id));
  for (const [thread, messages] of byThread) {
    if (conflictIds.has(thread)) continue;
    const first = messages[0], last = messages[messages.length - 1];
    const late = messages.some((m) => isOverdue(m, state.now));
    rows.splice(late ? 0 : rows.length, 0, el("li", {
      class: ["row", "inbox-message", late ? "overdue" : "", thread === state.selected.thread ? "selected" : ""].join(" "),
      testid: "inbox-message",
      data: { thread },
      tabindex: "0",
      on: { click: () => handlers.onThread(thread) },
    },
    el("div", { class: "row-top" },
      el("span", { class: "tag tag-msg", text: first.type.toUpperCase() }),
      el("span", { class: "row-title", text: `${first.from} → ${first.to}: ${first.text || "(no text)"}` })),
    el("div", { class: "row-sub", text: `${messages.length} message(s), last ${hhmm(seconds(last.sent_at))} (${last.type})` }),
    late ? el("div", { class: "row-badges" }, el("span", { class: "badge overdue", text: "OVERDUE" })) : null));
  }
  if (!rows.length) rows.push(el("li", { class: "empty", text: "No conflicts, no messages." }));
  list.replaceChildren(...rows);
  const open = state.conflicts.filter((c) => c.status !== "resolved").length;
  document.getElementById("inbox-count").textContent = `${open} open`;
  return { open, overdue: state.conflicts.filter(overdue).length };
}

/** Renders the selected thread's head and messages (oldest first). */
export function renderThread(head, messages, me, now) {
  const panel = document.getElementById("thread-panel");
  panel.hidden = false;
  document.getElementById("thread-head").replaceChildren(...head);
  const rows = messages.map((m) =>
    el("li", {
      class: ["message", m.from === me ? "mine" : "theirs", isOverdue(m, now) ? "overdue" : ""].join(" "),
      testid: "message",
      data: { type: m.type, id: m.id },
    },
    el("div", { class: "message-top" },
      el("span", { class: `badge ${m.type}`, text: m.type.toUpperCase() }),
      el("span", { class: "message-from", text: `${m.from} → ${m.to}` }),
      el("span", { class: "message-time", text: hhmm(seconds(m.sent_at), true) })),
    m.text ? el("div", { class: "message-text", text: m.text }) : null,
    m.respond_by
      ? el("div", { class: "message-deadline", text: `answer by ${hhmm(seconds(m.respond_by))} — ${isOverdue(m, now) ? "OVERDUE" : m.deadline || "open"}` })
      : null),
  );
  if (!rows.length) rows.push(el("li", { class: "empty", text: "No messages yet: answer or query below." }));
  document.getElementById("messages").replaceChildren(...rows);
}

/** The message a response should answer: the latest opening one addressed to us. */
export function toAnswer(messages, me) {
  const opening = messages.filter((m) => m.to === me && ["notice", "query"].includes(m.type));
  const open = opening.filter((m) => m.deadline === "open" || m.deadline === "overdue");
  return (open.length ? open : opening).pop() || messages.filter((m) => m.to === me).pop() || null;
}

function groupThreads(messages) {
  const threads = new Map();
  for (const m of messages) {
    const key = m.conflict || m.thread;
    if (!threads.has(key)) threads.set(key, []);
    threads.get(key).push(m);
  }
  return threads;
}
