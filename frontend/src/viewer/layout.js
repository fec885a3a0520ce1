// One viewport of the comparison page: a stack of slices (a series of this study or of an
// earlier one) or one plane of a multiplanar reformat. The image is a server-rendered
// PNG; the canvas above it draws reference lines and the MPR crosshair from fractions of
// the image, so they stay put when the viewport changes size.
import { gettext, interpolate, ngettext } from "../i18n.js";
import { imagePlane } from "./geometry.js";
import { crossInPlane, mprPlane, planeIndex, planeUrl, withIndex } from "./mpr.js";

const prefetched = new Map();  // url -> Image, shared by the viewports (a bounded LRU)
const SIZE_STEPS = [128, 256, 384, 512, 768, 1024, 1536, 2048];
const PLANE_NAMES = { axial: gettext("Axial"), coronal: gettext("Coronal"), sagittal: gettext("Sagittal") };

function framesOf(series) {
  return series.images.flatMap((img) =>
    Array.from({ length: Math.max(img.frames, 1) }, (_, frame) => ({ img, frame })));
}

export class Viewport {
  // `options` ({ preset }) is shared by the page's viewports: one window for all.
  constructor(n, options) {
    this.n = n;
    this.options = options;
    this.kind = null;
    this.index = 0;
    this.el = document.createElement("div");
    this.el.className = "vp";
    this.el.tabIndex = 0;
    this.el.setAttribute("role", "group");
    this.el.dataset.testid = `layout-viewport-${n}`;
    this.el.setAttribute("aria-label", interpolate(gettext("Viewport %(number)s: empty"), { number: n + 1 }));
    this.img = document.createElement("img");
    this.img.dataset.testid = `layout-image-${n}`;
    this.img.alt = "";
    this.img.draggable = false;
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.testid = `layout-overlay-${n}`;
    this.label = document.createElement("span");
    this.label.className = "vp-label";
    this.label.dataset.testid = `layout-label-${n}`;
    this.label.textContent = interpolate(gettext("%(number)s: drop a series here"), { number: n + 1 });
    this.el.append(this.img, this.canvas, this.label);
  }

  // A stack: `series` from a study manifest, `study` its summary, `geometry` (may come later)
  // from /api/series/<id>/geometry/.
  showStack(series, study, prior) {
    Object.assign(this, { kind: "stack", series, study, prior, frames: framesOf(series), geometry: null, mpr: null });
    this.index = Math.floor(this.frames.length / 2);
    this.el.dataset.series = String(series.id);
    this.el.dataset.study = String(study.id);
    delete this.el.dataset.plane;
  }

  setGeometry(geometry) {
    if (!geometry || !this.series || geometry.series !== this.series.id) return;
    const byId = new Map(geometry.images.map((g) => [g.id, g]));
    this.geometry = this.frames.map((entry) => imagePlane(byId.get(entry.img.id), geometry.frame_of_reference));
  }

  // A plane of the reformat; `shared` ({ info, cross, slab }) is the crosshair the three
  // planes of one series share.
  showMpr(series, study, plane, shared) {
    Object.assign(this, { kind: "mpr", series, study, prior: false, planeName: plane, mpr: shared, geometry: null });
    this.el.dataset.series = String(series.id);
    this.el.dataset.study = String(study.id);
    this.el.dataset.plane = plane;
  }

  get ready() { return this.kind === "stack" || (this.kind === "mpr" && this.mpr.info); }

  count() {
    if (this.kind === "stack") return this.frames.length;
    if (this.kind === "mpr" && this.mpr.info) return this.mpr.info.planes[this.planeName].count;
    return 0;
  }

  currentIndex() {
    return this.kind === "mpr" && this.mpr.info ? planeIndex(this.mpr.info, this.planeName, this.mpr.cross) : this.index;
  }

  setIndex(i) {
    const last = this.count() - 1;
    if (last < 0) return;
    const index = Math.max(0, Math.min(last, i));
    if (this.kind === "mpr") this.mpr.cross = withIndex(this.mpr.info, this.planeName, this.mpr.cross, index);
    else this.index = index;
  }

  // The shown image's plane in patient coordinates, or null (not known yet).
  plane() {
    if (this.kind === "stack") return this.geometry ? this.geometry[this.index] : null;
    if (this.kind === "mpr" && this.mpr.info) return mprPlane(this.mpr.info, this.planeName, this.currentIndex());
    return null;
  }

  slicePlanes() { return this.kind === "stack" ? this.geometry : null; }

  size() {
    const box = this.el.getBoundingClientRect();
    const need = Math.max(box.width, box.height) * (window.devicePixelRatio || 1);
    return SIZE_STEPS.find((s) => s >= need) || null;
  }

  // The PNG of slice or plane `index` (the shown one by default).
  url(index = this.currentIndex()) {
    if (this.kind === "stack") {
      const entry = this.frames[index];
      const params = new URLSearchParams({ frame: String(entry.frame) });
      const longest = Math.max(entry.img.rows || 0, entry.img.columns || 0);
      const size = this.size();
      if (size && size < longest) params.set("size", String(size));
      if (this.options.preset) params.set("preset", this.options.preset);
      if (entry.img.token) params.set("t", entry.img.token);
      return `/api/instances/${entry.img.id}/slice.png?${params}`;
    }
    return planeUrl(this.series.id, this.planeName, index,
      { size: this.size(), slab: this.mpr.slab, preset: this.options.preset });
  }

  // Ask for the next few images in both directions so that scrolling finds them cached.
  prefetch() {
    const index = this.currentIndex();
    for (const delta of [1, -1, 2, -2, 3]) {
      const i = index + delta;
      if (i < 0 || i >= this.count()) continue;
      const url = this.url(i);
      if (prefetched.has(url)) continue;
      const img = new Image();
      img.src = url;
      prefetched.set(url, img);
      if (prefetched.size > 300) prefetched.delete(prefetched.keys().next().value);
    }
  }

  // Put the current image in the <img> and say what it is.
  render() {
    if (!this.ready) return;
    const url = this.url();
    if (this.img.getAttribute("src") !== url) this.img.src = url;
    const index = this.currentIndex();
    const count = this.count();
    const where = this.prior
      ? (this.study.date ? interpolate(gettext("earlier study %(date)s"), { date: this.study.date }) : gettext("earlier study"))
      : gettext("this study");
    let text;
    if (this.kind === "stack") {
      const entry = this.frames[index];
      const pos = entry.img.position;
      this.el.dataset.position = pos === null || pos === undefined ? "" : String(pos);
      text = `${this.series.modality} ${this.series.description || ""} (${where}) · ${index + 1} / ${count}` +
        (pos === null || pos === undefined ? "" : ` · ${pos.toFixed(1)} mm`);
    } else {
      const slab = this.mpr.slab > 1 ? ` · ${interpolate(ngettext("MIP %(count)s plane", "MIP %(count)s planes", this.mpr.slab), { count: this.mpr.slab })}` : "";
      text = `${PLANE_NAMES[this.planeName]} · ${index + 1} / ${count}${slab}`;
    }
    this.el.dataset.index = String(index);
    this.label.textContent = `${this.n + 1}: ${text}`;
    this.el.setAttribute("aria-label", interpolate(gettext("Viewport %(number)s: %(text)s"), { number: this.n + 1, text }));
    this.img.alt = text;
  }

  // Scale the image to fit the viewport (up as well as down), keeping its aspect.
  fit() {
    const { naturalWidth: w, naturalHeight: h } = this.img;
    if (!w || !h) return;
    const box = this.el.getBoundingClientRect();
    const scale = Math.max(0.01, Math.min((box.width - 4) / w, (box.height - 4) / h));
    const [width, height] = [Math.floor(w * scale), Math.floor(h * scale)];
    Object.assign(this.img.style, { width: `${width}px`, height: `${height}px`,
      left: `${Math.round((box.width - 4 - width) / 2)}px`, top: `${Math.round((box.height - 4 - height) / 2)}px` });
  }

  // Fractions of the shown image → canvas pixels.
  placer() {
    this.fit();
    const box = this.el.getBoundingClientRect();
    const rect = this.img.getBoundingClientRect();
    this.canvas.width = box.width;
    this.canvas.height = box.height;
    return (fx, fy) => ({ x: rect.left - box.left + fx * rect.width, y: rect.top - box.top + fy * rect.height });
  }

  // Reference lines ([fx1, fy1, fx2, fy2] each) and, in MPR, the crosshair.
  draw(lines) {
    const at = this.placer();
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffd400";
    for (const [x1, y1, x2, y2] of lines) {
      const a = at(x1, y1);
      const b = at(x2, y2);
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    }
    this.canvas.dataset.lines = JSON.stringify(lines.map((l) => l.map((v) => Math.round(v * 1000) / 1000)));
    if (this.kind === "mpr" && this.mpr.info) {
      const c = crossInPlane(this.mpr.info, this.planeName, this.mpr.cross);
      const top = at(c.x, 0); const bottom = at(c.x, 1); const left = at(0, c.y); const right = at(1, c.y);
      ctx.strokeStyle = "#3ddc84";
      ctx.beginPath(); ctx.moveTo(top.x, top.y); ctx.lineTo(bottom.x, bottom.y);
      ctx.moveTo(left.x, left.y); ctx.lineTo(right.x, right.y); ctx.stroke();
      this.canvas.dataset.cross = JSON.stringify([c.x, c.y].map((v) => Math.round(v * 1000) / 1000));
    } else delete this.canvas.dataset.cross;
  }

  // Fractions of the image under a pointer event.
  fractionAt(event) {
    const rect = this.img.getBoundingClientRect();
    return { fx: (event.clientX - rect.left) / rect.width, fy: (event.clientY - rect.top) / rect.height };
  }
}
