// Multiplanar reformat in the browser: the server renders each plane as a PNG
// (uploads/dicom/mpr.py); here the crosshair that links the three planes, and the plane
// of each image in patient coordinates (for reference lines on other viewports).
//
// `info` is the series' /api/series/<id>/mpr/ answer: the volume's size (columns, rows,
// slices), its voxel → LPS affine (4×4, row-major) and, per plane, which volume axis is
// fixed, which runs across and down the screen, and whether those are flipped.
// The crosshair is a point in voxel coordinates [i, j, k].

export const PLANES = ["axial", "coronal", "sagittal"];

function voxelToWorld(info, voxel) {
  const a = info.affine;
  return [0, 1, 2].map((r) => a[r * 4] * voxel[0] + a[r * 4 + 1] * voxel[1] + a[r * 4 + 2] * voxel[2] + a[r * 4 + 3]);
}

function axisVector(info, axis) { return [0, 1, 2].map((r) => info.affine[r * 4 + axis]); }

// Voxel coordinate along an axis of `n` voxels for a fraction of the screen, and back.
const toVoxel = (fraction, n, flip) => { const c = fraction * n - 0.5; return flip ? n - 1 - c : c; };
const toFraction = (c, n, flip) => ((flip ? n - 1 - c : c) + 0.5) / n;

export function centreCross(info) { return info.shape.map((n) => Math.floor(n / 2)); }

// The crosshair's place in a plane's image, as fractions of its width and height.
export function crossInPlane(info, plane, cross) {
  const p = info.planes[plane];
  return { x: toFraction(cross[p.horizontal], p.columns, p.flip_horizontal),
           y: toFraction(cross[p.vertical], p.rows, p.flip_vertical) };
}

// A click at fractions (fx, fy) of a plane's image moves the crosshair there (the plane's
// own index stays); the other two planes then show the planes through that point.
export function crossFromClick(info, plane, cross, fx, fy) {
  const p = info.planes[plane];
  const next = [...cross];
  const clamp = (v, n) => Math.max(0, Math.min(n - 1, Math.round(v)));
  next[p.horizontal] = clamp(toVoxel(fx, p.columns, p.flip_horizontal), p.columns);
  next[p.vertical] = clamp(toVoxel(fy, p.rows, p.flip_vertical), p.rows);
  return next;
}

export function planeIndex(info, plane, cross) { return cross[info.planes[plane].fixed]; }

export function withIndex(info, plane, cross, index) {
  const p = info.planes[plane];
  const next = [...cross];
  next[p.fixed] = Math.max(0, Math.min(p.count - 1, index));
  return next;
}

// The plane shown (at the crosshair's index) in patient coordinates: see geometry.js.
export function mprPlane(info, plane, index) {
  const p = info.planes[plane];
  const corner = [0, 0, 0];
  corner[p.fixed] = index;
  corner[p.horizontal] = p.flip_horizontal ? p.columns - 1 : 0;
  corner[p.vertical] = p.flip_vertical ? p.rows - 1 : 0;
  const sign = (flip) => (flip ? -1 : 1);
  return {
    origin: voxelToWorld(info, corner),
    right: axisVector(info, p.horizontal).map((v) => v * sign(p.flip_horizontal)),
    down: axisVector(info, p.vertical).map((v) => v * sign(p.flip_vertical)),
    columns: p.columns, rows: p.rows, frameOfReference: info.frame_of_reference,
  };
}

export function planeUrl(seriesId, plane, index, { size, slab, window, preset } = {}) {
  const params = new URLSearchParams({ index: String(index) });
  if (slab && slab > 1) params.set("slab", String(slab));
  if (size) params.set("size", String(size));
  if (window) { params.set("wc", window.center.toFixed(1)); params.set("ww", window.width.toFixed(1)); }
  else if (preset) params.set("preset", preset);
  return `/api/series/${seriesId}/mpr/${plane}.png?${params}`;
}
