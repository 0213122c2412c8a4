// The timeline (a range over the day's items and conflicts) and the vertical profile of a flight.

import { band, el, hhmm, isoUtc, seconds, svg } from "./util.js";

export class Timeline {
  /** onChange(t, byUser) whenever the chosen time changes. */
  constructor(onChange) {
    this.range = document.getElementById("timeline");
    this.label = document.getElementById("time-label");
    this.marks = document.getElementById("timeline-marks");
    this.scale = document.getElementById("timeline-scale");
    this.onChange = onChange;
    this.t0 = 0;
    this.t1 = 1;
    this.range.addEventListener("input", () => this.set(Number(this.range.value), true));
  }

  /** The span of the items and conflicts, with each open conflict marked on the track. */
  setSpan(items, conflicts, onMark, around = Date.now() / 1000) {
    const starts = [...items, ...conflicts].map((x) => seconds(x.start)).filter(Number.isFinite);
    const ends = [...items, ...conflicts].map((x) => seconds(x.end)).filter(Number.isFinite);
    if (!starts.length) {
      // Nothing filed: the day of the clock.
      starts.push(Math.floor(around / 86400) * 86400);
      ends.push(starts[0] + 86400);
    }
    this.t0 = Math.floor(Math.min(...starts) / 60) * 60;
    this.t1 = Math.max(this.t0 + 60, Math.ceil(Math.max(...ends) / 60) * 60);
    this.range.min = String(this.t0);
    this.range.max = String(this.t1);
    const x = (t) => `${(100 * (t - this.t0)) / (this.t1 - this.t0)}%`;
    this.marks.replaceChildren(
      ...conflicts
        .filter((c) => c.status !== "resolved")
        .map((c) => {
          const mark = el("button", {
            type: "button",
            class: "timeline-mark",
            title: `${c.own.id} × ${c.other.party} ${c.other.kind}, ${hhmm(seconds(c.start))}`,
            on: { click: () => onMark(c) },
          });
          mark.style.left = x(seconds(c.start));
          mark.style.width = `max(4px, ${x(this.t0 + seconds(c.end) - seconds(c.start))})`;
          return mark;
        }),
    );
    const step = niceStep(this.t1 - this.t0);
    const ticks = [];
    for (let t = Math.ceil(this.t0 / step) * step; t <= this.t1; t += step) {
      const tick = el("span", { class: "tick", text: hhmm(t) });
      tick.style.left = x(t);
      ticks.push(tick);
    }
    this.scale.replaceChildren(...ticks);
    if (this.value !== undefined) this.set(this.value, false);
  }

  /** Chooses time t (clamped to the span). */
  set(t, byUser = false) {
    this.value = Math.min(Math.max(t, this.t0), this.t1);
    this.range.value = String(Math.round(this.value));
    this.label.value = isoUtc(this.value);
    this.label.textContent = isoUtc(this.value);
    this.onChange(this.value, byUser);
  }
}

function niceStep(seconds_) {
  for (const step of [900, 1800, 3600, 7200, 10800, 21600]) if (seconds_ / step <= 12) return step;
  return 43200;
}

/**
 * Draws altitude against time for a flight (record of GET /v1/items), its conflicts as
 * `profile-conflict` bands (the other item's vertical band where it has one) and time `t`.
 * An area is shown as its band over its window.
 */
export function drawProfile(node, item, conflicts, t) {
  const title = document.getElementById("profile-title");
  node.replaceChildren();
  const width = Math.max(node.clientWidth || 600, 200);
  const height = Math.max(node.clientHeight || 150, 80);
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  if (!item) {
    title.textContent = "Vertical profile — select a flight in the list or on the map";
    return;
  }
  const props = item.feature.properties || {};
  const isFlight = item.kind === "flight";
  const coords = isFlight ? item.feature.geometry.coordinates : [];
  const times = isFlight ? (props.coordTimes || []).map(seconds) : [seconds(item.start), seconds(item.end)];
  const mine = conflicts.filter((c) => c.own.id === item.id);
  const top = Math.max(
    1000,
    ...coords.map((c) => c[2] || 0),
    ...(isFlight ? [] : [props.alt_upper_m || 0]),
    ...mine.map((c) => (c.other.band && c.other.band.upper_m) || 0),
    ...mine.map((c) => c.worst.position[2] || 0),
  );
  const ceiling = Math.ceil((top * 1.1) / 1000) * 1000;
  const m = { left: 62, right: 14, top: 10, bottom: 22 };
  const t0 = Math.min(times[0], ...mine.map((c) => seconds(c.start)));
  const t1 = Math.max(times[times.length - 1], ...mine.map((c) => seconds(c.end)));
  const X = (s) => m.left + ((s - t0) / Math.max(t1 - t0, 1)) * (width - m.left - m.right);
  const Y = (alt) => height - m.bottom - (alt / ceiling) * (height - m.top - m.bottom);
  title.textContent = isFlight
    ? `Vertical profile — ${props.callsign || item.id}${props.aircraft ? ` (${props.aircraft})` : ""}, ${mine.length} conflict(s)`
    : `Vertical extent — ${props.name || item.id}, ${band(props.alt_lower_m, props.alt_upper_m)}`;

  const grid = svg("g", { class: "profile-grid" });
  const step = ceiling > 12000 ? 3000 : ceiling > 6000 ? 2000 : 1000;
  for (let a = 0; a <= ceiling; a += step) {
    grid.append(svg("line", { x1: m.left, x2: width - m.right, y1: Y(a), y2: Y(a) }));
    grid.append(svg("text", { x: m.left - 6, y: Y(a) + 4, "text-anchor": "end" }, `${a} m`));
  }
  const tstep = niceStepProfile(t1 - t0);
  for (let s = Math.ceil(t0 / tstep) * tstep; s <= t1; s += tstep) {
    grid.append(svg("line", { x1: X(s), x2: X(s), y1: m.top, y2: height - m.bottom, class: "v" }));
    grid.append(svg("text", { x: X(s), y: height - 6, "text-anchor": "middle" }, hhmm(s)));
  }
  node.append(grid);

  for (const c of mine) {
    for (const interval of c.intervals || [c]) {
      const b = c.other.band;
      const lower = b && b.lower_m !== null ? b.lower_m : 0;
      const upper = b && b.upper_m !== null ? Math.min(b.upper_m, ceiling) : ceiling;
      const x0 = X(seconds(interval.start)), x1 = X(seconds(interval.end));
      const rect = svg("rect", {
        class: "profile-conflict", "data-testid": "profile-conflict", "data-conflict-id": c.id || "",
        x: x0, width: Math.max(x1 - x0, 3), y: Y(upper), height: Math.max(Y(lower) - Y(upper), 3),
      });
      rect.append(svg("title", {}, `${c.other.party} ${c.other.kind} ${b ? band(b.lower_m, b.upper_m) : ""}: ${hhmm(seconds(interval.start), true)}–${hhmm(seconds(interval.end), true)}`));
      node.append(rect);
      const p = interval.closest.position;
      node.append(svg("circle", { class: "profile-worst", cx: X(seconds(interval.closest.time)), cy: Y(p[2] || 0), r: 4 }));
    }
  }
  if (isFlight) {
    const points = coords.map((c, i) => `${X(times[i]).toFixed(1)},${Y(c[2] || 0).toFixed(1)}`).join(" ");
    node.append(svg("polyline", { class: "profile-line", points }));
    coords.forEach((c, i) => node.append(svg("circle", { class: "profile-point", cx: X(times[i]), cy: Y(c[2] || 0), r: 2.5 })));
  } else {
    const lo = props.alt_lower_m || 0, hi = Math.min(props.alt_upper_m || ceiling, ceiling);
    node.append(svg("rect", { class: "profile-area", x: X(times[0]), width: X(times[1]) - X(times[0]), y: Y(hi), height: Y(lo) - Y(hi) }));
  }
  if (t !== null && t >= t0 && t <= t1) {
    node.append(svg("line", { class: "profile-now", x1: X(t), x2: X(t), y1: m.top, y2: height - m.bottom }));
  }
}

function niceStepProfile(s) {
  for (const step of [300, 600, 900, 1800, 3600, 7200]) if (s / step <= 8) return step;
  return 14400;
}
