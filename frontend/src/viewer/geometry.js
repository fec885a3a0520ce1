// Image planes in patient coordinates (DICOM LPS, mm; PS3.3 C.7.6.2.1.1): where a pixel
// of a viewport's image lies, reference lines, and the slice nearest a point.
//
// A plane is { origin, right, down, columns, rows, frameOfReference }: the centre of
// pixel (0, 0), the step to the next column and to the next row (mm vectors), and the
// image's size in pixels. A point at fraction (fx, fy) of the shown image is pixel
// (fx·columns − ½, fy·rows − ½).

export const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const times = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

export function normal(plane) {
  const n = cross(plane.right, plane.down);
  const length = Math.hypot(...n) || 1;
  return times(n, 1 / length);
}

// The plane of one stack image from Image Position/Orientation (Patient) and Pixel Spacing.
export function imagePlane(image, frameOfReference) {
  if (!image || !image.position || !image.orientation) return null;
  const spacing = image.spacing || [1, 1];
  return {
    origin: image.position,
    right: times(image.orientation.slice(0, 3), spacing[1]),
    down: times(image.orientation.slice(3, 6), spacing[0]),
    columns: image.columns, rows: image.rows, frameOfReference,
  };
}

export function pointAt(plane, fx, fy) {
  return add(plane.origin, add(times(plane.right, fx * plane.columns - 0.5), times(plane.down, fy * plane.rows - 0.5)));
}

export function centre(plane) { return pointAt(plane, 0.5, 0.5); }

// Where plane `a` cuts the image of plane `b`: [fx1, fy1, fx2, fy2] in fractions of b's
// image, or null (parallel planes, no crossing inside the image, other frame of reference).
export function referenceLine(a, b) {
  if (!a || !b || !a.frameOfReference || a.frameOfReference !== b.frameOfReference) return null;
  const n = normal(a);
  if (Math.abs(dot(n, normal(b))) > 0.996) return null;  // within 5°: parallel
  const corners = [[0, 0], [1, 0], [1, 1], [0, 1]];
  const side = corners.map(([fx, fy]) => dot(n, sub(pointAt(b, fx, fy), a.origin)));
  const found = [];
  for (let e = 0; e < 4; e++) {
    const [p, q] = [e, (e + 1) % 4];
    if ((side[p] < 0) === (side[q] < 0) || side[p] === side[q]) continue;
    const t = side[p] / (side[p] - side[q]);
    found.push(corners[p][0] + t * (corners[q][0] - corners[p][0]), corners[p][1] + t * (corners[q][1] - corners[p][1]));
  }
  return found.length >= 4 ? found.slice(0, 4) : null;
}

// The position of a plane along a normal (mm): the distance of its centre from the origin.
export function positionAlong(n, plane) { return dot(n, centre(plane)); }

// Index of the plane (of `planes`) whose position along their normal is nearest `target`.
export function nearestIndex(planes, target) {
  let best = -1;
  let distance = Infinity;
  planes.forEach((plane, i) => {
    if (!plane) return;
    const d = Math.abs(positionAlong(normal(plane), plane) - target);
    if (d < distance) { distance = d; best = i; }
  });
  return best;
}
