// Clean Pixel Data in the browser (PS3.15 E.3.1 "Clean Pixel Data Option", CID 7050 code
// 113101): black out rectangles of every frame of native (uncompressed) Pixel Data before
// the file leaves this computer. The contract shared with the server's masking
// (uploads/dicom/pixels.py):
//   * a region is {x, y, w, h} in stored pixel coordinates (column x, row y from the top
//     left), applied to every frame;
//   * the fill is "black as displayed": MONOCHROME2 the frame's minimum stored value,
//     MONOCHROME1 its maximum, RGB (0, 0, 0), YBR_FULL Y = 0 and Cb = Cr = 128,
//     PALETTE COLOR the index whose colour is darkest;
//   * after masking, Burned In Annotation (0028,0301) is NO and the De-identification
//     Method Code Sequence (0012,0064) gains 113101 (done by deid/markers.js).
// Compressed images, segmented palettes, YBR_FULL_422 and bit depths other than 8 or 16
// are not masked here: `maskProblem` says why in plain words and the server cleans them.
// Pure module: no DOM.

const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_BE = "1.2.840.10008.1.2.2";
const NATIVE = new Set([IMPLICIT_LE, "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", EXPLICIT_BE]);

function first(dict, tag, fallback) {
  const el = dict[tag];
  const v = el && Array.isArray(el.Value) ? el.Value[0] : undefined;
  if (v === undefined || v === null || v === "") return fallback;
  return typeof v === "string" ? v.trim() : v;
}

/** Rows, columns, frames and the sample layout of an image's Pixel Data (PS3.3 C.7.6.3). */
export function geometry(dict) {
  return {
    rows: Number(first(dict, "00280010", 0)),
    columns: Number(first(dict, "00280011", 0)),
    frames: Math.max(1, Number(first(dict, "00280008", 1)) || 1),
    samples: Number(first(dict, "00280002", 1)),
    bits: Number(first(dict, "00280100", 0)),
    signed: Number(first(dict, "00280103", 0)) === 1,
    planar: Number(first(dict, "00280006", 0)) === 1,
    photometric: String(first(dict, "00280004", "")).toUpperCase(),
  };
}

/** Why this computer cannot black out parts of the image, in plain words; "" if it can. */
export function maskProblem(parsed) {
  const { dict, syntax, pixel } = parsed;
  if (!pixel) return "the file has no image";
  if (!NATIVE.has(syntax)) return "the image is compressed";
  const g = geometry(dict);
  if (!g.rows || !g.columns) return "the image size is missing";
  if (g.bits !== 8 && g.bits !== 16) return "this kind of image cannot be changed here";
  const grey = g.samples === 1 && (g.photometric === "MONOCHROME1" || g.photometric === "MONOCHROME2" ||
    (g.photometric === "PALETTE COLOR" && darkestIndex(dict, little(parsed)) !== null));
  const colour = g.samples === 3 && g.bits === 8 && (g.photometric === "RGB" || g.photometric === "YBR_FULL");
  if (!grey && !colour) return "this kind of image cannot be changed here";
  const data = g.rows * g.columns * g.samples * (g.bits / 8) * g.frames;
  if (pixelData(parsed).length < data) return "the image data is shorter than the image";
  return "";
}

const little = (parsed) => parsed.readSyntax !== EXPLICIT_BE;

// PALETTE COLOR (PS3.3 C.7.6.3.1.5): the stored value whose colour is darkest (smallest
// luminance, then smallest index), or null without usable lookup tables.
function darkestIndex(dict, isLittle) {
  const luts = ["1201", "1202", "1203"].map((e) => {
    const data = dict[`0028${e}`]?.Value?.[0];
    if (data instanceof ArrayBuffer) return new DataView(data);
    return ArrayBuffer.isView(data) ? new DataView(data.buffer, data.byteOffset, data.byteLength) : null;
  });
  const descriptor = dict["00281101"]?.Value;
  if (luts.includes(null) || !Array.isArray(descriptor) || descriptor.length < 3) return null;
  const count = Number(descriptor[0]) || 65536;
  const firstMapped = Number(descriptor[1]);
  const wide = Number(descriptor[2]) === 16;
  const size = Math.min(...luts.map((v) => (wide ? v.byteLength / 2 : v.byteLength)));
  if (!Number.isFinite(firstMapped) || size < count) return null;
  const at = (v, i) => (wide ? v.getUint16(2 * i, isLittle) : v.getUint8(i));
  let best = 0;
  let bestLuma = Infinity;
  for (let i = 0; i < count; i += 1) {
    const luma = 0.299 * at(luts[0], i) + 0.587 * at(luts[1], i) + 0.114 * at(luts[2], i);
    if (luma < bestLuma) [best, bestLuma] = [i, luma];
  }
  return firstMapped + best;
}

// The value bytes of the (native) Pixel Data element kept by deid/read.js parse().
function pixelData(parsed) {
  const header = parsed.readSyntax === IMPLICIT_LE ? 8 : 12;
  return parsed.pixel.subarray(header);
}

/** Whole, non-empty regions inside the image; anything else is dropped. */
export function clipRegions(regions, rows, columns) {
  const out = [];
  for (const r of regions || []) {
    const x0 = Math.max(0, Math.round(Number(r.x)));
    const y0 = Math.max(0, Math.round(Number(r.y)));
    const x1 = Math.min(columns, Math.round(Number(r.x) + Number(r.w)));
    const y1 = Math.min(rows, Math.round(Number(r.y) + Number(r.h)));
    if ([x0, y0, x1, y1].every(Number.isFinite) && x1 > x0 && y1 > y0) {
      out.push({ x: x0, y: y0, w: x1 - x0, h: y1 - y0 });
    }
  }
  return out;
}

function greyFrame(view, g, frame, regions, little) {
  const size = g.rows * g.columns;
  const step = g.bits / 8;
  const base = frame * size * step;
  const get = g.bits === 8
    ? (i) => (g.signed ? view.getInt8(g.byte(base + i)) : view.getUint8(g.byte(base + i)))
    : (i) => (g.signed ? view.getInt16(base + 2 * i, little) : view.getUint16(base + 2 * i, little));
  const set = g.bits === 8
    ? (i, v) => (g.signed ? view.setInt8(g.byte(base + i), v) : view.setUint8(g.byte(base + i), v))
    : (i, v) => (g.signed ? view.setInt16(base + 2 * i, v, little) : view.setUint16(base + 2 * i, v, little));
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < size; i += 1) {
    const v = get(i);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const fill = g.photometric === "PALETTE COLOR" ? g.paletteFill
    : g.photometric === "MONOCHROME1" ? hi : lo;
  for (const r of regions) {
    for (let y = r.y; y < r.y + r.h; y += 1) {
      for (let x = r.x; x < r.x + r.w; x += 1) set(y * g.columns + x, fill);
    }
  }
}

function colourFrame(bytes, g, frame, regions) {
  const size = g.rows * g.columns;
  const base = frame * size * 3;
  const fill = g.photometric === "YBR_FULL" ? [0, 128, 128] : [0, 0, 0];
  for (const r of regions) {
    for (let y = r.y; y < r.y + r.h; y += 1) {
      for (let x = r.x; x < r.x + r.w; x += 1) {
        const p = y * g.columns + x;
        for (let c = 0; c < 3; c += 1) {
          bytes[g.byte(g.planar ? base + c * size + p : base + p * 3 + c)] = fill[c];
        }
      }
    }
  }
}

/**
 * Black out `regions` in every frame of `parsed` (from deid/read.js parse); the Pixel
 * Data bytes are copied first, so the original buffer is not changed.
 * @returns {number} how many regions were applied (0: nothing to do or cannot mask)
 */
export function maskPixels(parsed, regions) {
  if (maskProblem(parsed)) return 0;
  const g = geometry(parsed.dict);
  const inside = clipRegions(regions, g.rows, g.columns);
  if (!inside.length) return 0;
  parsed.pixel = parsed.pixel.slice(); // a copy: the input file stays as it was
  const bytes = pixelData(parsed);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isLittle = little(parsed);
  // 8-bit samples in OW, big endian: each pair of bytes is swapped (PS3.5 7.3, A.2).
  const vr = String.fromCharCode(parsed.pixel[4], parsed.pixel[5]);
  const swapped = !isLittle && g.bits === 8 && vr === "OW";
  g.byte = swapped ? (i) => i ^ 1 : (i) => i;
  if (g.photometric === "PALETTE COLOR") g.paletteFill = darkestIndex(parsed.dict, isLittle);
  for (let frame = 0; frame < g.frames; frame += 1) {
    if (g.samples === 1) greyFrame(view, g, frame, inside, isLittle);
    else colourFrame(bytes, g, frame, inside);
  }
  return inside.length;
}
