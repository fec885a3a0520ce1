// Report editor: autosave of the draft, template switching, key images. Bundled (the CSP
// allows only external scripts from 'self') and loaded with `defer` on the editor page
// while the report is a draft.

import { gettext, interpolate, ngettext } from "./i18n.js";
import { bindSplit, listenForKeyImages } from "./report/reading.js";

const DELAY = 1500;

function csrfToken(form) {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function startEditor(form) {
  const statusEl = document.getElementById("autosave-status");
  const keyInput = document.getElementById("key-images-input");
  const keyList = document.getElementById("key-image-list");
  const templateSelect = document.getElementById("report-template");
  const defaultsEl = document.getElementById("report-template-defaults");
  const defaults = defaultsEl ? JSON.parse(defaultsEl.textContent) : {};
  let timer = null;
  let stopped = false;
  let dirty = false; // changes the server does not have yet
  let leaving = false; // a form submit (save, sign) carries the changes itself

  function setStatus(text, state) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.dataset.state = state;
  }

  function keyImages() {
    try {
      const value = JSON.parse(keyInput ? keyInput.value || "[]" : "[]");
      return Array.isArray(value) ? value : [];
    } catch {
      return [];
    }
  }

  function collect() {
    const data = {};
    form.querySelectorAll("textarea[data-section]").forEach((area) => {
      data[area.name] = area.value;
    });
    const reason = form.querySelector("textarea[name=addendum_reason]");
    if (reason) data.addendum_reason = reason.value;
    if (templateSelect) data.template = templateSelect.value;
    if (keyInput) data.key_images = keyImages();
    return data;
  }

  async function save() {
    timer = null;
    if (stopped) return;
    setStatus(gettext("Saving…"), "saving");
    try {
      const response = await fetch(form.dataset.autosaveUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
        body: JSON.stringify(collect()),
      });
      const body = await response.json();
      if (response.ok) {
        dirty = false;
        const at = new Date(body.saved_at);
        setStatus(interpolate(gettext("Draft saved at %(time)s"), { time: at.toLocaleTimeString(document.documentElement.lang || undefined) }), "saved");
      } else {
        if (response.status === 403 || response.status === 409) stopped = true;
        setStatus(interpolate(gettext("Not saved: %(error)s"), { error: body.error || response.status }), "error");
      }
    } catch {
      setStatus(gettext("Not saved (offline?) — will retry on the next change"), "error");
    }
  }

  function schedule() {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    dirty = true;
    setStatus(gettext("Unsaved changes"), "dirty");
    timer = setTimeout(save, DELAY);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return; // e.g. "Sign?" answered Cancel: still editing
    stopped = true;
    leaving = true;
    if (timer) clearTimeout(timer);
  });

  // Leaving with changes the server does not have: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (dirty && !leaving) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Preview shows what is on screen: pending changes are saved first.
  const preview = form.querySelector("[data-testid=report-preview]");
  if (preview) {
    preview.addEventListener("click", async (event) => {
      event.preventDefault();
      if (timer) clearTimeout(timer);
      if (dirty) await save();
      if (dirty) return; // not saved: the status line says why
      window.location.assign(preview.href);
    });
  }

  // Switching template: sections still empty or showing the old template's text
  // take the new template's text; anything the radiologist wrote stays.
  if (templateSelect) {
    let previous = templateSelect.value;
    templateSelect.addEventListener("change", () => {
      const before = defaults[previous] || {};
      const after = defaults[templateSelect.value] || {};
      form.querySelectorAll("textarea[data-section]").forEach((area) => {
        const name = area.dataset.section;
        const untouched = area.value.trim() === "" || area.value === (before[name] || "");
        if (untouched && name in after) area.value = after[name];
      });
      previous = templateSelect.value;
      schedule();
    });
  }

  // Key images: kept as JSON in a hidden input, shown as a list with remove buttons.
  function renderKeyImages() {
    if (!keyList) return;
    const images = keyImages();
    const select = document.getElementById("key-image-instance");
    keyList.textContent = "";
    if (!images.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = gettext("None yet.");
      keyList.appendChild(empty);
      return;
    }
    images.forEach((image, index) => {
      const item = document.createElement("li");
      item.setAttribute("data-testid", "key-image");
      const option = select ? select.querySelector(`option[value="${image.instance_id}"]`) : null;
      const name = option ? option.textContent : interpolate(gettext("Image %(id)s"), { id: image.instance_id });
      let text = interpolate(gettext("%(image)s, frame %(frame)s"), { image: name, frame: image.frame + 1 });
      if (image.center !== null && image.width !== null && image.center !== undefined) {
        text += interpolate(gettext(", W %(width)s / L %(level)s"), { width: image.width, level: image.center });
      }
      item.appendChild(document.createTextNode(`${text} `));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link-button";
      remove.textContent = gettext("Remove");
      remove.setAttribute("data-testid", "key-image-remove");
      remove.addEventListener("click", () => {
        const list = keyImages();
        list.splice(index, 1);
        keyInput.value = JSON.stringify(list);
        renderKeyImages();
        schedule();
      });
      item.appendChild(remove);
      keyList.appendChild(item);
    });
  }

  const addButton = document.getElementById("key-image-add");
  if (addButton && keyInput) {
    addButton.addEventListener("click", () => {
      const select = document.getElementById("key-image-instance");
      const option = select.options[select.selectedIndex];
      const frames = parseInt(option.dataset.frames || "1", 10);
      const frame = parseInt(document.getElementById("key-image-frame").value || "1", 10);
      const center = document.getElementById("key-image-center").value;
      const width = document.getElementById("key-image-width").value;
      if (!(frame >= 1 && frame <= frames)) {
        setStatus(interpolate(gettext("Frame must be between 1 and %(frames)s"), { frames }), "error");
        return;
      }
      if ((center === "") !== (width === "") || (width !== "" && Number(width) <= 0)) {
        setStatus(gettext("Give both level and a positive width, or neither"), "error");
        return;
      }
      const list = keyImages();
      list.push({
        instance_id: parseInt(select.value, 10),
        frame: frame - 1,
        center: center === "" ? null : Number(center),
        width: width === "" ? null : Number(width),
      });
      keyInput.value = JSON.stringify(list);
      renderKeyImages();
      schedule();
    });
  }
  renderKeyImages();
  // On the reading page the viewer beside the form adds key images itself (saved in the
  // draft already): show them, and keep them when this form autosaves.
  listenForKeyImages((list) => {
    if (!keyInput) return;
    keyInput.value = JSON.stringify(list);
    renderKeyImages();
    setStatus(interpolate(ngettext("Key image added (%(count)s in the report)", "Key image added (%(count)s in the report)", list.length), { count: list.length }), "saved");
  });
}

bindSplit();

const reportForm = document.getElementById("report-form");
if (reportForm) startEditor(reportForm);
