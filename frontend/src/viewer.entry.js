// The slice viewer: server-rendered PNGs, scrolled by wheel, keys, slider and touch;
// presets, drag-to-window, zoom/pan, cine, invert, prefetch, attributes, measurement,
// and the radiotherapy overlay (structure contours, isodose lines) drawn as vectors.
import { createAnnotations, TOOLS } from "./viewer/annotations.js";
import { createOverlays } from "./viewer/overlays.js";
import { dragKind, DEFAULT as DEFAULT_MOUSE } from "./viewer/mouse.js";
import { bindReading } from "./viewer/reading.js";
import { foldSequences } from "./viewer/attributes.js";
import { gettext, interpolate } from "./i18n.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const root = document.querySelector("[data-study]");
const studyId = root.dataset.study;

const state = {
  manifest: null, series: null, index: 0, frames: [], window: null, preset: "",
  invert: false, zoom: 1, panX: 0, panY: 0, fit: true, cine: null,
  cache: new Map(), rt: false, rtData: new Map(), mouse: root.dataset.mouse || DEFAULT_MOUSE,
};

// Annotations belong to their image (instance, frame), in the image's own pixel
// coordinates; only the shown image's are drawn, redrawn whenever the stage or the image
// moves (frontend/src/viewer/annotations.js). Overlays: frontend/src/viewer/overlays.js.
const notes = createAnnotations({
  entry: () => state.frames[state.index] || null,
  imageRect: () => $("viewer-image").getBoundingClientRect(),
  redraw: () => drawOverlay(),
  saveUrl: root.dataset.annotationsUrl || null,
  onSaved: (text) => { const el = $("viewer-annotations-status"); if (el) el.textContent = text; },
  probe: (text) => { $("viewer-probe").textContent = text; },
});
const overlays = createOverlays(state, $);

// A flat list of (instance, frame) for the current series.
function framesOf(series) {
  return series.images.flatMap((img) =>
    Array.from({ length: Math.max(img.frames, 1) }, (_, frame) => ({ img, frame })));
}

// Ask the server for what the stage shows: in fit mode the stage's longer edge in device
// pixels, rounded up to a few fixed steps (so cached PNGs are reused), when that is
// smaller than the image; zoomed or 1:1, the full image. A JPEG 2000 slice is then
// decoded only down to the resolution level it needs (docs/viewer.md).
const SIZE_STEPS = [128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096];

function displaySize(entry) {
  const longest = Math.max(entry.img.rows || 0, entry.img.columns || 0);
  if (!state.fit || !longest) return null;
  const stage = $("viewer-stage").getBoundingClientRect();
  const need = Math.max(stage.width, stage.height) * (window.devicePixelRatio || 1);
  const step = SIZE_STEPS.find((s) => s >= need);
  return step && step < longest ? step : null;
}

function sliceUrl(entry, overrides = {}) {
  const params = new URLSearchParams({ frame: String(entry.frame) });
  const win = overrides.window !== undefined ? overrides.window : state.window;
  const preset = overrides.preset !== undefined ? overrides.preset : state.preset;
  if (win) { params.set("wc", win.center.toFixed(1)); params.set("ww", win.width.toFixed(1)); }
  else if (preset) params.set("preset", preset);
  if (state.invert) params.set("invert", "1");
  const size = overrides.size !== undefined ? overrides.size : displaySize(entry);
  if (size) params.set("size", String(size));
  if (entry.img.token) params.set("t", entry.img.token);  // lets a cached slice skip the DB
  return `/api/instances/${entry.img.id}/slice.png?${params}`;
}

function prefetch() {
  for (const delta of [1, -1, 2, -2, 3, 4, 5]) {
    const entry = state.frames[state.index + delta];
    if (!entry) continue;
    const url = sliceUrl(entry);
    if (state.cache.has(url)) continue;
    const img = new Image();
    img.src = url;
    state.cache.set(url, img);
    if (state.cache.size > 400) state.cache.delete(state.cache.keys().next().value);
  }
}

function describeWindow() {
  if (state.window) return `W ${Math.round(state.window.width)} / L ${Math.round(state.window.center)}`;
  return state.preset ? interpolate(gettext("preset %(name)s"), { name: state.preset }) : gettext("default window");
}

function show() {
  const entry = state.frames[state.index];
  if (!entry) return;
  const image = $("viewer-image");
  image.src = sliceUrl(entry);
  const n = state.frames.length;
  $("viewer-slice-index").textContent = `${state.index + 1} / ${n}`;
  $("viewer-slice-index").dataset.index = String(state.index);
  $("viewer-slider").max = String(n - 1);
  $("viewer-slider").value = String(state.index);
  const pos = entry.img.position;
  $("viewer-position").textContent = pos === null || pos === undefined ? "" : interpolate(gettext("position %(mm)s mm"), { mm: pos.toFixed(1) });
  $("viewer-window").textContent = describeWindow();
  $("viewer-review").hidden = !entry.img.review;
  prefetch();
  if (!$("viewer-tags").hidden) loadTags();
  if (state.rt) loadRt(entry);
  drawOverlay();  // this image's measurements only, at once (not the previous image's)
}

// Radiotherapy overlay: contours and isodose lines of this image's plane, in the image's
// pixel coordinates (uploads/viewer/rt_overlay.py).
function rtKey(entry) { return `${entry.img.id}:${entry.frame}`; }

async function loadRt(entry) {
  const key = rtKey(entry);
  if (!state.rtData.has(key)) {
    state.rtData.set(key, null);
    const response = await fetch(`/api/instances/${entry.img.id}/rt/?frame=${entry.frame}`, { credentials: "same-origin" });
    const data = response.ok ? await response.json() : { structures: [], isodose: [], note: gettext("the overlay could not be loaded") };
    state.rtData.set(key, data);
  }
  const current = state.frames[state.index];
  if (current && rtKey(current) === key) { renderRtLegend(state.rtData.get(key)); drawOverlay(); }
}

function renderRtLegend(data) {
  const legend = $("viewer-rt-legend");
  legend.hidden = !state.rt;
  if (!data) return;
  const unit = data.reference && data.reference.units === "GY" ? "Gy" : gettext("(relative)");
  const items = [
    ...data.structures.map((s) => ({ color: s.color, text: s.name, id: "structure" })),
    ...data.isodose.map((d) => ({ color: d.color, text: `${d.percent}% (${d.dose.toFixed(2)} ${unit})`, id: "isodose" })),
  ];
  const rows = items.map((item) => {
    const li = document.createElement("li");
    li.dataset.testid = `viewer-rt-${item.id}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = item.color;
    li.append(swatch, document.createTextNode(item.text));
    return li;
  });
  if (data.reference) {
    const li = document.createElement("li");
    li.textContent = `100% = ${data.reference.dose.toFixed(2)} ${unit} (${data.reference.source})`;
    rows.push(li);
  }
  if (!items.length) {
    const li = document.createElement("li");
    li.textContent = data.note || gettext("nothing to draw on this image");
    rows.push(li);
  }
  legend.querySelector("ul").replaceChildren(...rows);
}

function drawRt(ctx, toStage) {
  const entry = state.frames[state.index];
  const data = state.rt && entry ? state.rtData.get(rtKey(entry)) : null;
  if (!data) return;
  // Pixel (column i, row j) has its centre at whole (i, j): a fraction (i + 0.5) / columns
  // of the shown image (which may be resampled for non-square pixels).
  const fx = (x) => (x + 0.5) / data.columns;
  const fy = (y) => (y + 0.5) / data.rows;
  ctx.lineWidth = 1.5;
  for (const structure of data.structures) {
    ctx.strokeStyle = structure.color;
    for (const path of structure.paths) {
      ctx.beginPath();
      for (let i = 0; i < path.length; i += 2) {
        const p = toStage(fx(path[i]), fy(path[i + 1]));
        if (i === 0) ctx.moveTo(p.x, p.y); else ctx.lineTo(p.x, p.y);
      }
      ctx.closePath();
      ctx.stroke();
    }
  }
  for (const line of data.isodose) {
    ctx.strokeStyle = line.color;
    ctx.beginPath();
    const s = line.segments;
    for (let i = 0; i < s.length; i += 4) {
      const a = toStage(fx(s[i]), fy(s[i + 1]));
      const b = toStage(fx(s[i + 2]), fy(s[i + 3]));
      ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y);
    }
    ctx.stroke();
  }
  document.body.dataset.rtDrawn = rtKey(entry);
}

function toggleRt() {
  state.rt = !state.rt;
  $("viewer-rt-toggle").classList.toggle("active", state.rt);
  $("viewer-rt-legend").hidden = !state.rt;
  if (state.rt) loadRt(state.frames[state.index]); else drawOverlay();
}

function applyTransform() {
  const image = $("viewer-image");
  image.style.transform = `translate(${state.panX}px, ${state.panY}px) scale(${state.zoom})`;
  image.classList.toggle("natural", !state.fit);
  $("viewer-zoom").textContent = `${Math.round(state.zoom * 100)}%`;
  const entry = state.frames[state.index];
  if (entry && image.getAttribute("src") !== sliceUrl(entry)) show();  // zoom: more pixels
  drawOverlay();
}

function go(delta) {
  const n = state.frames.length;
  state.index = Math.max(0, Math.min(n - 1, state.index + delta));
  show();
}

function selectSeries(series) {
  state.series = series;
  state.frames = framesOf(series);
  state.index = Math.floor(state.frames.length / 2);
  state.window = null;
  state.preset = "";
  // finished annotations stay with their image
  document.querySelectorAll(".thumb").forEach((t) => t.classList.toggle("active", t.dataset.series === String(series.id)));
  renderPresets();
  show();
}

function renderPresets() {
  const box = $("viewer-presets");
  const names = ["default", ...(state.series.presets || [])];
  box.replaceChildren(...names.map((name, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = `viewer-preset-${name}`;
    button.textContent = `${i}: ${name}`;
    button.addEventListener("click", () => { state.preset = name === "default" ? "" : name; state.window = null; show(); });
    return button;
  }));
}

function renderThumbnails() {
  const list = $("viewer-series");
  list.replaceChildren(...state.manifest.series.map((series, n) => {
    const mid = series.images[Math.floor(series.images.length / 2)];
    const button = document.createElement("button");
    button.type = "button";
    button.className = "thumb";
    button.dataset.testid = `viewer-series-${n}`;
    button.dataset.series = String(series.id);
    const img = document.createElement("img");
    img.alt = interpolate(gettext("Series %(number)s"), { number: series.number ?? n + 1 });
    img.src = `/api/instances/${mid.id}/slice.png?frame=0&size=128${mid.token ? `&t=${mid.token}` : ""}`;
    const label = document.createElement("span");
    const count = series.images.reduce((s, i) => s + Math.max(i.frames, 1), 0);
    label.textContent = `${series.modality} ${series.description || ""} (${count})`;
    button.append(img, label);
    button.addEventListener("click", () => selectSeries(series));
    return button;
  }));
}

async function loadTags() {
  const entry = state.frames[state.index];
  const panel = $("viewer-tags");
  if (panel.dataset.instance === String(entry.img.id)) return;
  panel.dataset.instance = String(entry.img.id);
  const response = await fetch(`/api/instances/${entry.img.id}/attributes/`, { credentials: "same-origin" });
  const data = await response.json();
  const rows = data.attributes.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.depth = String(a.depth);
    tr.dataset.vr = a.vr;
    for (const text of [a.tag, `${"· ".repeat(a.depth)}${a.keyword}`, a.vr, a.value]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  panel.querySelector("tbody").replaceChildren(...rows);
  foldSequences(panel.querySelector("tbody"));
  filterTags();
}

// The attribute panel's search: rows whose tag, keyword or value contain every word typed.
function filterTags() {
  const words = $("viewer-tags-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const row of $("viewer-tags").querySelectorAll("tbody tr")) {
    const text = row.textContent.toLowerCase();
    const match = words.every((w) => text.includes(w));
    row.hidden = !match;
    shown += match;
  }
  $("viewer-tags-count").textContent = words.length ? interpolate(gettext("%(count)s shown"), { count: shown }) : "";
  $("viewer-tags").querySelector("table").classList.toggle("searching", words.length > 0);
}

function drawOverlay() {
  const canvas = $("viewer-overlay");
  const image = $("viewer-image");
  const stage = $("viewer-stage").getBoundingClientRect();
  canvas.width = stage.width;
  canvas.height = stage.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const rect = image.getBoundingClientRect();
  drawRt(ctx, (fx, fy) => ({ x: rect.left - stage.left + fx * rect.width, y: rect.top - stage.top + fy * rect.height }));
  const drawn = notes.draw(ctx, stage);
  // What was drawn, in stage pixels, for tests and assistive tools (the canvas is opaque):
  // lengths as [ax, ay, bx, by] in data-measures, every annotation in data-annotations.
  canvas.dataset.measures = JSON.stringify(drawn.measures);
  canvas.dataset.annotations = JSON.stringify(drawn.annotations);
  $("viewer-measure-result").textContent = drawn.text;
  overlays.update();
}

let windowTimer = null;
function bindPointer() {
  const stage = $("viewer-stage");
  let drag = null;
  stage.addEventListener("contextmenu", (e) => e.preventDefault());
  stage.addEventListener("pointerdown", (event) => {
    stage.setPointerCapture(event.pointerId);
    if (notes.pointerDown(event)) { drag = { kind: "note" }; return; }
    const base = state.window || defaultWindowGuess();
    drag = { kind: dragKind(event, state.mouse), x: event.clientX, y: event.clientY,
             win: { ...base }, panX: state.panX, panY: state.panY, zoom: state.zoom };
  });
  stage.addEventListener("pointermove", (event) => {
    if (notes.pointerMove(event) || !drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (drag.kind === "pan") {
      state.panX = drag.panX + dx; state.panY = drag.panY + dy; applyTransform();
    } else if (drag.kind === "zoom") {
      state.fit = false;
      state.zoom = Math.max(0.1, Math.min(16, drag.zoom * Math.exp(-dy / 200)));
      applyTransform();
    } else if (drag.kind === "window") {
      state.window = { center: drag.win.center + dy * (drag.win.width / 256),
                       width: Math.max(1, drag.win.width + dx * (drag.win.width / 256)) };
      $("viewer-window").textContent = describeWindow();
      clearTimeout(windowTimer);
      windowTimer = setTimeout(show, 120);  // debounced re-render
    }
  });
  stage.addEventListener("pointerup", () => {
    notes.pointerUp();
    drag = null;
  });
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (event.ctrlKey) { zoomBy(event.deltaY < 0 ? 1.15 : 1 / 1.15); return; }
    go(event.deltaY > 0 ? 1 : -1);
  }, { passive: false });
  let touchY = null;
  stage.addEventListener("touchstart", (e) => { if (e.touches.length === 1) touchY = e.touches[0].clientY; }, { passive: true });
  stage.addEventListener("touchmove", (e) => {
    if (touchY === null || e.touches.length !== 1) return;
    const dy = e.touches[0].clientY - touchY;
    if (Math.abs(dy) > 12) { go(dy > 0 ? 1 : -1); touchY = e.touches[0].clientY; }
  }, { passive: true });
}

function defaultWindowGuess() {
  const preset = state.preset && state.manifest.presets[state.preset];
  return preset || { center: 40, width: 400 };
}

function zoomBy(factor) {
  state.fit = false;
  state.zoom = Math.max(0.1, Math.min(16, state.zoom * factor));
  applyTransform();
}

function toggleCine() {
  if (state.cine) { clearInterval(state.cine); state.cine = null; $("viewer-cine").textContent = gettext("Play"); return; }
  const fps = Number($("viewer-fps").value) || 10;
  state.cine = setInterval(() => {
    state.index = (state.index + 1) % state.frames.length;
    show();
  }, 1000 / fps);
  $("viewer-cine").textContent = gettext("Stop");
}

function bindKeys() {
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select, .tags")) return;  // the attribute panel scrolls with the arrows
    const presets = ["", ...(state.series?.presets || [])];
    if (["ArrowDown", "ArrowRight", "PageDown"].includes(event.key)) { go(event.key === "PageDown" ? 10 : 1); event.preventDefault(); }
    else if (["ArrowUp", "ArrowLeft", "PageUp"].includes(event.key)) { go(event.key === "PageUp" ? -10 : -1); event.preventDefault(); }
    else if (event.key === "Home") go(-1e9);
    else if (event.key === "End") go(1e9);
    else if (/^[0-9]$/.test(event.key) && Number(event.key) < presets.length) { state.preset = presets[Number(event.key)]; state.window = null; show(); }
    else if (event.key === "i") { state.invert = !state.invert; show(); }
    else if (event.key === "+" || event.key === "=") zoomBy(1.25);
    else if (event.key === "-") zoomBy(0.8);
    else if (event.key === "f") fit();
    else if (event.key === "p") toggleCine();
    else if (toolKeys[event.key]) setTool(toolKeys[event.key]);
    else if (event.key === "n") notes.selectNext();
    else if (event.key === "o") overlays.toggle();
    else if (event.key === "k" && reading.canAddKeyImage) reading.addKeyImage();
    else if (event.key === "r" && !$("viewer-rt-toggle").hidden) toggleRt();
    else if (event.key === "?") $("viewer-help").hidden = !$("viewer-help").hidden;
    else if (event.key === "Delete" || event.key === "Backspace") notes.remove(false);
    else if (event.key === "Escape") { notes.remove(true); if (notes.tool) setTool(notes.tool); }
  });
}

function fit() { state.fit = true; state.zoom = 1; state.panX = state.panY = 0; applyTransform(); }
const toolKeys = Object.fromEntries(Object.entries(TOOLS).map(([kind, t]) => [t.key, kind]));
const toolButtons = { length: "viewer-measure", angle: "viewer-tool-angle", rectangle: "viewer-tool-rectangle",
                      ellipse: "viewer-tool-ellipse", probe: "viewer-tool-probe" };
function setTool(kind) {
  const active = notes.setTool(kind);
  for (const [k, id] of Object.entries(toolButtons)) {
    const button = $(id);
    if (button) { button.classList.toggle("active", k === active); button.setAttribute("aria-pressed", String(k === active)); }
  }
}
const reading = bindReading(root, state, $, notes);

async function init() {
  const response = await fetch(`/api/studies/${studyId}/manifest/`, { credentials: "same-origin" });
  state.manifest = await response.json();
  if (!state.manifest.series.length) { $("viewer-empty").hidden = false; return; }
  renderThumbnails();
  bindPointer();
  bindKeys();
  $("viewer-slider").addEventListener("input", (e) => { state.index = Number(e.target.value); show(); });
  $("viewer-fit").addEventListener("click", fit);
  $("viewer-one-to-one").addEventListener("click", () => { state.fit = false; state.zoom = 1; applyTransform(); });
  $("viewer-zoom-in").addEventListener("click", () => zoomBy(1.25));
  $("viewer-zoom-out").addEventListener("click", () => zoomBy(0.8));
  $("viewer-invert").addEventListener("click", () => { state.invert = !state.invert; show(); });
  $("viewer-cine").addEventListener("click", toggleCine);
  for (const [kind, id] of Object.entries(toolButtons)) $(id)?.addEventListener("click", () => setTool(kind));
  overlays.bind();
  reading.bind();
  notes.load((id, frame) => state.manifest.series.flatMap(framesOf).find((e) => e.img.id === id && e.frame === frame));
  const drawable = state.manifest.rt.filter((o) => o.modality === "RTSTRUCT" || o.modality === "RTDOSE");
  $("viewer-rt-toggle").hidden = drawable.length === 0;
  $("viewer-rt-toggle").addEventListener("click", toggleRt);
  $("viewer-tags-toggle").addEventListener("click", () => { $("viewer-tags").hidden = !$("viewer-tags").hidden; if (!$("viewer-tags").hidden) loadTags(); });
  $("viewer-help-toggle").addEventListener("click", () => { $("viewer-help").hidden = !$("viewer-help").hidden; });
  $("viewer-image").addEventListener("load", () => { document.body.dataset.loaded = $("viewer-image").src; drawOverlay(); });
  window.addEventListener("resize", applyTransform);  // a larger stage may need more pixels
  // Any change of the stage's size (a panel opened, the window resized) moves the image:
  // redraw the vectors from their image coordinates.
  new ResizeObserver(() => drawOverlay()).observe($("viewer-stage"));
  $("viewer-tags-search").addEventListener("input", filterTags);
  selectSeries(state.manifest.series[0]);
  document.body.dataset.ready = "true";
}

init();
