// The box editor of the upload page (issue 20): over the preview of an image flagged for
// possible burned-in text, the uploader places boxes over names and numbers written into
// the picture; the browser blacks them out in every frame of every image of the series
// before sending (pixelmask.js). Boxes are {x, y, w, h} in the image's own pixels.
//
// Mouse, touch and pen: drag a box to move it, drag its corner to resize it. Keyboard:
// Tab to a box, arrow keys move it, Shift + arrow keys resize it, Delete removes it.
// Every string is a whole sentence or label, so that it can be translated as it is.
//
// Text found by the portal (textboxes.js) is shown with `showDetected`: names, numbers and
// dates of the file get a box at once (red), other text is offered as a suggestion
// (dashed outline and a button) that one click or key adds as a box.

import { el as node } from "./dom.js";

const MIN_SIZE = 4; // pixels of the image

/** The default boxes: the top band where ultrasound scanners write the header. */
export function defaultBoxes(modality, image) {
  if (modality !== "US" || !image.rows || !image.columns) return [];
  return [{ x: 0, y: 0, w: image.columns, h: Math.max(MIN_SIZE, Math.round(image.rows / 10)) }];
}

function clamp(box, image) {
  const w = Math.min(image.columns, Math.max(MIN_SIZE, Math.round(box.w)));
  const h = Math.min(image.rows, Math.max(MIN_SIZE, Math.round(box.h)));
  const x = Math.min(image.columns - w, Math.max(0, Math.round(box.x)));
  const y = Math.min(image.rows - h, Math.max(0, Math.round(box.y)));
  return { x, y, w, h };
}

function summaryText(count, images) {
  const where = images === 1 ? "this image" : `each of the ${images} images of this series`;
  if (!count) return `Nothing will be blacked out in ${where}. Add a box over any name, number or date written in the picture.`;
  return `${count === 1 ? "1 box" : `${count} boxes`} will be blacked out in ${where} before sending.`;
}

const plural = (n, one, many) => (n === 1 ? `1 ${one}` : `${n} ${many}`);
const keyOf = (b) => `${b.x},${b.y},${b.w},${b.h}`;

function detectedText(found, suggested) {
  if (!found && !suggested) return "The portal found no text in this image. Check it yourself all the same.";
  const words = found
    ? `The portal found ${plural(found, "name, number or date", "names, numbers or dates")} in this image: ${found === 1 ? "it has" : "they have"} a red box.`
    : "The portal found no name, number or date in this image.";
  return suggested ? `${words} ${plural(suggested, "other piece of text is", "other pieces of text are")} outlined: add a box over any of them with the buttons below.` : words;
}

function describe(box, index) {
  return `Box ${index + 1}: ${box.w} × ${box.h} pixels, ${box.x} from the left, ${box.y} from the top`;
}

/**
 * Build the editor.
 * @param {object} opts {image: {rows, columns}, canvas: the preview (or null), boxes,
 *   images: how many images the boxes apply to, onChange(boxes)}
 * @returns {HTMLElement}
 */
export function boxEditor({ image, canvas, boxes: initial, images, onChange }) {
  const boxes = initial.map((b) => clamp(b, image));
  const stage = node("div", { class: "mask-stage", testid: "pixel-mask-stage" });
  stage.style.aspectRatio = `${image.columns} / ${image.rows}`;
  if (canvas) stage.append(canvas);
  const hints = node("div", { class: "mask-layer mask-hints" });
  const layer = node("div", { class: "mask-layer" });
  stage.append(hints, layer);
  const detected = new Set(); // boxes placed from the portal's text check (drawn red)
  let suggestions = [];
  const found = node("p", { class: "helptext", testid: "pixel-mask-detected", "aria-live": "polite" });
  found.hidden = true;
  const suggestList = node("ul", { class: "mask-list", testid: "pixel-mask-suggestions" });
  const summary = node("p", { class: "helptext", testid: "pixel-mask-summary", "aria-live": "polite" });
  const list = node("ul", { class: "mask-list", testid: "pixel-mask-list" });
  const add = node("button", { type: "button", class: "secondary", testid: "pixel-mask-add",
                               text: "Add a box" });
  const help = node("p", { class: "helptext", text: "Drag a box to move it and its corner to " +
    "resize it. With the keyboard: Tab to a box, arrow keys move it, Shift and arrow keys " +
    "resize it, Delete removes it." });

  const changed = (focusIndex = null) => {
    onChange(boxes.map((b) => ({ ...b })));
    draw(focusIndex);
  };

  const pct = (value, total) => `${(100 * value) / total}%`;

  function place(el, box) {
    el.style.left = pct(box.x, image.columns);
    el.style.top = pct(box.y, image.rows);
    el.style.width = pct(box.w, image.columns);
    el.style.height = pct(box.h, image.rows);
    Object.assign(el.dataset, { x: String(box.x), y: String(box.y), w: String(box.w), h: String(box.h) });
    el.setAttribute("aria-label", describe(box, Number(el.dataset.index)));
  }

  // Drag with any pointer: move (the box) or resize (its corner handle).
  function drag(event, index, mode) {
    event.preventDefault();
    event.stopPropagation();
    const el = event.currentTarget.closest("[data-testid=pixel-mask-box]");
    el.focus();
    const start = { ...boxes[index] };
    const scale = image.columns / stage.getBoundingClientRect().width;
    const [x0, y0] = [event.clientX, event.clientY];
    const move = (e) => {
      const dx = (e.clientX - x0) * scale;
      const dy = (e.clientY - y0) * scale;
      boxes[index] = clamp(mode === "move" ? { ...start, x: start.x + dx, y: start.y + dy }
        : { ...start, w: start.w + dx, h: start.h + dy }, image);
      place(el, boxes[index]);
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", up);
      const now = boxes[index];
      if (["x", "y", "w", "h"].some((k) => now[k] !== start[k])) changed(index);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", up);
  }

  function onKey(event, index) {
    const step = Math.max(1, Math.round(image.columns / 50)) * (event.altKey ? 0.2 : 1);
    const arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      boxes.splice(index, 1);
      changed(Math.min(index, boxes.length - 1));
      return;
    }
    const delta = arrows[event.key];
    if (!delta) return;
    event.preventDefault();
    const box = boxes[index];
    boxes[index] = clamp(event.shiftKey ? { ...box, w: box.w + delta[0], h: box.h + delta[1] }
      : { ...box, x: box.x + delta[0], y: box.y + delta[1] }, image);
    changed(index);
  }

  function draw(focusIndex) {
    layer.replaceChildren(...boxes.map((box, index) => {
      const handle = node("span", { class: "mask-handle", testid: "pixel-mask-resize", "aria-hidden": "true" });
      const cls = detected.has(keyOf(box)) ? "mask-box detected" : "mask-box";
      const el = node("div", { class: cls, testid: "pixel-mask-box", tabindex: "0",
                               role: "group", "data-index": String(index) }, handle);
      place(el, box);
      el.addEventListener("pointerdown", (e) => drag(e, index, "move"));
      handle.addEventListener("pointerdown", (e) => drag(e, index, "resize"));
      el.addEventListener("keydown", (e) => onKey(e, index));
      return el;
    }));
    list.replaceChildren(...boxes.map((box, index) => {
      const remove = node("button", { type: "button", class: "link", testid: "pixel-mask-remove",
                                      text: `Remove box ${index + 1}` });
      remove.addEventListener("click", () => {
        boxes.splice(index, 1);
        changed();
      });
      return node("li", {}, `${describe(box, index)} `, remove);
    }));
    const open = suggestions.filter((s) => !boxes.some((b) => keyOf(b) === keyOf(s)));
    hints.replaceChildren(...open.map((s) => {
      const el = node("div", { class: "mask-hint", testid: "pixel-mask-suggested", "aria-hidden": "true" });
      place(el, s);
      el.removeAttribute("aria-label");
      el.addEventListener("click", () => addBox(s));
      return el;
    }));
    suggestList.replaceChildren(...open.map((s) => {
      const button = node("button", { type: "button", class: "link", testid: "pixel-mask-suggestion",
        text: `Add a box over the text ${s.x} from the left, ${s.y} from the top` });
      button.addEventListener("click", () => addBox(s));
      return node("li", {}, button);
    }));
    summary.textContent = summaryText(boxes.length, images);
    if (focusIndex !== null && focusIndex >= 0) layer.children[focusIndex]?.focus();
  }

  function addBox(box) {
    boxes.push(clamp(box, image));
    changed(boxes.length - 1);
  }

  add.addEventListener("click", () => {
    const w = Math.max(MIN_SIZE, Math.round(image.columns / 4));
    const h = Math.max(MIN_SIZE, Math.round(image.rows / 8));
    boxes.push(clamp({ x: (image.columns - w) / 2, y: (image.rows - h) / 2, w, h }, image));
    changed(boxes.length - 1);
  });

  draw(null);
  const editor = node("div", { class: "mask-editor", testid: "pixel-mask-editor" },
    found, stage, summary, add, list, suggestList, help);
  /** Say that the portal is looking for text (true) or show what it found. */
  editor.showDetected = (result) => {
    found.hidden = false;
    if (result === true) {
      found.textContent = "Looking for text in this image…";
      return;
    }
    if (!result.ok) {
      found.textContent = `The portal could not look for text in this image (${result.reason}). ` +
        "Nothing was added: put the boxes yourself.";
      return;
    }
    const names = result.boxes.filter((b) => b.identifying).map((b) => clamp(b, image));
    for (const box of names) {
      detected.add(keyOf(box));
      if (!boxes.some((b) => keyOf(b) === keyOf(box))) boxes.push(box);
    }
    suggestions = result.boxes.filter((b) => !b.identifying).map((b) => clamp(b, image));
    found.textContent = detectedText(names.length, suggestions.length);
    const focused = [...layer.children].indexOf(document.activeElement); // keep the focus
    if (names.length) changed(focused >= 0 ? focused : null);
    else draw(focused >= 0 ? focused : null);
  };
  return editor;
}
