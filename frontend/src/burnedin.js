// The upload page's warning for images that may have text burned into the pixels, with
// the box editor (boxeditor.js) where the browser can black the text out before sending
// (pixelmask.js), and the boxes of every series of the upload (issue 20).
import { el } from "./dom.js";
import { boxEditor, defaultBoxes } from "./boxeditor.js";
import { detectText } from "./textboxes.js";

const NO_MASKS = [];

function previewCanvas(thumb) {
  if (!thumb || !thumb.rgba) return null;
  const canvas = el("canvas", { width: String(thumb.width), height: String(thumb.height),
                                testid: "deid-burned-in-thumbnail", "aria-label": "Preview image" });
  canvas.getContext("2d").putImageData(
    new ImageData(new Uint8ClampedArray(thumb.rgba), thumb.width, thumb.height), 0, 0);
  return canvas;
}

/** The boxes of each series (series UID -> [{x, y, w, h}]) and their editors. */
export class SeriesMasks {
  /** @param {function(string)} onChange called with the series UID whose boxes changed */
  constructor(onChange) {
    this.boxes = new Map();
    this.editors = new Map(); // kept across renders: a drag in progress goes on
    this.detecting = new Set(); // series whose preview the portal is reading (Send waits)
    this.asked = new Set(); // series whose preview was sent to the portal
    this.onChange = onChange;
  }

  of(seriesUid) {
    return this.boxes.get(seriesUid) || NO_MASKS;
  }

  set(seriesUid, boxes) {
    this.boxes.set(seriesUid, boxes);
    this.onChange(seriesUid);
  }

  /**
   * The warning for one flagged image: `review` {series, reason, thumbnail, image,
   * seriesUid, modality, images, headerWords} (upload.entry.js pixelReviews).
   */
  warning(review) {
    const box = el("div", { class: "notice burned-in", testid: "deid-burned-in" },
      el("p", {}, el("strong", { text: `Possible text in the images: ${review.series || "a series"}` }),
        ` — ${review.reason}.`));
    const thumb = review.thumbnail;
    const image = review.image;
    if (image && !image.cannotMask) {
      const fresh = !this.boxes.has(review.seriesUid); // not boxes restored for a resume
      if (fresh) this.set(review.seriesUid, defaultBoxes(review.modality, image));
      box.append(el("p", { text: "Put a box over every name, number or date written in the " +
        "picture: those parts are blacked out on this computer before anything is sent. " +
        "A radiologist checks the images too. Untick the study to leave it out." }));
      let editor = this.editors.get(review.seriesUid);
      if (!editor) {
        const canvas = previewCanvas(thumb);
        editor = boxEditor({ image, canvas, boxes: this.of(review.seriesUid),
          images: review.images, onChange: (boxes) => this.set(review.seriesUid, boxes) });
        this.editors.set(review.seriesUid, editor);
        if (fresh && canvas) this.detect(review, canvas, editor);
      }
      if (this.asked.has(review.seriesUid)) {
        box.append(el("p", { class: "helptext", testid: "pixel-mask-detect-note",
          text: "To find the text, a small copy of this image (not the file) is sent to the " +
            "portal; it is not kept. The names, numbers and dates of your file stay on this computer." }));
      }
      box.append(editor);
      return box;
    }
    const why = image ? image.cannotMask : "";
    box.append(el("p", { text: `${why ? `This image cannot be changed on this computer (${why}). ` : ""}` +
      "Text found in the pictures is blacked out by the portal after sending, and a radiologist " +
      "checks the images. Untick the study to leave it out." }));
    box.append(previewCanvas(thumb) ||
      el("p", { class: "helptext", text: (thumb && thumb.unavailable) || "no preview" }));
    return box;
  }

  // The portal reads the preview (never the file) and the editor shows what it found;
  // on failure it keeps its boxes and says so.
  async detect(review, canvas, editor) {
    this.detecting.add(review.seriesUid);
    this.asked.add(review.seriesUid);
    editor.showDetected(true);
    try {
      editor.showDetected(await detectText(canvas, review.headerWords, review.image));
    } finally {
      this.detecting.delete(review.seriesUid);
      this.onChange(review.seriesUid);
    }
  }
}
