// Linked scrolling across viewports. After the active viewport moves, every other stack
// viewport shows its slice nearest the same place:
// - same Frame of Reference (0020,0052): the active slice's centre projected on the
//   other series' slice normal (absolute positions in the same patient coordinates);
// - another frame (a prior study): the distance moved since the viewports were linked,
//   along the other series' normal (the two were aligned by the reader, or by opening
//   both at their middle slice; unlink, align, link again to change that).
import { centre, dot, normal, nearestIndex, sub } from "./geometry.js";

// Remember where every viewport is now: the reference for viewports of another frame.
export function link(viewports) {
  for (const vp of viewports) {
    const plane = vp.plane();
    vp.linkPoint = plane ? centre(plane) : null;
  }
}

// The slice `target` should show for the active viewport's plane, or -1.
export function followingIndex(active, target) {
  const src = active.plane();
  const planes = target.slicePlanes();
  if (!src || !planes || !planes.length) return -1;
  const reference = planes[target.index] || planes.find(Boolean);
  if (!reference) return -1;
  const n = normal(reference);
  const sameFrame = src.frameOfReference && src.frameOfReference === reference.frameOfReference;
  let wanted;
  if (sameFrame) wanted = dot(n, centre(src));
  else if (active.linkPoint && target.linkPoint) wanted = dot(n, target.linkPoint) + dot(n, sub(centre(src), active.linkPoint));
  else return -1;
  return nearestIndex(planes, wanted);
}

export function follow(active, viewports) {
  for (const vp of viewports) {
    if (vp === active || vp.kind !== "stack") continue;
    const index = followingIndex(active, vp);
    if (index >= 0 && index !== vp.index) vp.setIndex(index);
  }
}
