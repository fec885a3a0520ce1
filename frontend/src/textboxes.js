// Text found in a flagged image by the portal, for the box editor (issue 20). The browser
// cannot run OCR fast enough, so it sends the portal a SMALL COPY of the first image of the
// series (the editor's preview, at most 640 pixels on its long side, as a PNG) and the
// file's own names, IDs and dates (ENGINE.identifying_words), never the file itself. The
// portal (uploads/intake/text_preview.py) reads the copy with Tesseract, keeps nothing, and
// answers boxes in the copy's pixels, marked when they match a name, ID or date; here they
// are scaled back to the image's own pixels.
import { csrfToken } from "./uploader.js";

export const TEXT_BOXES_URL = "/api/uploads/text-boxes/";

function pngOf(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no image"))), "image/png");
  });
}

// A box of the copy in the image's own pixels, rounded outwards and kept inside it.
function scaled(box, sx, sy, image) {
  const x0 = Math.max(0, Math.floor(box.x * sx));
  const y0 = Math.max(0, Math.floor(box.y * sy));
  const x1 = Math.min(image.columns, Math.ceil((box.x + box.w) * sx));
  const y1 = Math.min(image.rows, Math.ceil((box.y + box.h) * sy));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0, identifying: Boolean(box.identifying) };
}

/**
 * Ask the portal where the text is in `canvas` (the preview of an image of
 * `image.rows` x `image.columns` pixels).
 * @returns {Promise<{ok: true, boxes: [{x, y, w, h, identifying}]} | {ok: false, reason}>}
 */
export async function detectText(canvas, headerWords, image) {
  try {
    const form = new FormData();
    form.append("image", await pngOf(canvas), "preview.png");
    form.append("values", JSON.stringify(headerWords || {}));
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
    const boxes = data.boxes.map((b) => scaled(b, sx, sy, image)).filter((b) => b.w > 0 && b.h > 0);
    return { ok: true, boxes };
  } catch {
    return { ok: false, reason: "the portal could not be reached" };
  }
}
