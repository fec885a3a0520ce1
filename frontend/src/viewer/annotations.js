// Annotations of the viewer: length, angle, rectangle and ellipse regions, pixel probe.
//
// Each belongs to one image (instance, frame) and is kept in that image's own pixel
// coordinates (Columns x Rows; a pixel's centre is at +0.5), so it is redrawn in the
// right place whatever the zoom, pan or size of the stage. Region statistics and probe
// values come from the server, from the stored pixels in modality units (HU for CT):
// /api/instances/<id>/roi/ and /probe/ (uploads/dicom/roi.py). On the reading page the
// annotations are saved with the report draft (/studies/<id>/report/annotations/).

import { gettext, interpolate } from "../i18n.js";

export const TOOLS = {
  length: { key: "m", points: 2, label: "Length" },
  angle: { key: "a", points: 3, label: "Angle" },
  rectangle: { key: "b", points: 2, label: "Rectangle" },
  ellipse: { key: "e", points: 2, label: "Ellipse" },
  probe: { key: "v", points: 1, label: "Pixel value" },
};
const COLOUR = "#ffd400";
const SELECTED = "#3ee0ff";
const SAVE_DELAY = 800;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function createAnnotations(view) {
  // view: { entry(): {img, frame} | null, imageRect(), stageRect(), redraw(), status(text),
  //         saveUrl: string | null, onSaved(text) }
  const marks = new Map(); // "instance:frame" -> [{id, kind, points, result}]
  let tool = null; // the kind being drawn, or null
  let pending = null; // {kind, points, moving} while drawing
  let selected = null; // id of the selected annotation
  let counter = 0;
  let saveTimer = null;
  let editable = Boolean(view.saveUrl);

  const keyOf = (entry) => `${entry.img.id}:${entry.frame}`;
  const here = () => {
    const entry = view.entry();
    return entry ? marks.get(keyOf(entry)) || [] : [];
  };
  const newId = () => `a${Date.now().toString(36)}${(counter++).toString(36)}`;

  // Image point under a pointer event (the image's own pixels, inside the image).
  function toImage(event) {
    const { img } = view.entry();
    const rect = view.imageRect();
    const x = ((event.clientX - rect.left) / rect.width) * img.columns;
    const y = ((event.clientY - rect.top) / rect.height) * img.rows;
    const round = (v) => Math.round(v * 1000) / 1000; // as the server keeps them
    return [round(Math.max(0, Math.min(img.columns, x))), round(Math.max(0, Math.min(img.rows, y)))];
  }

  function spacing() {
    const s = view.entry()?.img.spacing;
    return s ? { x: s[1], y: s[0] } : null;
  }

  function lengthText(points) {
    const [a, b] = points;
    const s = spacing();
    return s
      ? `${Math.hypot((b[0] - a[0]) * s.x, (b[1] - a[1]) * s.y).toFixed(1)} mm`
      : `${Math.hypot(b[0] - a[0], b[1] - a[1]).toFixed(0)} px (no pixel spacing: not mm)`;
  }

  function angleText(points) {
    const s = spacing() || { x: 1, y: 1 };
    const [a, v, c] = points;
    const u = [(a[0] - v[0]) * s.x, (a[1] - v[1]) * s.y];
    const w = [(c[0] - v[0]) * s.x, (c[1] - v[1]) * s.y];
    const deg = Math.abs(Math.atan2(u[0] * w[1] - u[1] * w[0], u[0] * w[0] + u[1] * w[1]) * 180 / Math.PI);
    return `${deg.toFixed(1)}°`;
  }

  function number(value) {
    return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
  }

  function text(mark) {
    if (mark.kind === "length") return lengthText(mark.points);
    if (mark.kind === "angle") return mark.points.length === 3 ? angleText(mark.points) : "";
    const r = mark.result;
    if (!r) return mark.kind === "probe" ? "…" : "measuring…";
    if (r.error) return r.error;
    if (mark.kind === "probe") return `${number(r.value)} ${r.unit}`.trim();
    const unit = r.unit ? ` ${r.unit}` : "";
    const area = r.area_unit === "mm²" ? `${(r.area / 100).toFixed(2)} cm²` : `${r.area} px`;
    return `mean ${number(r.mean)}${unit}, SD ${number(r.sd)}, min ${number(r.min)}, max ${number(r.max)}, area ${area}`;
  }

  async function measure(mark, entry) {
    const base = `/api/instances/${entry.img.id}`;
    const params = new URLSearchParams({ frame: String(entry.frame) });
    let url;
    if (mark.kind === "probe") {
      params.set("x", String(mark.points[0][0])); params.set("y", String(mark.points[0][1]));
      url = `${base}/probe/?${params}`;
    } else {
      const [[x0, y0], [x1, y1]] = mark.points;
      Object.entries({ shape: mark.kind, x0, y0, x1, y1 }).forEach(([k, v]) => params.set(k, String(v)));
      url = `${base}/roi/?${params}`;
    }
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      const body = await response.json();
      mark.result = response.ok ? body : { error: body.error || "could not be measured" };
    } catch {
      mark.result = { error: "could not be measured (offline?)" };
    }
    view.redraw();
  }

  function add(mark, entry) {
    const key = keyOf(entry);
    marks.set(key, [...(marks.get(key) || []), mark]);
    selected = mark.id;
    if (mark.kind === "probe" || mark.kind === "rectangle" || mark.kind === "ellipse") measure(mark, entry);
    changed();
  }

  // -- saving with the report draft ----------------------------------------------------
  function all() {
    const out = [];
    for (const [key, list] of marks) {
      const [instance, frame] = key.split(":").map(Number);
      for (const m of list) out.push({ id: m.id, instance_id: instance, frame, kind: m.kind, points: m.points });
    }
    return out;
  }

  function changed() {
    view.redraw();
    if (!editable) return;
    clearTimeout(saveTimer);
    view.onSaved(gettext("Unsaved annotations"));
    saveTimer = setTimeout(save, SAVE_DELAY);
  }

  async function save() {
    saveTimer = null;
    if (!editable) return true;
    try {
      const response = await fetch(view.saveUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ annotations: all() }),
      });
      const body = await response.json();
      if (!response.ok) {
        if (response.status === 409 || response.status === 403) editable = false;
        view.onSaved(interpolate(gettext("Annotations not saved: %(error)s"), { error: body.error || response.status }));
        return false;
      }
      view.onSaved(gettext("Annotations saved with the report"));
      return true;
    } catch {
      view.onSaved(gettext("Annotations not saved (offline?)"));
      return false;
    }
  }

  async function flush() {
    if (saveTimer) { clearTimeout(saveTimer); return save(); }
    return true;
  }

  async function load(entryOf) {
    if (!view.saveUrl) return;
    const response = await fetch(view.saveUrl, { credentials: "same-origin" });
    if (!response.ok) { editable = false; return; }
    const body = await response.json();
    editable = body.editable;
    for (const a of body.annotations) {
      const key = `${a.instance_id}:${a.frame}`;
      const mark = { id: a.id, kind: a.kind, points: a.points, result: null };
      marks.set(key, [...(marks.get(key) || []), mark]);
      const entry = entryOf(a.instance_id, a.frame);
      if (entry && (a.kind === "probe" || a.kind === "rectangle" || a.kind === "ellipse")) measure(mark, entry);
    }
    view.redraw();
  }

  // -- pointer: returns true when the annotations took the event ----------------------
  function hit(event) {
    const rect = view.imageRect();
    const entry = view.entry();
    if (!entry) return null;
    const toStage = (p) => [rect.left + (p[0] / entry.img.columns) * rect.width, rect.top + (p[1] / entry.img.rows) * rect.height];
    let best = null;
    for (const m of here()) {
      const pts = m.points.map(toStage);
      let d;
      if (m.kind === "rectangle" || m.kind === "ellipse") {
        const [x0, x1] = [pts[0][0], pts[1][0]].sort((p, q) => p - q);
        const [y0, y1] = [pts[0][1], pts[1][1]].sort((p, q) => p - q);
        d = event.clientX >= x0 && event.clientX <= x1 && event.clientY >= y0 && event.clientY <= y1 ? 0 : Infinity;
      } else {
        d = Math.min(...pts.map((p) => Math.hypot(p[0] - event.clientX, p[1] - event.clientY)));
        for (let i = 0; i + 1 < pts.length; i++) d = Math.min(d, segmentDistance(pts[i], pts[i + 1], [event.clientX, event.clientY]));
      }
      if (d <= 6 && (!best || d < best.d)) best = { d, m };
    }
    return best ? best.m : null;
  }

  function pointerDown(event) {
    if (event.button !== 0 || !view.entry()) return false;
    if (!tool) {
      const m = hit(event);
      if (!m) { if (selected) { selected = null; view.redraw(); } return false; }
      selected = m.id;
      view.redraw();
      return true;
    }
    const p = toImage(event);
    if (pending && pending.kind === "angle" && pending.points.length === 2) {
      pending.points.push(p);
      pending.moving = true;
      view.redraw();
      return true;
    }
    pending = { kind: tool, points: TOOLS[tool].points === 1 ? [p] : [p, p], moving: true };
    view.redraw();
    return true;
  }

  // The pixel-value tool reads the value under the cursor as it moves (debounced; from
  // the server) into the status line; a click pins it as an annotation.
  let hoverTimer = null;
  function hover(event) {
    const entry = view.entry();
    if (!entry) return;
    const [x, y] = toImage(event);
    clearTimeout(hoverTimer);
    hoverTimer = setTimeout(async () => {
      const params = new URLSearchParams({ frame: String(entry.frame), x: String(x), y: String(y) });
      try {
        const response = await fetch(`/api/instances/${entry.img.id}/probe/?${params}`, { credentials: "same-origin" });
        const body = await response.json();
        view.probe(response.ok ? interpolate(gettext("value at %(x)s, %(y)s: %(value)s"), { x: body.x, y: body.y, value: `${number(body.value)} ${body.unit}`.trim() }) : body.error);
      } catch {
        view.probe("");
      }
    }, 60);
  }

  function pointerMove(event) {
    if (tool === "probe" && !pending) { hover(event); return false; }
    if (!pending || !pending.moving) return false;
    pending.points[pending.points.length - 1] = toImage(event);
    view.redraw();
    return true;
  }

  function pointerUp() {
    if (!pending) return false;
    pending.moving = false;
    const entry = view.entry();
    const pts = pending.points;
    const [a, b] = [pts[pts.length - 2] || pts[0], pts[pts.length - 1]];
    const big = pts.length === 1 || Math.hypot(b[0] - a[0], b[1] - a[1]) > 1;
    if (pending.kind === "angle" && pts.length === 2) {
      if (!big) pending = null; // a click without a drag: nothing started
      view.redraw();
      return true; // the second arm: the next click
    }
    if (big) add({ id: newId(), kind: pending.kind, points: pts, result: null }, entry);
    pending = null;
    view.redraw();
    return true;
  }

  // Delete: the selected annotation, else the last one of this image. Esc: all of this
  // image's, and the tool stops.
  function remove(everything) {
    const entry = view.entry();
    pending = null;
    if (!entry) return;
    const key = keyOf(entry);
    let list = here();
    if (everything) list = [];
    else if (selected && list.some((m) => m.id === selected)) list = list.filter((m) => m.id !== selected);
    else list = list.slice(0, -1);
    selected = null;
    if (list.length) marks.set(key, list); else marks.delete(key);
    changed();
  }

  // n: select the next annotation of this image (keyboard users).
  function selectNext() {
    const list = here();
    if (!list.length) return;
    const i = list.findIndex((m) => m.id === selected);
    selected = list[(i + 1) % list.length].id;
    view.redraw();
  }

  function setTool(kind) {
    tool = tool === kind ? null : kind;
    pending = null;
    view.redraw();
    return tool;
  }

  // -- drawing --------------------------------------------------------------------------
  function draw(ctx, stage) {
    const entry = view.entry();
    if (!entry) return { measures: [], annotations: [], text: "" };
    const rect = view.imageRect();
    const px = (p) => [rect.left - stage.left + (p[0] / entry.img.columns) * rect.width,
                       rect.top - stage.top + (p[1] / entry.img.rows) * rect.height];
    const list = [...here(), ...(pending ? [{ ...pending, id: "pending" }] : [])];
    const measures = [];
    const annotations = [];
    let shownText = "";
    ctx.lineWidth = 2;
    ctx.font = "14px sans-serif";
    for (const m of list) {
      const pts = m.points.map(px);
      const colour = m.id === selected ? SELECTED : COLOUR;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.beginPath();
      if (m.kind === "length" || m.kind === "angle") {
        pts.forEach((p, i) => (i ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])));
      } else if (m.kind === "rectangle") {
        ctx.rect(pts[0][0], pts[0][1], pts[1][0] - pts[0][0], pts[1][1] - pts[0][1]);
      } else if (m.kind === "ellipse") {
        const cx = (pts[0][0] + pts[1][0]) / 2;
        const cy = (pts[0][1] + pts[1][1]) / 2;
        ctx.ellipse(cx, cy, Math.abs(pts[1][0] - pts[0][0]) / 2, Math.abs(pts[1][1] - pts[0][1]) / 2, 0, 0, 2 * Math.PI);
      } else {
        const [x, y] = pts[0];
        ctx.moveTo(x - 6, y); ctx.lineTo(x + 6, y); ctx.moveTo(x, y - 6); ctx.lineTo(x, y + 6);
      }
      ctx.stroke();
      const label = text(m);
      const anchor = pts[pts.length - 1];
      if (label) ctx.fillText(label, anchor[0] + 6, anchor[1] - 6);
      if (m.id === selected || m.id === "pending" || !shownText) shownText = label;
      const rounded = pts.map((p) => p.map((v) => Math.round(v * 10) / 10));
      if (m.kind === "length" && m.id !== "pending") measures.push(rounded.flat());
      if (m.id !== "pending") annotations.push({ id: m.id, kind: m.kind, points: rounded, image: m.points, text: label,
                                             result: m.result || null, selected: m.id === selected });
    }
    if (list.length && !selected && !pending) shownText = text(list[list.length - 1]);
    return { measures, annotations, text: shownText };
  }

  return { pointerDown, pointerMove, pointerUp, remove, selectNext, setTool, draw, load, flush,
           all, get tool() { return tool; }, get editable() { return editable; } };
}

function segmentDistance(a, b, p) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len)) : 0;
  return Math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
}
