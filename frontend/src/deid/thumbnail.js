// The burned-in text warning (uploads/dicom/deid/review.py says when): a small preview of
// the first frame, to place boxes on (boxeditor.js) and for the portal to read the text in
// it (textboxes.js), and the original values whose words are looked for there (words.js).
import ENGINE from "../generated/engine-constants.js";
import { EXPLICIT_BE, IMPLICIT_LE, UNCOMPRESSED } from "./common.js";
import { strings, text } from "./elements.js";

/**
 * The original values whose words are looked for in the pixels (ENGINE.identifying_words,
 * defined once in uploads/dicom/constants.py): {keyword: [value, ...]}. Kept on the page and
 * never sent: the words the portal reads in the small preview are matched against them here
 * (textboxes.js, words.js).
 */
export function identifyingValues(dict) {
  const found = {};
  for (const tags of Object.values(ENGINE.identifying_words)) {
    for (const [keyword, tag] of Object.entries(tags)) {
      const values = dict[tag] ? strings(dict[tag]).filter((v) => v.trim()) : [];
      if (values.length) found[keyword] = values;
    }
  }
  return found;
}

// Big enough to place boxes on (boxeditor.js) and for the portal to read the text in it
// (textboxes.js; the portal reads at most 640 pixels on the long side).
const THUMB_MAX = 640;

function number(dict, tag, fallback) {
  const v = strings(dict[tag])[0];
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * A small RGBA rendering of the first frame of uncompressed 8/16-bit greyscale or RGB
 * pixel data with a min/max window: {width, height, rgba: ArrayBuffer}, or
 * {unavailable: reason} (compressed, palette, YBR ...).
 */
export function thumbnail(parsed) {
  const { dict, syntax, pixel, readSyntax } = parsed;
  if (!pixel) return { unavailable: "no image data" };
  if (!UNCOMPRESSED.has(syntax)) return { unavailable: "compressed image: no preview" };
  const rows = number(dict, "00280010", 0);
  const cols = number(dict, "00280011", 0);
  const bits = number(dict, "00280100", 0);
  const samples = number(dict, "00280002", 1);
  const photometric = text(dict, "00280004").toUpperCase();
  const grey = photometric.startsWith("MONOCHROME") && samples === 1;
  const rgb = photometric === "RGB" && samples === 3;
  if (!rows || !cols || (bits !== 8 && bits !== 16) || !(grey || rgb) || (rgb && bits !== 8)) {
    return { unavailable: "this kind of image cannot be previewed" };
  }
  const header = readSyntax === IMPLICIT_LE ? 8 : 12;
  const data = pixel.subarray(header);
  if (data.length < rows * cols * samples * (bits / 8)) return { unavailable: "image data too short" };
  const scale = Math.max(1, Math.max(rows, cols) / THUMB_MAX);
  const width = Math.max(1, Math.floor(cols / scale));
  const height = Math.max(1, Math.floor(rows / scale));
  const rgba = new Uint8ClampedArray(width * height * 4);
  if (rgb) renderRgb(data, dict, rows, cols, width, height, scale, rgba);
  else renderGrey(data, dict, { cols, bits, width, height, scale, little: readSyntax !== EXPLICIT_BE,
    signed: number(dict, "00280103", 0) === 1, invert: photometric === "MONOCHROME1" }, rgba);
  return { width, height, rgba: rgba.buffer };
}

function renderGrey(data, dict, g, rgba) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = g.bits === 8
    ? (i) => (g.signed ? view.getInt8(i) : view.getUint8(i))
    : (i) => (g.signed ? view.getInt16(2 * i, g.little) : view.getUint16(2 * i, g.little));
  const sampled = new Float64Array(g.width * g.height);
  let lo = Infinity;
  let hi = -Infinity;
  for (let y = 0; y < g.height; y += 1) {
    for (let x = 0; x < g.width; x += 1) {
      const v = read(Math.floor(y * g.scale) * g.cols + Math.floor(x * g.scale));
      sampled[y * g.width + x] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const range = hi - lo || 1;
  sampled.forEach((v, i) => {
    let level = Math.round(((v - lo) / range) * 255);
    if (g.invert) level = 255 - level;
    rgba.set([level, level, level, 255], i * 4);
  });
}

function renderRgb(data, dict, rows, cols, width, height, scale, rgba) {
  const planar = number(dict, "00280006", 0) === 1;
  const plane = rows * cols;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const p = Math.floor(y * scale) * cols + Math.floor(x * scale);
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c += 1) rgba[o + c] = planar ? data[c * plane + p] : data[p * 3 + c];
      rgba[o + 3] = 255;
    }
  }
}
