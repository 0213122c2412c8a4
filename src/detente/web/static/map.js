// The map: coastlines and borders shipped with the page, the party's plan items by kind, the
// conflicts with the other party's geometry near them, and the live tracks with their alerts.
// Everything is drawn by one SVG renderer, so each shape is a DOM element with CSS classes.

import { band, el, flightAt, flightBetween, hhmm, seconds, span } from "./util.js";

const L = window.L;
const KINDS = ["flight", "airspace", "zone", "ground", "strike"];
const LEADER_S = 120; // a track's leader line shows where it will be in 2 minutes

export class MapView {
  /** handlers: onItem(id), onConflict(id). */
  constructor(node, handlers) {
    this.handlers = handlers;
    this.renderer = L.svg({ padding: 0.5 });
    this.map = L.map(node, { renderer: this.renderer, zoomSnap: 0.25, worldCopyJump: true });
    this.map.attributionControl.setPrefix(false);
    this.map.createPane("base").style.zIndex = 250;
    this.base = L.layerGroup().addTo(this.map);
    this.itemLayer = L.layerGroup().addTo(this.map);
    this.conflictLayer = L.layerGroup().addTo(this.map);
    this.positionLayer = L.layerGroup().addTo(this.map);
    this.trackLayer = L.layerGroup().addTo(this.map);
    this.previewLayer = L.layerGroup().addTo(this.map);
    this.byItem = new Map(); // item id -> {layers, start, end, bounds}
    this.byConflict = new Map(); // conflict id -> {layers, start, end, bounds}
    this.flights = [];
    this.time = null;
    this.map.setView([35.6, 38.0], 7);
    // The banner above the map comes and goes: keep Leaflet's idea of the map's size current.
    new ResizeObserver(() => this.map.invalidateSize({ pan: false })).observe(node);
    legend().addTo(this.map);
    L.control.scale({ imperial: false, position: "bottomright" }).addTo(this.map);
  }

  /** The shipped coastlines and borders, under the tiles of `tileUrl` if there are any. */
  async loadBase(tileUrl) {
    if (tileUrl) {
      L.tileLayer(tileUrl, { maxZoom: 18, attribution: "map tiles: configured server" }).addTo(this.map);
    }
    const canvas = L.canvas({ pane: "base" });
    const [land, borders] = await Promise.all(
      ["/static/data/land.geojson", "/static/data/borders.geojson"].map((u) =>
        fetch(u).then((r) => r.json()),
      ),
    );
    const style = tileUrl
      ? { land: { stroke: true, color: "#57534e", weight: 0.8, fill: false }, border: { color: "#57534e", weight: 0.8, dashArray: "4 3" } }
      : { land: { color: "#a8a29e", weight: 0.8, fillColor: "#f5f3ee", fillOpacity: 1 }, border: { color: "#8b8680", weight: 0.9, dashArray: "5 4" } };
    const common = { pane: "base", renderer: canvas, interactive: false };
    L.geoJSON(land, { ...common, style: style.land }).addTo(this.base);
    L.geoJSON(borders, { ...common, style: style.border }).addTo(this.base);
    this.map.attributionControl.addAttribution("coastlines, borders: Natural Earth");
  }

  /** Draws the party's items (records of GET /v1/items, each with its Feature). */
  setItems(items) {
    this.itemLayer.clearLayers();
    this.byItem.clear();
    this.flights = [];
    const stacks = new Map(); // labels at the same place are stacked, not overlaid
    const stack = (latlng) => {
      const key = `${L.latLng(latlng).lat.toFixed(2)},${L.latLng(latlng).lng.toFixed(2)}`;
      stacks.set(key, (stacks.get(key) || 0) + 1);
      return stacks.get(key) - 1;
    };
    for (const item of items) {
      const drawn = drawItem(item, () => this.handlers.onItem(item.id), stack);
      if (!drawn) continue;
      drawn.layers.forEach((layer) => layer.addTo(this.itemLayer));
      this.byItem.set(item.id, drawn);
      if (item.kind === "flight") this.flights.push(item);
    }
    this.applyTime();
  }

  /** Draws the open conflicts: our conflicting piece, the worst point, the other's geometry. */
  setConflicts(conflicts, features) {
    this.conflictLayer.clearLayers();
    this.byConflict.clear();
    for (const conflict of conflicts) {
      if (conflict.status === "resolved" && conflict.id !== this.selectedConflict) continue;
      const drawn = drawConflict(conflict, features.get(conflict.own.id), () =>
        this.handlers.onConflict(conflict.id),
      );
      drawn.layers.forEach((layer) => layer.addTo(this.conflictLayer));
      this.byConflict.set(conflict.id, drawn);
    }
    this.markSelected();
    this.applyTime();
  }

  /** Our live tracks, and the other party's aircraft that the alerts show us. */
  setTracks(tracks, alerts) {
    this.trackLayer.clearLayers();
    const levels = new Map();
    const rank = { advisory: 1, caution: 2, warning: 3 };
    for (const alert of alerts) {
      const uid = alert.own && alert.own.uid;
      if (uid && (rank[alert.level] || 0) > (rank[levels.get(uid)] || 0)) levels.set(uid, alert.level);
    }
    for (const track of tracks) {
      const level = levels.get(track.uid);
      const label = `${track.callsign || track.uid} FL${String(Math.round(track.alt_m / 30.48)).padStart(3, "0")}`;
      drawTrack(track, level, ["detente-own-track"], label).forEach((l) => l.addTo(this.trackLayer));
    }
    for (const alert of alerts) {
      const other = alert.other || {};
      const text = alertText(alert);
      if (other.position) {
        const track = { lon: other.position[0], lat: other.position[1], alt_m: other.position[2], ...other };
        drawTrack(track, alert.level, ["detente-other-track"], text).forEach((l) => l.addTo(this.trackLayer));
      }
      const where = alert.where && (alert.where.position || alert.where);
      if (Array.isArray(where) && where.length >= 2) {
        L.circleMarker([where[1], where[0]], {
          radius: 9,
          className: `detente-alert-point detente-alert-${alert.level}`,
        })
          .bindTooltip(el("span", { text }))
          .addTo(this.trackLayer);
      }
    }
  }

  /** What a dry run found: the other party's geometry and the worst points, until filed. */
  setPreview(conflicts) {
    this.previewLayer.clearLayers();
    const bounds = L.latLngBounds([]);
    for (const conflict of conflicts) {
      const drawn = drawConflict(conflict, null, () => {}, "detente-preview");
      drawn.layers.forEach((layer) => layer.addTo(this.previewLayer));
      if (drawn.bounds.isValid()) bounds.extend(drawn.bounds);
    }
    if (bounds.isValid()) this.fit(bounds);
  }

  /** Dims what is not active at `t` and moves each flight's planned position marker. */
  setTime(t) {
    this.time = t;
    this.applyTime();
  }

  applyTime() {
    const t = this.time;
    if (t === null) return;
    for (const drawn of [...this.byItem.values(), ...this.byConflict.values()]) {
      const active = drawn.start <= t && t <= drawn.end;
      for (const layer of drawn.layers) toggleClass(layer, "detente-inactive", !active);
    }
    this.positionLayer.clearLayers();
    for (const item of this.flights) {
      const at = flightAt(item.feature, t);
      if (!at) continue;
      L.circleMarker([at[1], at[0]], { radius: 5, className: "detente-plan-position", interactive: false })
        .addTo(this.positionLayer);
    }
  }

  /** Highlights one item (or none) and brings it into view. */
  selectItem(id, zoom = true) {
    this.selectedItem = id;
    this.markSelected();
    const drawn = this.byItem.get(id);
    if (drawn && zoom) this.fit(drawn.bounds);
  }

  /** Highlights one conflict and zooms to it. */
  selectConflict(id) {
    this.selectedConflict = id;
    this.markSelected();
    const drawn = this.byConflict.get(id);
    if (drawn) this.fit(drawn.bounds, 9);
  }

  markSelected() {
    for (const [id, drawn] of this.byItem) {
      drawn.layers.forEach((l) => toggleClass(l, "detente-selected", id === this.selectedItem));
      if (id === this.selectedItem) drawn.layers.forEach((l) => l.bringToFront && l.bringToFront());
    }
    for (const [id, drawn] of this.byConflict) {
      drawn.layers.forEach((l) => toggleClass(l, "detente-selected", id === this.selectedConflict));
    }
  }

  /** Shows every item and conflict. */
  fitAll() {
    const bounds = L.latLngBounds([]);
    for (const drawn of [...this.byItem.values(), ...this.byConflict.values()]) {
      if (drawn.bounds.isValid()) bounds.extend(drawn.bounds);
    }
    if (bounds.isValid()) this.fit(bounds);
  }

  fit(bounds, maxZoom = 9) {
    if (bounds && bounds.isValid()) this.map.fitBounds(bounds, { padding: [40, 40], maxZoom });
  }
}

function drawItem(item, onClick, stack) {
  const feature = item.feature;
  if (!feature || !feature.geometry) return null;
  const props = feature.properties || {};
  const kind = KINDS.includes(item.kind) ? item.kind : "zone";
  const className = `detente-item detente-kind-${kind}`;
  const layers = [];
  const name = props.callsign || props.name || item.id;
  if (kind === "flight") {
    const coords = feature.geometry.coordinates;
    const latlngs = coords.map((c) => [c[1], c[0]]);
    layers.push(L.polyline(latlngs, { className, weight: 3 }));
    layers.push(...arrows(coords, "detente-arrow"));
    const times = (props.coordTimes || []).map(seconds);
    const first = latlngs[0], last = latlngs[latlngs.length - 1];
    const back = L.latLng(first).distanceTo(last) < 3000;
    if (times.length) {
      const t0 = times[0], t1 = times[times.length - 1];
      layers.push(label(first, back ? `${name} ${span(t0, t1)}` : `${name} ${hhmm(t0)}`, "detente-time-label", stack(first)));
      if (!back) layers.push(label(last, `${name} ${hhmm(t1)}`, "detente-time-label detente-time-end", stack(last)));
    }
  } else if (kind === "strike" && feature.geometry.type === "Point") {
    const [lon, lat] = feature.geometry.coordinates;
    layers.push(L.circle([lat, lon], { radius: props.radius_m || 1000, className }));
    const south = L.latLng(lat, lon).toBounds(2 * (props.radius_m || 1000)).getSouth();
    layers.push(label([south, lon], `${name} ${span(seconds(item.start), seconds(item.end))}`, "detente-area-label detente-below"));
  } else if (feature.geometry.type === "Point") {
    const [lon, lat] = feature.geometry.coordinates;
    layers.push(L.circleMarker([lat, lon], { radius: 8, className }));
    layers.push(label([lat, lon], name, "detente-area-label"));
  } else {
    const shape = L.geoJSON(feature.geometry, { style: { className } });
    layers.push(shape);
    const text = kind === "ground" ? name : `${name} ${band(props.alt_lower_m, props.alt_upper_m)}`;
    layers.push(label(shape.getBounds().getNorthWest(), text, "detente-area-label detente-corner"));
  }
  for (const layer of layers) layer.on("click", onClick);
  return { layers, start: seconds(item.start), end: seconds(item.end), bounds: boundsOf(layers) };
}

function drawConflict(conflict, feature, onClick, prefix = "detente") {
  const layers = [];
  const OTHER = `${prefix}-other`, CONFLICT = `${prefix}-conflict`;
  const start = seconds(conflict.start), end = seconds(conflict.end);
  const other = conflict.other || {};
  const otherText = `${other.party} ${other.kind}${other.band ? " " + band(other.band.lower_m, other.band.upper_m) : ""}`;
  if (other.geometry && hasCoordinates(other.geometry.coordinates)) {
    layers.push(L.geoJSON(other.geometry, { style: { className: OTHER } }).bindTooltip(el("span", { text: otherText })));
    if (other.geometry.type === "LineString") layers.push(...arrows(other.geometry.coordinates, `detente-arrow ${OTHER}-arrow`));
  }
  if (feature && feature.geometry.type === "LineString") {
    for (const interval of conflict.intervals || [conflict]) {
      const piece = flightBetween(feature, seconds(interval.start), seconds(interval.end));
      if (piece.length > 1) layers.push(L.polyline(piece, { className: CONFLICT, weight: 7 }));
    }
  } else if (feature) {
    layers.push(L.geoJSON(feature.geometry, { style: { className: `${CONFLICT} ${CONFLICT}-area` } }));
  }
  for (const interval of conflict.intervals || []) {
    const p = interval.closest.position;
    const tip = `${conflict.own.id} × ${otherText}\n${span(start, end)}, closest ${Math.round(interval.closest.horizontal_m)} m / ${Math.round(interval.closest.vertical_m)} m`;
    layers.push(L.circleMarker([p[1], p[0]], { radius: 7, className: `${CONFLICT} ${prefix}-worst` }).bindTooltip(el("span", { class: "pre", text: tip })));
  }
  for (const layer of layers) layer.on("click", onClick);
  return { layers, start: start - 300, end: end + 300, bounds: boundsOf(layers) };
}

function drawTrack(track, level, classes, text) {
  const cls = ["detente-track", ...classes, level ? `detente-alert-${level}` : ""].join(" ").trim();
  const layers = [];
  if (track.course_deg !== null && track.course_deg !== undefined && track.speed_mps) {
    const d = track.speed_mps * LEADER_S, c = (track.course_deg * Math.PI) / 180;
    const lat = track.lat + (d * Math.cos(c)) / 111320;
    const lon = track.lon + (d * Math.sin(c)) / (111320 * Math.cos((track.lat * Math.PI) / 180));
    layers.push(L.polyline([[track.lat, track.lon], [lat, lon]], { className: `detente-track-leader ${cls}`, interactive: false }));
  }
  layers.push(L.circleMarker([track.lat, track.lon], { radius: 7, className: cls })
    .bindTooltip(el("span", { text }), { permanent: true, direction: "right", offset: [8, 0], className: "detente-track-label" }));
  return layers;
}

function alertText(alert) {
  const who = alert.other && alert.other.party ? alert.other.party : "other party";
  const level = (alert.level || "").toUpperCase();
  if (alert.type === "separation") {
    const los = alert.loss_in_s > 0 ? `LoS in ${Math.round(alert.loss_in_s)} s` : "separation lost";
    return `${who} ${level} ${los}, CPA ${Math.round(alert.cpa_horizontal_m)} m`;
  }
  const entry = alert.entry_in_s > 0 ? `entry in ${Math.round(alert.entry_in_s)} s` : "inside";
  return `${level} ${alert.type} (${alert.rule || ""}) ${entry}`;
}

/** Direction arrows at 40% of each leg, rotated along the leg as drawn (Mercator). */
function arrows(coords, className) {
  const out = [];
  for (let i = 1; i < coords.length; i++) {
    const a = coords[i - 1], b = coords[i];
    if (a[0] === b[0] && a[1] === b[1]) continue;
    const pa = L.CRS.EPSG3857.latLngToPoint(L.latLng(a[1], a[0]), 0);
    const pb = L.CRS.EPSG3857.latLngToPoint(L.latLng(b[1], b[0]), 0);
    const angle = (Math.atan2(pb.y - pa.y, pb.x - pa.x) * 180) / Math.PI;
    const at = [a[1] + 0.4 * (b[1] - a[1]), a[0] + 0.4 * (b[0] - a[0])];
    const icon = L.divIcon({
      className,
      iconSize: [16, 16],
      html: `<svg viewBox="-8 -8 16 16" width="16" height="16"><path d="M-5,-5 L5,0 L-5,5 Z" transform="rotate(${angle.toFixed(1)})"/></svg>`,
    });
    out.push(L.marker(at, { icon, interactive: false, keyboard: false }));
  }
  return out;
}

function label(latlng, text, className, row = 0) {
  const span_ = el("span", { text });
  if (row) span_.style.top = `${row * 19}px`;
  const icon = L.divIcon({ className: `detente-label ${className}`, iconSize: null, html: span_ });
  return L.marker(latlng, { icon, interactive: false, keyboard: false });
}

/** Bounds of layers not yet on the map (a circle's own getBounds needs the map). */
function boundsOf(layers) {
  const bounds = L.latLngBounds([]);
  for (const layer of layers) {
    if (layer instanceof L.Circle) bounds.extend(layer.getLatLng().toBounds(2 * layer.getRadius()));
    else if (layer.getLatLng) bounds.extend(layer.getLatLng());
    else if (layer.getBounds) {
      const b = layer.getBounds();
      if (b.isValid()) bounds.extend(b);
    }
  }
  return bounds;
}

function hasCoordinates(c) {
  return Array.isArray(c) && c.length > 0 && (!Array.isArray(c[0]) || hasCoordinates(c[0]));
}

function toggleClass(layer, name, on) {
  const apply = (node) => node && node.classList.toggle(name, on);
  if (layer.eachLayer) layer.eachLayer((sub) => apply(sub.getElement && sub.getElement()));
  else apply(layer.getElement && layer.getElement());
  if (layer.getTooltip && layer.getTooltip()) apply(layer.getTooltip().getElement());
}

function legend() {
  const control = L.control({ position: "topright" });
  control.onAdd = () => {
    const row = (cls, text) => el("div", { class: "legend-row" }, el("span", { class: `swatch ${cls}` }), text);
    return el("details", { class: "legend", open: true }, el("summary", { text: "Legend" }),
      row("sw-flight", "our flight (arrow: direction)"),
      row("sw-airspace", "our airspace / zone"),
      row("sw-ground", "our ground forces"),
      row("sw-strike", "our strike hazard"),
      row("sw-conflict", "conflict (our part, worst point)"),
      row("sw-other", "other party near the conflict"),
      row("sw-advisory", "advisory"), row("sw-caution", "caution"), row("sw-warning", "warning"));
  };
  return control;
}
