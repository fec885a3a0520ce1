// Share links and exports: copy a new link, request exports without leaving the page,
// follow their progress and offer the download. Bundled (the CSP forbids inline scripts)
// and loaded with `defer` on the study page, the "link created" page and a link holder's
// viewer.

const csrf = (form) => form.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

function setupCopyButtons() {
  document.querySelectorAll("[data-copy-target]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.querySelector(button.dataset.copyTarget);
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        document.execCommand("copy");
      }
      button.textContent = "Copied";
    });
  });
}

// The window of the image the viewer shows now (from its slice URL).
function currentWindow() {
  const image = document.querySelector('[data-testid="viewer-image"]');
  if (!image || !image.getAttribute("src")) return {};
  const params = new URL(image.src, window.location.href).searchParams;
  if (params.get("wc") && params.get("ww")) return { wc: params.get("wc"), ww: params.get("ww") };
  return { preset: params.get("preset") || "" };
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function span(text, className, testid) {
  const el = document.createElement("span");
  el.textContent = text;
  if (className) el.className = className;
  if (testid) el.dataset.testid = testid;
  return el;
}

function row(item) {
  const tr = document.createElement("tr");
  tr.dataset.testid = "export-row";
  tr.dataset.exportId = String(item.id);
  tr.dataset.status = item.status;
  const state = [span(item.status_label, "", "export-status")];
  if (item.status === "pending" || item.status === "running") {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = item.progress;
    state.push(" ", bar, span(` ${item.progress}%`, "helptext"));
  }
  if (item.error) state.push(" ", span(item.error, "error"));
  if (item.notes) state.push(" ", span(item.notes, "helptext export-notes"));
  const link = [];
  if (item.download) {
    const a = document.createElement("a");
    a.href = item.download;
    a.textContent = "Download";
    a.dataset.testid = "export-download";
    link.push(a);
  }
  tr.append(cell(item.label), cell(...state), cell(...link));
  return tr;
}

function setupExportPanel(panel) {
  const list = panel.querySelector('[data-testid="export-list"]');
  let timer = null;

  async function refresh() {
    const response = await fetch(panel.dataset.listUrl, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const data = await response.json();
    list.replaceChildren(...data.exports.map(row));
    const busy = data.exports.some((e) => e.status === "pending" || e.status === "running");
    clearTimeout(timer);
    if (busy) timer = setTimeout(refresh, 1000);
  }

  panel.querySelectorAll("form[data-export-form]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = new FormData(form);
      if (body.get("preset") === "current") {
        const win = currentWindow();
        body.set("preset", win.preset || "");
        body.set("wc", win.wc || "");
        body.set("ww", win.ww || "");
      }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const response = await fetch(form.action, {
          method: "POST", body, credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
        });
        if (response.status === 401 && response.headers.get("X-Reauth-URL")) {
          // An export asks for a recent sign-in: confirm it, then come back.
          window.location.assign(response.headers.get("X-Reauth-URL"));
          return;
        }
        if (!response.ok) {
          const message = document.createElement("tr");
          message.append(cell(span(await response.text(), "error", "export-error")));
          list.prepend(message);
          return;
        }
      } finally {
        button.disabled = false;
      }
      refresh();
    });
  });
  refresh();
}

// The share-link form: the box for the sharer's own choices shows only when "Your own
// choices" is picked (without this script it is always shown, and ignored otherwise).
function setupShareForm(form) {
  const kind = form.querySelector("select[name=verdict_kind]");
  const choices = form.querySelector("[data-share-choices]");
  if (!kind || !choices) return;
  const textarea = choices.querySelector("textarea");
  const update = () => {
    const custom = kind.value === "custom";
    choices.hidden = !custom;
    textarea.required = custom;
  };
  kind.addEventListener("change", update);
  update();
}

setupCopyButtons();
document.querySelectorAll("[data-share-form]").forEach(setupShareForm);
document.querySelectorAll("[data-export-panel]").forEach(setupExportPanel);
