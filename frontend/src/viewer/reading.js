// The viewer's side of the reading page: "Add key image" from the current viewport into
// the report draft, the link back to the report, and the mouse convention of the user.
import { CONVENTIONS, describe } from "./mouse.js";
import { gettext, interpolate } from "../i18n.js";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function bindReading(root, state, $, notes) {
  const keyImageUrl = root.dataset.keyImageUrl || "";

  // The viewport as a key image: instance, frame, window, and zoom with the image point
  // at the centre of the stage (fractions of the image); the server draws the
  // annotations of that image on it (reports/key_image_draw.py).
  function viewport() {
    const entry = state.frames[state.index];
    const rect = $("viewer-image").getBoundingClientRect();
    const stage = $("viewer-stage").getBoundingClientRect();
    const preset = state.preset && state.manifest.presets[state.preset];
    const win = state.window || preset || null;
    const seen = Math.min(1, stage.width / rect.width, stage.height / rect.height);
    const centre = (v) => Math.max(0, Math.min(1, v));
    return {
      instance_id: entry.img.id, frame: entry.frame,
      center: win ? Math.round(win.center * 10) / 10 : null,
      width: win ? Math.round(win.width * 10) / 10 : null,
      zoom: Math.round((1 / seen) * 100) / 100,
      cx: centre((stage.left + stage.width / 2 - rect.left) / rect.width),
      cy: centre((stage.top + stage.height / 2 - rect.top) / rect.height),
    };
  }

  async function addKeyImage() {
    const status = $("viewer-annotations-status");
    if (!(await notes.flush())) return; // the annotations must be in the draft first
    const response = await fetch(keyImageUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(viewport()),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { status.textContent = interpolate(gettext("Key image not added: %(error)s"), { error: body.error || response.status }); return; }
    status.textContent = interpolate(gettext("Key image %(number)s added to the report"), { number: body.key_images.length });
    // The editor beside us (same origin) shows it at once and keeps it when it autosaves.
    if (window.parent !== window) window.parent.postMessage({ type: "key-images", keyImages: body.key_images }, window.location.origin);
  }

  async function setMouse(value) {
    state.mouse = value;
    $("viewer-mouse-help").textContent = describe(value);
    if (!root.dataset.mouseUrl) return;
    await fetch(root.dataset.mouseUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ mouse: value }),
    });
  }

  function bind() {
    const button = $("viewer-key-image");
    if (button) { button.hidden = !keyImageUrl; button.addEventListener("click", addKeyImage); }
    const select = $("viewer-mouse");
    if (select) {
      select.replaceChildren(...Object.entries(CONVENTIONS).map(([value, c]) => {
        const option = document.createElement("option");
        option.value = value; option.textContent = c.label; option.selected = value === state.mouse;
        return option;
      }));
      select.addEventListener("change", () => setMouse(select.value));
      $("viewer-mouse-help").textContent = describe(state.mouse);
    }
  }

  return { bind, addKeyImage, get canAddKeyImage() { return Boolean(keyImageUrl); } };
}
