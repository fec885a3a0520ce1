// Text found in a flagged image by the portal, for the box editor (issue 20). The browser
// cannot run OCR fast enough, so it sends the portal a SMALL COPY of the first image of the
// series (the editor's preview, at most 640 pixels on its long side, as a PNG) and nothing
// else: never the file, never its header values. The portal (uploads/intake/text_preview.py)
// reads the copy with Tesseract, keeps nothing, and answers the words it read with their
// boxes in the copy's pixels. Here the words are matched against the file's own names, IDs
// and dates (words.js, the port of uploads/dicom/words.py), so those values stay on this
// computer, and the boxes are scaled back to the image's own pixels.
import { csrfToken } from "./uploader.js";
import { Matcher, identifyingWords } from "./words.js";

export const TEXT_BOXES_URL = "/api/uploads/text-boxes/";

function pngOf(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no image"))), "image/png");
  });
}

// A box of the copy in the image's own pixels, rounded outwards and kept inside it.
function scaled(box, sx, sy, image, identifying) {
  const x0 = Math.max(0, Math.floor(box.x * sx));
  const y0 = Math.max(0, Math.floor(box.y * sy));
  const x1 = Math.min(image.columns, Math.ceil((box.x + box.w) * sx));
  const y1 = Math.min(image.rows, Math.ceil((box.y + box.h) * sy));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0, identifying };
}

// Other text offered as a suggestion: three or more letters or digits, or two digits
// (specks and shadows read as "ee" or "=" are left out).
function worthShowing(text) {
  const count = (re) => (text.match(re) || []).length;
  return count(/[\p{L}\p{N}]/gu) >= 3 || count(/\p{N}/gu) >= 2;
}

// Which of the portal's boxes hold a name, ID or date of `headerValues`, line by line.
function identifyingOf(boxes, headerValues) {
  const matcher = new Matcher(identifyingWords(headerValues || {}));
  const lines = new Map();
  boxes.forEach((b, i) => {
    if (!lines.has(b.line)) lines.set(b.line, []);
    lines.get(b.line).push(i);
  });
  const hits = new Set();
  for (const indexes of lines.values()) {
    const found = matcher.match(indexes.map((i) => String(boxes[i].text || "")));
    found.forEach((n) => hits.add(indexes[n]));
  }
  return hits;
}

/**
 * Ask the portal where the text is in `canvas` (the preview of an image of
 * `image.rows` x `image.columns` pixels); `headerValues` ({keyword: [value, ...]}, the
 * file's own names, IDs and dates) are matched here and never sent.
 * @returns {Promise<{ok: true, boxes: [{x, y, w, h, identifying}]} | {ok: false, reason}>}
 */
export async function detectText(canvas, headerValues, image) {
  try {
    const form = new FormData();
    form.append("image", await pngOf(canvas), "preview.png");
    // encoded here, so that the request's body is the bytes that are sent (and can be
    // checked in a browser's request log like every other request of the page)
    const encoded = new Response(form);
    const type = encoded.headers.get("Content-Type");
    const response = await fetch(TEXT_BOXES_URL, { method: "POST", body: await encoded.arrayBuffer(),
      credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), "Content-Type": type } });
    let data = {};
    try { data = await response.json(); } catch { data = {}; }
    if (!response.ok) return { ok: false, reason: data.error || `the portal answered ${response.status}` };
    if (!data.ocr) return { ok: false, reason: "text recognition is not available on the portal" };
    const sx = image.columns / data.width;
    const sy = image.rows / data.height;
    const hits = identifyingOf(data.boxes, headerValues);
    const boxes = data.boxes
      .map((b, i) => (hits.has(i) || worthShowing(String(b.text || "")) ? scaled(b, sx, sy, image, hits.has(i)) : null))
      .filter((b) => b && b.w > 0 && b.h > 0);
    return { ok: true, boxes };
  } catch {
    return { ok: false, reason: "the portal could not be reached" };
  }
}
