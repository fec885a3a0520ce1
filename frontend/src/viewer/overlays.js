// On-image overlays: series, image number and position (top left), window and zoom
// (bottom left), orientation markers at the image's edges (from Image Orientation
// (Patient), /api/instances/<id>/geometry/) and a scale bar from Pixel Spacing
// (bottom right). Plain text elements over the stage; "o" shows or hides them.

import { gettext, interpolate } from "../i18n.js";

const NICE = [1, 2, 5, 10, 20, 50, 100, 200, 500];

function el(tag, className, testid) {
  const node = document.createElement(tag);
  node.className = className;
  if (testid) node.dataset.testid = testid;
  return node;
}

export function createOverlays(state, $) {
  const geometry = new Map(); // "instance:frame" -> {labels, spacing}, or null while loading
  let shown = true;
  let box = null;
  const parts = {};

  function build() {
    box = el("div", "viewer-overlays", "viewer-overlays");
    box.setAttribute("aria-hidden", "false");
    parts.info = el("div", "ov ov-tl", "viewer-overlay-info");
    parts.window = el("div", "ov ov-bl", "viewer-overlay-window");
    parts.scale = el("div", "ov ov-br", "viewer-overlay-scale");
    parts.bar = el("span", "ov-bar");
    parts.scaleText = el("span", "ov-bar-text");
    parts.scale.append(parts.bar, parts.scaleText);
    for (const side of ["left", "right", "top", "bottom"]) {
      parts[side] = el("div", `ov ov-mark ov-${side}`, `viewer-orientation-${side}`);
    }
    box.append(parts.info, parts.window, parts.scale, parts.left, parts.right, parts.top, parts.bottom);
    $("viewer-stage").append(box);
  }

  async function loadGeometry(entry) {
    const key = `${entry.img.id}:${entry.frame}`;
    if (geometry.has(key)) return;
    geometry.set(key, null);
    try {
      const response = await fetch(`/api/instances/${entry.img.id}/geometry/?frame=${entry.frame}`, { credentials: "same-origin" });
      geometry.set(key, response.ok ? await response.json() : {});
    } catch {
      geometry.set(key, {});
    }
    update();
  }

  function describeWindow() {
    if (state.window) return `W ${Math.round(state.window.width)} L ${Math.round(state.window.center)}`;
    const preset = state.preset && state.manifest.presets[state.preset];
    return preset ? `W ${preset.width} L ${preset.center} (${state.preset})` : gettext("W/L from the image");
  }

  function update() {
    if (!box) return;
    box.hidden = !shown;
    const entry = state.frames[state.index];
    if (!shown || !entry) return;
    const series = state.series;
    const pos = entry.img.position;
    parts.info.textContent = [
      interpolate(gettext("Series %(number)s"), { number: series.number ?? "?" }) +
        (series.description ? ` · ${series.description}` : ""),
      interpolate(gettext("Image %(index)s of %(count)s"), { index: state.index + 1, count: state.frames.length }),
      pos === null || pos === undefined ? "" : interpolate(gettext("Position %(mm)s mm"), { mm: pos.toFixed(1) }),
    ].filter(Boolean).join("\n");
    const image = $("viewer-image");
    const rect = image.getBoundingClientRect();
    const stage = $("viewer-stage").getBoundingClientRect();
    const scale = entry.img.columns ? rect.width / entry.img.columns : 0; // screen px per image px
    parts.window.textContent = `${describeWindow()}\nZoom ${Math.round(scale * 100)}%`;
    const known = geometry.get(`${entry.img.id}:${entry.frame}`);
    if (known === undefined) loadGeometry(entry);
    const labels = known && known.labels;
    for (const side of ["left", "right", "top", "bottom"]) parts[side].textContent = (labels && labels[side]) || "";
    // Markers sit at the middle of the image's edges, kept inside the stage.
    const clampX = (x) => Math.max(14, Math.min(stage.width - 14, x));
    const clampY = (y) => Math.max(14, Math.min(stage.height - 14, y));
    const midX = clampX(rect.left - stage.left + rect.width / 2);
    const midY = clampY(rect.top - stage.top + rect.height / 2);
    place(parts.left, clampX(rect.left - stage.left + 12), midY);
    place(parts.right, clampX(rect.right - stage.left - 12), midY);
    place(parts.top, midX, clampY(rect.top - stage.top + 12));
    place(parts.bottom, midX, clampY(rect.bottom - stage.top - 12));
    // Scale bar: the longest "nice" length (mm) that fits in a fifth of the stage.
    const spacing = entry.img.spacing || (known && known.spacing);
    if (spacing && scale) {
      const pxPerMm = scale / spacing[1];
      const mm = [...NICE].reverse().find((n) => n * pxPerMm <= stage.width / 5) || NICE[0];
      parts.bar.style.width = `${mm * pxPerMm}px`;
      parts.scaleText.textContent = mm >= 10 ? `${mm / 10} cm` : `${mm} mm`;
      parts.scale.hidden = false;
      parts.scale.dataset.mm = String(mm);
      parts.scale.dataset.px = String(Math.round(mm * pxPerMm * 10) / 10);
    } else {
      parts.scale.hidden = true;
    }
  }

  function place(node, x, y) {
    node.style.left = `${x}px`;
    node.style.top = `${y}px`;
  }

  function toggle() {
    shown = !shown;
    $("viewer-overlays-toggle")?.setAttribute("aria-pressed", String(shown));
    update();
  }

  function bind() {
    build();
    $("viewer-overlays-toggle")?.addEventListener("click", toggle);
    $("viewer-overlays-toggle")?.setAttribute("aria-pressed", "true");
  }

  return { update, toggle, bind };
}
