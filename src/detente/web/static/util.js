// Small helpers: DOM building, times (epoch seconds, UTC) and units for display.

/** An element: el("li", {class: "row", testid: "notice", data: {conflictId: id}, on: {click}}, ...kids). */
export function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (same keys as `el`). */
export function svg(tag, attrs = {}, ...kids) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const kid of kids.flat()) if (kid) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (name === "data") Object.assign(node.dataset, value);
    else if (name === "testid") node.setAttribute("data-testid", value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
}

/** Epoch seconds of an ISO 8601 instant (null stays null). */
export function seconds(iso) {
  return iso === null || iso === undefined ? null : Date.parse(iso) / 1000;
}

/** ISO 8601 UTC, to the second: 2015-10-01T06:21:00Z. */
export function isoUtc(t) {
  return new Date(Math.round(t) * 1000).toISOString().replace(".000Z", "Z");
}

/** 06:21Z (or 06:21:07Z with `withSeconds`). */
export function hhmm(t, withSeconds = false) {
  const s = new Date(Math.round(t) * 1000).toISOString();
  return (withSeconds ? s.slice(11, 19) : s.slice(11, 16)) + "Z";
}

/** 06:20–06:22Z: an interval of the same day. */
export function span(t0, t1) {
  return `${hhmm(t0).slice(0, 5)}–${hhmm(t1)}`;
}

/** A distance: 812 m, 12.4 km (6.7 NM). */
export function distance(m) {
  if (m < 1000) return `${Math.round(m)} m`;
  return `${(m / 1000).toFixed(1)} km (${(m / 1852).toFixed(1)} NM)`;
}

/** An altitude: 7620 m (FL250); null is the surface or no limit, as `none` says. */
export function altitude(m, none = "SFC") {
  if (m === null || m === undefined) return none;
  return `${Math.round(m)} m (FL${String(Math.round(m / 0.3048 / 100)).padStart(3, "0")})`;
}

/** A vertical band: 4500–6500 m, SFC–15000 m. */
export function band(lower, upper) {
  const lo = lower === null || lower === undefined ? "SFC" : `${Math.round(lower)}`;
  const hi = upper === null || upper === undefined ? "UNL" : `${Math.round(upper)}`;
  return `${lo}–${hi} m`;
}

/** Seconds as 46 s, 3 min 20 s. */
export function duration(s) {
  s = Math.round(s);
  if (s < 90) return `${s} s`;
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Position of a flight (Feature with LineString and coordTimes) at time t: [lon, lat, alt]. */
export function flightAt(feature, t) {
  const coords = feature.geometry.coordinates;
  const times = (feature.properties.coordTimes || []).map(seconds);
  if (!times.length || t < times[0] || t > times[times.length - 1]) return null;
  for (let i = 1; i < times.length; i++) {
    if (t <= times[i]) {
      const f = times[i] === times[i - 1] ? 0 : (t - times[i - 1]) / (times[i] - times[i - 1]);
      const a = coords[i - 1], b = coords[i];
      return [0, 1, 2].map((k) => (a[k] ?? 0) + f * ((b[k] ?? 0) - (a[k] ?? 0)));
    }
  }
  return coords[coords.length - 1];
}

/** The part of a flight flown between t0 and t1, as [lat, lon] pairs for Leaflet. */
export function flightBetween(feature, t0, t1) {
  const coords = feature.geometry.coordinates;
  const times = (feature.properties.coordTimes || []).map(seconds);
  const start = flightAt(feature, Math.max(t0, times[0]));
  const end = flightAt(feature, Math.min(t1, times[times.length - 1]));
  if (!start || !end) return [];
  const inner = coords.filter((_, i) => times[i] > t0 && times[i] < t1);
  return [start, ...inner, end].map((c) => [c[1], c[0]]);
}
