// Report editor: autosave of the draft, template switching, key images.
// Plain script (no build step); the CSP allows only external scripts from 'self'.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var statusEl = document.getElementById("autosave-status");
  var keyInput = document.getElementById("key-images-input");
  var keyList = document.getElementById("key-image-list");
  var templateSelect = document.getElementById("report-template");
  var defaultsEl = document.getElementById("report-template-defaults");
  var defaults = defaultsEl ? JSON.parse(defaultsEl.textContent) : {};
  var timer = null;
  var stopped = false;
  var DELAY = 1500;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setStatus(text, state) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.dataset.state = state;
  }

  function keyImages() {
    try {
      var value = JSON.parse(keyInput ? keyInput.value || "[]" : "[]");
      return Array.isArray(value) ? value : [];
    } catch (e) {
      return [];
    }
  }

  function collect() {
    var data = {};
    form.querySelectorAll("textarea[data-section]").forEach(function (area) {
      data[area.name] = area.value;
    });
    var reason = form.querySelector("textarea[name=addendum_reason]");
    if (reason) data.addendum_reason = reason.value;
    if (templateSelect) data.template = templateSelect.value;
    if (keyInput) data.key_images = keyImages();
    return data;
  }

  function save() {
    timer = null;
    if (stopped) return;
    setStatus("Saving…", "saving");
    fetch(form.dataset.autosaveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(collect()),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, status: response.status, body: body };
        });
      })
      .then(function (result) {
        if (result.ok) {
          var at = new Date(result.body.saved_at);
          setStatus("Draft saved at " + at.toLocaleTimeString(), "saved");
        } else {
          if (result.status === 403 || result.status === 409) stopped = true;
          setStatus("Not saved: " + (result.body.error || result.status), "error");
        }
      })
      .catch(function () {
        setStatus("Not saved (offline?) — will retry on the next change", "error");
      });
  }

  function schedule() {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    setStatus("Unsaved changes", "dirty");
    timer = setTimeout(save, DELAY);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("submit", function () {
    stopped = true;
    if (timer) clearTimeout(timer);
  });

  // Switching template: sections still empty or showing the old template's text
  // take the new template's text; anything the radiologist wrote stays.
  if (templateSelect) {
    var previous = templateSelect.value;
    templateSelect.addEventListener("change", function () {
      var before = defaults[previous] || {};
      var after = defaults[templateSelect.value] || {};
      form.querySelectorAll("textarea[data-section]").forEach(function (area) {
        var name = area.dataset.section;
        var untouched = area.value.trim() === "" || area.value === (before[name] || "");
        if (untouched && name in after) area.value = after[name];
      });
      previous = templateSelect.value;
      schedule();
    });
  }

  // Key images: kept as JSON in a hidden input, shown as a list with remove buttons.
  function renderKeyImages() {
    if (!keyList) return;
    var images = keyImages();
    var select = document.getElementById("key-image-instance");
    keyList.textContent = "";
    if (!images.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "None yet.";
      keyList.appendChild(empty);
      return;
    }
    images.forEach(function (image, index) {
      var item = document.createElement("li");
      item.setAttribute("data-testid", "key-image");
      var option = select ? select.querySelector('option[value="' + image.instance_id + '"]') : null;
      var text = (option ? option.textContent : "Image " + image.instance_id) +
        ", frame " + (image.frame + 1);
      if (image.center !== null && image.width !== null && image.center !== undefined) {
        text += ", W " + image.width + " / L " + image.center;
      }
      item.appendChild(document.createTextNode(text + " "));
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link-button";
      remove.textContent = "Remove";
      remove.setAttribute("data-testid", "key-image-remove");
      remove.addEventListener("click", function () {
        var list = keyImages();
        list.splice(index, 1);
        keyInput.value = JSON.stringify(list);
        renderKeyImages();
        schedule();
      });
      item.appendChild(remove);
      keyList.appendChild(item);
    });
  }

  var addButton = document.getElementById("key-image-add");
  if (addButton && keyInput) {
    addButton.addEventListener("click", function () {
      var select = document.getElementById("key-image-instance");
      var option = select.options[select.selectedIndex];
      var frames = parseInt(option.dataset.frames || "1", 10);
      var frame = parseInt(document.getElementById("key-image-frame").value || "1", 10);
      var center = document.getElementById("key-image-center").value;
      var width = document.getElementById("key-image-width").value;
      if (!(frame >= 1 && frame <= frames)) {
        setStatus("Frame must be between 1 and " + frames, "error");
        return;
      }
      if ((center === "") !== (width === "") || (width !== "" && Number(width) <= 0)) {
        setStatus("Give both level and a positive width, or neither", "error");
        return;
      }
      var list = keyImages();
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
})();
