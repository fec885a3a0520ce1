// The comparison page: 1×1, 1×2 and 2×2 layouts of this study's series and of earlier
// studies of the same (pseudonymised) patient, linked scrolling, reference lines, and the
// multiplanar reformat (axial, coronal, sagittal with a crosshair). Viewports, geometry,
// sync and MPR live in frontend/src/viewer/.
import { referenceLine } from "./viewer/geometry.js";
import { Viewport } from "./viewer/layout.js";
import { PLANES, centreCross, crossFromClick } from "./viewer/mpr.js";
import { follow, link } from "./viewer/sync.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const root = document.querySelector("[data-study]");
const studyId = Number(root.dataset.study);
const LAYOUTS = { "1x1": 1, "1x2": 2, "2x2": 4 };

const options = { preset: "" };  // the window of every viewport (a preset name or default)
const state = {
  layout: "1x2", active: 0, sync: true, lines: true, slab: 1,
  viewports: [0, 1, 2, 3].map((n) => new Viewport(n, options)),
  studies: new Map(),  // id -> { summary, manifest, prior }
  geometry: new Map(),  // series id -> Promise of geometry
  mpr: new Map(),  // series id -> { info, cross, slab, error }
};

const shown = () => state.viewports.slice(0, LAYOUTS[state.layout]);
const active = () => state.viewports[state.active];
function say(text) { $("layout-status").textContent = text; }

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || gettext("This could not be loaded."));
  return data;
}

function geometryOf(seriesId) {
  if (!state.geometry.has(seriesId)) state.geometry.set(seriesId, getJson(`/api/series/${seriesId}/geometry/`).catch(() => null));
  return state.geometry.get(seriesId);
}

function redraw() {
  renderPresets();
  const from = active();
  const source = state.lines ? from.plane() : null;
  for (const vp of shown()) {
    vp.el.classList.toggle("active", vp === from);
    vp.render();
    const line = vp !== from && source ? referenceLine(source, vp.plane()) : null;
    vp.draw(line ? [line] : []);
  }
  document.body.dataset.drawn = String(Date.now());
}

function setLayout(name) {
  state.layout = name;
  $("layout-grid").dataset.layout = name;
  $("layout-grid").replaceChildren(...shown().map((vp) => vp.el));
  document.querySelectorAll("[data-layout]").forEach((b) => b.classList?.toggle("active", b.dataset.layout === name));
  if (state.active >= LAYOUTS[name]) state.active = 0;
  requestAnimationFrame(redraw);
}

// Presets of the active viewport's series (0 is the file's own window), as in the viewer.
function presetNames() { return ["", ...((active().series && active().series.presets) || [])]; }

function renderPresets() {
  const select = $("layout-preset");
  select.replaceChildren(...presetNames().map((name, i) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = `${i}: ${name || gettext("default")}`;
    return option;
  }));
  select.value = presetNames().includes(options.preset) ? options.preset : "";
}

function setPreset(name) {
  options.preset = name;
  $("layout-preset").value = name;
  redraw();
}

function relink() { if (state.sync) link(shown()); }

async function place(n, studyKey, seriesId, focus = true) {
  const study = state.studies.get(studyKey);
  const series = study && study.manifest.series.find((s) => s.id === seriesId);
  if (!series) return;
  const vp = state.viewports[n];
  vp.showStack(series, study.summary, study.prior);
  state.active = n;
  redraw();
  vp.setGeometry(await geometryOf(series.id));
  relink();
  redraw();
  if (focus) vp.el.focus();
}

async function startMpr() {
  const from = active();
  if (!from.series) { say(gettext("Put a series in the active viewport first.")); return; }
  const { series, study } = from;
  if (!state.mpr.has(series.id)) state.mpr.set(series.id, { info: null, cross: null, slab: state.slab });
  const shared = state.mpr.get(series.id);
  say(gettext("Building the reformat…"));
  try {
    shared.info = shared.info || await getJson(`/api/series/${series.id}/mpr/`);
  } catch (error) { say(error.message); return; }
  shared.cross = shared.cross || centreCross(shared.info);
  setLayout("2x2");
  PLANES.forEach((plane, n) => state.viewports[n].showMpr(series, study, plane, shared));
  const stack = state.viewports[3];
  stack.showStack(series, study, from.prior);
  stack.setGeometry(await geometryOf(series.id));
  state.active = 0;
  say(shared.info.resampled ? interpolate(gettext("Reformat of a resampled volume (%(how)s)."), { how: shared.info.resampled }) : "");
  redraw();
}

function scroll(vp, delta) {
  if (!vp.ready) return;
  vp.setIndex(vp.currentIndex() + delta);
  if (state.sync && vp.kind === "stack") follow(vp, shown());
  redraw();
  vp.prefetch();
}

function seriesButton(studyKey, series, n) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "thumb";
  button.draggable = true;
  button.dataset.testid = `layout-series-${studyKey}-${n}`;
  const mid = series.images[Math.floor(series.images.length / 2)];
  const img = document.createElement("img");
  img.alt = "";
  img.src = `/api/instances/${mid.id}/slice.png?frame=0&size=128${mid.token ? `&t=${mid.token}` : ""}`;
  const count = series.images.reduce((s, i) => s + Math.max(i.frames, 1), 0);
  const label = document.createElement("span");
  label.textContent = `${series.modality} ${series.description || ""} (${interpolate(ngettext("%(count)s image", "%(count)s images", count), { count })})`;
  button.append(img, label);
  button.setAttribute("aria-label", interpolate(gettext("%(series)s: Enter puts it in the active viewport, 1 to 4 in that viewport"), { series: label.textContent }));
  button.addEventListener("click", () => place(state.active, studyKey, series.id));
  button.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/plain", `${studyKey}:${series.id}`));
  button.addEventListener("keydown", (e) => {
    const n = Number(e.key) - 1;
    if (n >= 0 && n < 4 && !e.shiftKey) {
      e.preventDefault(); e.stopPropagation();
      if (n >= LAYOUTS[state.layout]) setLayout(n >= 2 ? "2x2" : "1x2");
      place(n, studyKey, series.id);
    }
  });
  return button;
}

async function loadStudy(summary, prior) {
  const manifest = await getJson(`/api/studies/${summary.id}/manifest/`);
  const key = prior ? `prior${summary.id}` : "current";
  state.studies.set(key, { summary: { ...summary, date: summary.date || null }, manifest, prior });
  return key;
}

async function init() {
  const key = await loadStudy({ id: studyId }, false);
  const current = state.studies.get(key).manifest;
  $("layout-series-current").replaceChildren(...current.series.map((s, n) => seriesButton(key, s, n)));
  let priors = [];
  try { priors = (await getJson(`/api/studies/${studyId}/priors/`)).priors; } catch { priors = []; }
  if (priors.length) {
    const blocks = [];
    for (const summary of priors) {
      const priorKey = await loadStudy(summary, true);
      const heading = document.createElement("p");
      heading.className = "list-heading";
      heading.textContent = `${summary.modalities || ""} ${summary.description || ""} ${summary.date || ""}`.trim() || interpolate(gettext("Study #%(number)s"), { number: summary.id });
      blocks.push(heading, ...state.studies.get(priorKey).manifest.series.map((s, n) => seriesButton(priorKey, s, n)));
    }
    $("layout-priors").replaceChildren(...blocks);
  }
  bind();
  setLayout("1x2");
  if (current.series.length) {
    // Hanging: this study's first series on the left; on the right the newest earlier
    // study's series of the same modality and description (else its first), else this
    // study's second series.
    const first = current.series[0];
    await place(0, key, first.id, false);
    const prior = priors.length ? state.studies.get(`prior${priors[0].id}`).manifest.series : [];
    const match = prior.find((s) => s.modality === first.modality && s.description === first.description) || prior[0];
    if (match) await place(1, `prior${priors[0].id}`, match.id, false);
    else if (current.series[1]) await place(1, key, current.series[1].id, false);
    state.active = 0;
    relink();
    redraw();
  } else say(gettext("This study has no images to show yet."));
  document.body.dataset.ready = "true";
}

function bind() {
  for (const vp of state.viewports) {
    vp.el.addEventListener("focus", () => { if (state.active !== vp.n) { state.active = vp.n; redraw(); } });
    vp.el.addEventListener("pointerdown", (event) => {
      state.active = vp.n;
      if (vp.kind === "mpr" && vp.mpr.info && event.button === 0) {
        const { fx, fy } = vp.fractionAt(event);
        if (fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1) vp.mpr.cross = crossFromClick(vp.mpr.info, vp.planeName, vp.mpr.cross, fx, fy);
      }
      redraw();
    });
    vp.el.addEventListener("wheel", (event) => {
      event.preventDefault();
      state.active = vp.n;
      scroll(vp, event.deltaY > 0 ? 1 : -1);
    }, { passive: false });
    vp.el.addEventListener("dragover", (e) => e.preventDefault());
    vp.el.addEventListener("drop", (e) => {
      e.preventDefault();
      const [studyKey, seriesId] = e.dataTransfer.getData("text/plain").split(":");
      if (seriesId) place(vp.n, studyKey, Number(seriesId));
    });
    vp.img.addEventListener("load", () => { vp.el.dataset.loaded = vp.img.getAttribute("src"); redraw(); });
  }
  document.querySelectorAll("button[data-layout]").forEach((b) => b.addEventListener("click", () => { setLayout(b.dataset.layout); relink(); }));
  $("layout-mpr").addEventListener("click", startMpr);
  $("layout-preset").addEventListener("change", (e) => setPreset(e.target.value));
  $("layout-slab").addEventListener("change", (e) => {
    state.slab = Number(e.target.value);
    for (const shared of state.mpr.values()) shared.slab = state.slab;
    redraw();
  });
  $("layout-sync").addEventListener("change", (e) => { state.sync = e.target.checked; relink(); });
  $("layout-reference-lines").addEventListener("change", (e) => { state.lines = e.target.checked; redraw(); });
  $("layout-help-toggle").addEventListener("click", () => { $("layout-help").hidden = !$("layout-help").hidden; });
  new ResizeObserver(() => redraw()).observe($("layout-grid"));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    const layoutKeys = { Digit1: "1x1", Digit2: "1x2", Digit4: "2x2" };
    if (event.shiftKey && layoutKeys[event.code]) { setLayout(layoutKeys[event.code]); relink(); event.preventDefault(); return; }
    const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 };
    if (steps[event.key] && !event.target.closest(".thumb")) { scroll(active(), steps[event.key]); event.preventDefault(); }
    else if (/^[0-9]$/.test(event.key) && !event.target.closest(".thumb")) {
      const name = presetNames()[Number(event.key)];
      if (name !== undefined) setPreset(name);
    } else if (event.key === "x") startMpr();
    else if (event.key === "l") { $("layout-sync").click(); }
    else if (event.key === "r") { $("layout-reference-lines").click(); }
    else if (event.key === "?") $("layout-help").hidden = !$("layout-help").hidden;
  });
}

init().catch((error) => { say(error.message); document.body.dataset.ready = "true"; });
