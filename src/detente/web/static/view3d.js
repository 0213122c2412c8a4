// The 3-D view: the party's airspace, zones, ground forces and strike hazards as blocks standing
// on their vertical bands, flights as thin ribbons at their altitudes, and each open conflict with
// the other party's geometry near it. MapLibre GL (vendored) draws it with no tile server: the
// style is built here from the shipped coastlines and borders (and the configured tiles, if any).
// MapLibre is loaded the first time the view is opened.

import { el, flightAt, seconds } from "./util.js";

const VENDOR = "/static/vendor/maplibre-gl";
/** Heights are drawn this many times their true value, so that bands read at a glance. */
export const EXAGGERATION = 3;
const PITCH = 55;
const RIBBON_HALF_WIDTH_M = 350; // a flight's ribbon is 700 m wide ...
const RIBBON_HALF_HEIGHT_M = 75; // ... and 150 m deep
const GROUND_TOP_M = 300; // ground forces are low boxes
const UNLIMITED_M = 20000; // where an open-ended band is cut off for drawing
const COLOURS = {
  airspace: "#0284c7", zone: "#4f46e5", ground: "#0f766e", strike: "#1e40af",
  flight: "#1d4ed8", other: "#b91c1c", conflict: "#c026d3",
};
const SOURCES = ["areas", "flights", "curtains", "other", "conflict", "now", "outlines"];

export class View3D {
  /** node: the 3-D view's container; mapNode: the 2-D map it replaces; button: the toggle. */
  constructor(node, mapNode, button) {
    this.node = node;
    this.mapNode = mapNode;
    this.button = button;
    this.map = null;
    this.ready = false;
    this.tileUrl = null;
    this.items = [];
    this.conflicts = [];
    this.features = new Map();
    this.time = null;
    this.data = Object.fromEntries(SOURCES.map((s) => [s, collection([])]));
    this.fitted = false;
    this.drawing = false; // the sources and layers are on the map
    this.sent = new Map(); // source -> the JSON last given to it
    button.addEventListener("click", () => (node.hidden ? this.show() : this.hide()));
    window.detente3d = {
      loaded: () => this.ready && !node.hidden,
      counts: () => this.counts(),
    };
  }

  /** The configured tile URL (or null): drawn under the coastlines when the view opens. */
  setBase(tileUrl) {
    this.tileUrl = tileUrl;
  }

  /** The party's items, the conflicts and our items' Features by id (as the 2-D map gets them). */
  setData(items, conflicts, features) {
    this.items = items;
    this.conflicts = conflicts;
    this.features = features;
    this.rebuild();
  }

  /** The timeline's time: what is not active then is dimmed. */
  setTime(t) {
    this.time = t;
    this.rebuild();
  }

  async show() {
    this.node.hidden = false;
    this.mapNode.classList.add("detente-behind-3d");
    this.button.textContent = "2-D map";
    this.button.setAttribute("aria-pressed", "true");
    if (!this.map) await this.create();
    this.map.resize();
    this.rebuild();
  }

  hide() {
    this.node.hidden = true;
    this.mapNode.classList.remove("detente-behind-3d");
    this.button.textContent = "3-D view";
    this.button.setAttribute("aria-pressed", "false");
  }

  /** Distinct items and conflicts in the sources the view draws, all and active at the time. */
  counts() {
    const distinct = (name, key, onlyActive = false) =>
      new Set(this.data[name].features.filter((f) => !onlyActive || f.properties.active).map((f) => f.properties[key])).size;
    const of = (onlyActive) => ({
      areas: distinct("areas", "item", onlyActive),
      flights: distinct("flights", "item", onlyActive),
      other: distinct("other", "conflict", onlyActive),
    });
    return { ...of(false), active: of(true) };
  }

  async create() {
    const maplibregl = await loadLibrary();
    maplibregl.setWorkerUrl(`${VENDOR}/maplibre-gl-csp-worker.js`);
    const canvasBox = el("div", { class: "view3d-canvas" });
    this.node.replaceChildren(canvasBox, caption());
    this.map = new maplibregl.Map({
      container: canvasBox,
      style: baseStyle(this.tileUrl),
      center: [38.0, 35.6],
      zoom: 6.5,
      pitch: PITCH,
      bearing: -15,
      maxPitch: 80,
      refreshExpiredTiles: false, // tiles as <img> (img-src), not fetch (connect-src 'self')
      attributionControl: { compact: true, customAttribution: "coastlines, borders: Natural Earth" },
    });
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
    this.map.on("idle", () => (this.ready = this.map.isStyleLoaded()));
    this.map.on("sourcedata", () => (this.ready = false));
    await new Promise((resolve) => this.map.once("load", resolve));
    for (const name of SOURCES) this.map.addSource(`d3-${name}`, { type: "geojson", data: this.data[name] });
    for (const layer of layers()) this.map.addLayer(layer);
    this.drawing = true;
  }

  /** Rebuilds the GeoJSON the sources show from the page's state and hands it to MapLibre. */
  rebuild() {
    this.data = build(this.items, this.conflicts, this.features, this.time);
    if (!this.drawing || this.node.hidden) return;
    for (const name of SOURCES) {
      const text = JSON.stringify(this.data[name]);
      if (text === this.sent.get(name)) continue; // the timeline ticks each second: skip no-ops
      this.sent.set(name, text);
      this.map.getSource(`d3-${name}`).setData(this.data[name]);
    }
    if (!this.fitted) this.fit();
  }

  /** Brings everything into view, tilted. */
  fit() {
    const all = ["areas", "flights", "other"].flatMap((s) => this.data[s].features).flatMap((f) => positions(f.geometry));
    if (!all.length) return;
    const lons = all.map((p) => p[0]), lats = all.map((p) => p[1]);
    const box = [[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]];
    const camera = this.map.cameraForBounds(box, { padding: { top: 90, bottom: 30, left: 230, right: 70 } });
    if (!camera) return;
    // Tilted, the far side recedes: step back a little so that the tallest blocks fit too.
    this.map.jumpTo({ center: camera.center, zoom: Math.min(camera.zoom - 0.15, 10), pitch: PITCH, bearing: -15 });
    this.fitted = true;
  }
}

/** What each source shows: GeoJSON FeatureCollections with the heights already exaggerated. */
function build(items, conflicts, features, t) {
  const out = Object.fromEntries(SOURCES.map((s) => [s, []]));
  const active = (start, end) => t === null || t === undefined || (start <= t && t <= end);
  const open = conflicts.filter((c) => c.status !== "resolved");
  const inConflict = new Set(open.map((c) => c.own.id));
  for (const item of items) {
    const feature = item.feature;
    if (!feature || !feature.geometry) continue;
    const props = feature.properties || {};
    const on = active(seconds(item.start), seconds(item.end));
    if (item.kind === "flight") {
      out.flights.push(...ribbons(feature.geometry.coordinates, RIBBON_HALF_WIDTH_M, RIBBON_HALF_HEIGHT_M, { item: item.id, active: on }));
      out.curtains.push(...ribbons(feature.geometry.coordinates, 40, null, { item: item.id, active: on }));
      out.outlines.push(line(feature.geometry.coordinates, COLOURS.flight, on));
      const at = on ? flightAt(feature, t) : null;
      if (at) out.now.push(block(circle(at[0], at[1], 1500), at[2] - 300, at[2] + 300, { item: item.id, active: true }));
      continue;
    }
    const shape = footprint(feature.geometry, props.radius_m);
    if (!shape) continue;
    const [lower, upper] = item.kind === "ground" ? [0, GROUND_TOP_M] : [props.alt_lower_m ?? 0, props.alt_upper_m ?? UNLIMITED_M];
    const colour = COLOURS[item.kind] || COLOURS.zone;
    out.areas.push(block(shape, lower, upper, { item: item.id, kind: item.kind, colour, active: on }));
    // An area in conflict keeps its colour; its outline on the ground is the conflict's.
    const edge = inConflict.has(item.id) ? COLOURS.conflict : colour;
    out.outlines.push(...rings(shape).map((r) => line(r, edge, on, inConflict.has(item.id) ? 3 : 1.2)));
  }
  for (const conflict of open) {
    const on = active(seconds(conflict.start) - 300, seconds(conflict.end) + 300);
    const ids = { conflict: conflict.id, active: on };
    const other = conflict.other || {};
    out.other.push(...otherShapes(other, conflict, ids));
    const own = features.get(conflict.own.id);
    if (own && own.geometry.type === "LineString") {
      for (const interval of conflict.intervals || [conflict]) {
        out.conflict.push(...ribbons(piece(own, seconds(interval.start), seconds(interval.end)), 1200, 200, ids));
      }
    }
    for (const interval of conflict.intervals || []) {
      const [lon, lat, alt] = interval.closest.position;
      out.conflict.push(block(circle(lon, lat, 3000), (alt ?? 0) - 500, (alt ?? 0) + 500, { ...ids, worst: true }));
    }
  }
  return Object.fromEntries(SOURCES.map((s) => [s, collection(out[s])]));
}

/** The other party's clipped geometry: blocks on its band, or a ribbon along its track. */
function otherShapes(other, conflict, ids) {
  const geometry = other.geometry;
  if (!geometry || !geometry.coordinates) return [];
  if (geometry.type === "LineString") {
    const fallback = conflict.worst && conflict.worst.position ? conflict.worst.position[2] : 0;
    const coords = geometry.coordinates.map((c) => [c[0], c[1], c[2] ?? fallback]);
    return ribbons(coords, RIBBON_HALF_WIDTH_M, RIBBON_HALF_HEIGHT_M, ids);
  }
  const shape = footprint(geometry, 500);
  if (!shape) return [];
  const band = other.band || {};
  const [lower, upper] = other.kind === "ground" ? [0, GROUND_TOP_M] : [band.lower_m ?? 0, band.upper_m ?? UNLIMITED_M];
  return [block(shape, lower, upper, ids)];
}

/** The part of a flight flown between t0 and t1, as [lon, lat, alt] positions. */
function piece(feature, t0, t1) {
  const times = (feature.properties.coordTimes || []).map(seconds);
  if (!times.length) return [];
  const start = flightAt(feature, Math.max(t0, times[0]));
  const end = flightAt(feature, Math.min(t1, times[times.length - 1]));
  if (!start || !end) return [];
  return [start, ...feature.geometry.coordinates.filter((_, i) => times[i] > t0 && times[i] < t1), end];
}

/**
 * Thin boxes along a 3-D track: each leg (split where it climbs, so the ribbon follows the slope)
 * `half` metres to either side, `depth` metres above and below its mean altitude; with depth null,
 * a wall from the ground up to the track (a curtain under it).
 */
function ribbons(coords, half, depth, props) {
  const out = [];
  for (let i = 1; i < coords.length; i++) {
    const a = coords[i - 1], b = coords[i];
    const steps = Math.min(24, Math.max(1, Math.ceil(Math.abs((b[2] ?? 0) - (a[2] ?? 0)) / 150)));
    for (let k = 0; k < steps; k++) {
      const p = lerp(a, b, k / steps), q = lerp(a, b, (k + 1) / steps);
      const quad = strip(p, q, half);
      if (!quad) continue;
      const alt = ((p[2] ?? 0) + (q[2] ?? 0)) / 2;
      out.push(depth === null ? block(quad, 0, alt, props) : block(quad, alt - depth, alt + depth, props));
    }
  }
  return out;
}

/** A polygon `half` metres to either side of the segment p-q. */
function strip(p, q, half) {
  const k = Math.cos((p[1] * Math.PI) / 180);
  const dx = (q[0] - p[0]) * k, dy = q[1] - p[1];
  const len = Math.hypot(dx, dy);
  if (!len) return null;
  const nx = (-dy / len) * (half / 111320), ny = (dx / len) * (half / 111320);
  const off = (c, s) => [c[0] + (s * nx) / k, c[1] + s * ny];
  return { type: "Polygon", coordinates: [[off(p, 1), off(q, 1), off(q, -1), off(p, -1), off(p, 1)]] };
}

/** A Polygon/MultiPolygon as it is, a Point as a circle of `radius` metres. */
function footprint(geometry, radius) {
  if (geometry.type === "Polygon" || geometry.type === "MultiPolygon") {
    return geometry;
  }
  if (geometry.type === "Point") return circle(geometry.coordinates[0], geometry.coordinates[1], radius || 500);
  return null;
}

function circle(lon, lat, radius, n = 64) {
  const k = Math.cos((lat * Math.PI) / 180);
  const points = [];
  for (let i = 0; i <= n; i++) {
    const a = (2 * Math.PI * i) / n;
    points.push([lon + (radius * Math.sin(a)) / (111320 * k), lat + (radius * Math.cos(a)) / 111320]);
  }
  return { type: "Polygon", coordinates: [points] };
}

function block(geometry, lower, upper, props) {
  const base = Math.max(0, lower) * EXAGGERATION;
  const top = Math.max(base + 1, upper * EXAGGERATION);
  return { type: "Feature", geometry, properties: { ...props, base, top } };
}

function line(coords, colour, active, width = 1.2) {
  return { type: "Feature", geometry: { type: "LineString", coordinates: coords.map((c) => [c[0], c[1]]) }, properties: { colour, active, width } };
}

function lerp(a, b, f) {
  return [0, 1, 2].map((i) => (a[i] ?? 0) + f * ((b[i] ?? 0) - (a[i] ?? 0)));
}

/** The rings of a Polygon or MultiPolygon. */
function rings(geometry) {
  return geometry.type === "MultiPolygon" ? geometry.coordinates.flat() : geometry.coordinates;
}

/** Every position of a geometry. */
function positions(geometry) {
  if (geometry.type === "LineString") return geometry.coordinates;
  return rings(geometry).flat();
}

function collection(features) {
  return { type: "FeatureCollection", features };
}

/** The map's style: sea, land, borders (under tiles when configured); no glyphs, no sprites. */
function baseStyle(tileUrl) {
  const here = (path) => new URL(path, location.href).href;
  const sources = {
    land: { type: "geojson", data: here("/static/data/land.geojson") },
    borders: { type: "geojson", data: here("/static/data/borders.geojson") },
  };
  const layers = [{ id: "sea", type: "background", paint: { "background-color": "#c9d6e2" } }];
  if (tileUrl) {
    sources.tiles = { type: "raster", tiles: [tileUrl], tileSize: 256, attribution: "map tiles: configured server" };
    layers.push({ id: "tiles", type: "raster", source: "tiles" });
  } else {
    layers.push({ id: "land", type: "fill", source: "land", paint: { "fill-color": "#f2efe8" } });
  }
  layers.push(
    { id: "coast", type: "line", source: "land", paint: { "line-color": "#8f8a84", "line-width": 0.8 } },
    { id: "borders", type: "line", source: "borders", paint: { "line-color": "#8b8680", "line-width": 1, "line-dasharray": [4, 3] } },
  );
  return { version: 8, sources, layers };
}

/** The item layers: each in an active and a dimmed version (opacity is per layer). */
function layers() {
  const isOn = ["==", ["get", "active"], true];
  const isOff = ["==", ["get", "active"], false];
  const extrusion = (id, source, colour, opacity, dim, filter = []) => [
    { id: `d3-${id}`, type: "fill-extrusion", source: `d3-${source}`, filter: ["all", isOn, ...filter], paint: paint(colour, opacity) },
    ...(dim ? [{ id: `d3-${id}-dim`, type: "fill-extrusion", source: `d3-${source}`, filter: ["all", isOff, ...filter], paint: paint(colour, dim) }] : []),
  ];
  return [
    { id: "d3-outlines", type: "line", source: "d3-outlines", paint: { "line-color": ["get", "colour"], "line-width": ["get", "width"], "line-opacity": ["case", isOn, 0.8, 0.25] } },
    ...extrusion("curtains", "curtains", COLOURS.flight, 0.1, 0),
    ...extrusion("areas", "areas", ["get", "colour"], 0.42, 0.1),
    ...extrusion("other", "other", COLOURS.other, 0.5, 0.12),
    ...extrusion("flights", "flights", COLOURS.flight, 0.95, 0.25),
    ...extrusion("conflict", "conflict", COLOURS.conflict, 0.95, 0.25),
    ...extrusion("now", "now", "#0f172a", 1, 0),
  ];
}

function paint(colour, opacity) {
  return {
    "fill-extrusion-color": colour,
    "fill-extrusion-base": ["get", "base"],
    "fill-extrusion-height": ["get", "top"],
    "fill-extrusion-opacity": opacity,
    "fill-extrusion-vertical-gradient": true,
  };
}

function caption() {
  const row = (colour, text) => el("div", { class: "view3d-row" }, el("span", { class: "view3d-swatch", style: `background:${colour}` }), text);
  return el("div", { class: "view3d-caption" },
    el("div", { class: "view3d-title", text: `3-D view — heights ×${EXAGGERATION}` }),
    row(COLOURS.airspace, "our airspace"), row(COLOURS.zone, "our zone"), row(COLOURS.ground, "our ground forces"),
    row(COLOURS.strike, "our strike hazard"), row(COLOURS.flight, "our flight (ribbon at altitude)"), row("#0f172a", "where it is planned to be"),
    row(COLOURS.conflict, "conflict (our part, worst point)"), row(COLOURS.other, "other party near a conflict"),
    el("div", { class: "view3d-hint", text: "Right-drag or Ctrl+drag to turn and tilt" }));
}

let library = null;

/** MapLibre's CSP build and its stylesheet, loaded once. */
function loadLibrary() {
  if (window.maplibregl) return Promise.resolve(window.maplibregl);
  library = library || new Promise((resolve, reject) => {
    document.head.append(el("link", { rel: "stylesheet", href: `${VENDOR}/maplibre-gl.css` }));
    const script = el("script", { src: `${VENDOR}/maplibre-gl-csp.js` });
    script.addEventListener("load", () => resolve(window.maplibregl));
    script.addEventListener("error", () => reject(new Error("MapLibre could not be loaded")));
    document.head.append(script);
  });
  return library;
}
