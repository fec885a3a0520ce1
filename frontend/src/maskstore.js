// The boxes of the upload in progress (boxeditor.js), kept in this browser until the upload
// ends: an interrupted upload that is resumed after a reload blacks out the same places
// again, so its files have the same bytes (and the same keys) as before the interruption.
// Stored under a hash of each series' UID, never the UID itself; boxes hold no personal
// data (positions in pixels).
import { sha256Hex } from "./uploader.js";

const KEY = "portal-upload-masks";

const hashOf = (uid) => sha256Hex(new TextEncoder().encode(uid));

/** Keep `masks` (series UID -> boxes) for a resume. */
export async function saveMasks(masks) {
  const saved = {};
  for (const [uid, boxes] of masks) saved[await hashOf(uid)] = boxes;
  localStorage.setItem(KEY, JSON.stringify(saved));
}

/** The saved boxes of these series: a Map series UID -> boxes. */
export async function restoreMasks(seriesUids) {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(KEY) || "{}") || {};
  } catch {
    return new Map();
  }
  const found = new Map();
  for (const uid of seriesUids) {
    const boxes = saved[await hashOf(uid)];
    if (Array.isArray(boxes)) found.set(uid, boxes);
  }
  return found;
}

/** The upload ended (done or cancelled): nothing to resume. */
export function forgetMasks() {
  localStorage.removeItem(KEY);
}
