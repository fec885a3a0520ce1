// The upload page: pick or drop files/folders/ZIPs → skip non-DICOM with reasons →
// group by study (patient-free summary) → confirm, add a question → de-identify each
// file in the browser (deid.js) → resumable chunked upload with progress → live status.
import { formatDate, groupStudies, summarize } from "./dicom.js";
import { fromDataTransfer, fromFileList, triage } from "./files.js";
import { CLIENT_DEIDENTIFIES, prepareForUpload } from "./deid.js";
import { api, sendFile, sha256Hex } from "./uploader.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const PARALLEL = 3;
const STORE = "portal-upload";

const state = { config: null, skipped: [], studies: [], open: null, controller: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function setStatus(text) { $("upload-status").textContent = text; }

function humanBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function humanTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

function renderSkipped() {
  const list = $("upload-skipped");
  list.replaceChildren(...state.skipped.map((s) =>
    el("li", { testid: "skipped-file" }, el("strong", { text: s.name }), ` — ${s.reason}`)));
  $("upload-skipped-section").hidden = state.skipped.length === 0;
}

function renderStudies() {
  const table = $("upload-studies");
  table.replaceChildren(...state.studies.map((study, index) => {
    const box = el("input", { type: "checkbox", testid: "upload-study-choice",
                              "aria-label": "Send this study" });
    box.checked = study.selected;
    box.addEventListener("change", () => { study.selected = box.checked; updateStart(); });
    const bar = el("progress", { max: "100", value: "0", testid: "upload-study-progress" });
    study.bar = bar;
    const modalities = [...study.modalities].join(", ") || "?";
    return el("tr", { testid: "upload-study", "data-index": String(index) },
      el("td", {}, box),
      el("td", { text: `${modalities} ${study.description || ""}`.trim() }),
      el("td", { text: formatDate(study.date) }),
      el("td", { text: `${study.series.size} series, ${study.items.length} images` }),
      el("td", { text: humanBytes(study.bytes) }),
      el("td", {}, bar));
  }));
  const n = state.studies.length;
  $("upload-found").textContent = n
    ? `${n} stud${n === 1 ? "y" : "ies"} found`
    : "No DICOM images found in what you chose.";
  $("upload-summary").hidden = false;
  updateStart();
}

function selectedEntries() {
  return state.studies.filter((s) => s.selected).flatMap((s) => s.items.map((e) => ({ ...e, study: s })));
}

function updateStart() {
  $("upload-start").disabled = selectedEntries().length === 0;
}

async function onCandidates(candidates) {
  setStatus("Looking at your files…");
  const { dicom, skipped } = await triage(candidates);
  state.skipped.push(...skipped);
  const entries = [];
  let done = 0;
  for (const item of dicom) {
    const summary = await summarize(item);
    done += 1;
    if (done % 25 === 0) setStatus(`Reading files… ${done} of ${dicom.length}`);
    if (summary.error) state.skipped.push({ name: item.name, reason: summary.error });
    else entries.push({ item, summary });
  }
  const seen = new Set(state.studies.flatMap((s) => s.items.map((e) => e.item.name)));
  const fresh = entries.filter((e) => !seen.has(e.item.name));
  const grouped = groupStudies([...state.studies.flatMap((s) => s.items), ...fresh]);
  for (const study of grouped) study.selected = true;
  state.studies = grouped;
  renderSkipped();
  renderStudies();
  setStatus(state.open
    ? "Press Send to continue the interrupted upload: files already received are not sent again."
    : "Check the studies, add your question, then press Send.");
}

function progress(done, total) {
  const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  const bar = $("upload-progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.querySelector(".fill").style.width = `${pct}%`;
  return pct;
}

async function start() {
  const entries = selectedEntries();
  if (!entries.length) return;
  state.controller = new AbortController();
  const { signal } = state.controller;
  $("upload-start").disabled = true;
  $("upload-cancel").hidden = false;
  $("upload-progress-section").hidden = false;
  let uploadId = state.open?.id;
  if (!uploadId) {
    const created = await api("POST", "/api/uploads/", {
      expected_files: entries.length,
      clinical_question: $("upload-question").value,
      urgency: $("upload-urgency").value,
      client_deidentified: CLIENT_DEIDENTIFIES,
    });
    if (!created.ok) { setStatus(created.data.error || "The upload could not start."); return; }
    uploadId = created.data.id;
  }
  localStorage.setItem(STORE, String(uploadId));
  const total = entries.reduce((sum, e) => sum + e.item.size, 0);
  let sent = 0;
  let filesDone = 0;
  const t0 = performance.now();
  const perStudy = new Map();
  const tick = () => {
    const pct = progress(sent, total);
    const seconds = (performance.now() - t0) / 1000;
    const speed = sent / Math.max(seconds, 0.001);
    const left = speed > 0 ? (total - sent) / speed : NaN;
    setStatus(`Sending: ${pct}% — ${filesDone} of ${entries.length} files, ` +
      `${humanBytes(sent)} of ${humanBytes(total)}, ${humanBytes(speed)}/s` +
      (sent < total ? `, about ${humanTime(left)} left` : ""));
  };
  const queue = [...entries];
  const failures = [];
  const worker = async () => {
    while (queue.length && !signal.aborted) {
      const entry = queue.shift();
      const buffer = await entry.item.read();
      const prepared = await prepareForUpload(buffer, { summary: entry.summary, config: state.config });
      const bytes = prepared.bytes;
      const key = await sha256Hex(bytes);
      let fileSent = 0;
      const scale = entry.item.size / Math.max(bytes.byteLength, 1);
      try {
        await sendFile(uploadId, { key, name: entry.item.name, bytes }, {
          chunkSize: state.config.chunk_size, signal,
          onBytes: (delta) => {
            fileSent += delta;
            sent += delta * scale;
            const s = entry.study;
            perStudy.set(s, (perStudy.get(s) || 0) + delta * scale);
            s.bar.value = Math.floor((perStudy.get(s) / s.bytes) * 100);
            tick();
          },
          onRetry: () => setStatus("Connection lost — retrying…"),
        });
      } catch (error) {
        if (signal.aborted) return;
        failures.push({ name: entry.item.name, reason: `not sent: ${error.message}` });
      }
      filesDone += 1;
      tick();
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (signal.aborted) return;
  state.skipped.push(...failures);
  renderSkipped();
  progress(total, total);
  $("upload-cancel").hidden = true;
  setStatus("All files sent. Preparing your studies…");
  await follow(uploadId);
}

async function follow(uploadId) {
  for (;;) {
    const { ok, data } = await api("GET", `/api/uploads/${uploadId}/`);
    if (!ok) { setStatus("Could not read the upload's status."); return; }
    const c = data.counts;
    const processed = c.done + c.rejected;
    const all = processed + c.pending;
    if (data.state !== "open") {
      localStorage.removeItem(STORE);
      renderResult(data);
      setStatus(`Done: ${c.done} images stored` + (c.rejected ? `, ${c.rejected} not used (see below)` : "") + ".");
      return;
    }
    setStatus(`Preparing your studies: ${processed} of ${all} files processed…`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function renderResult(data) {
  const list = $("upload-result");
  list.replaceChildren(...data.studies.map((s) =>
    el("li", { testid: "upload-result-study" },
       el("a", { href: `/studies/${s.id}/`, text: `${s.modalities} ${s.description}`.trim() || `Study ${s.id}` }),
       ` — ${s.images} images — ${s.status_display}`)));
  for (const r of data.rejected) state.skipped.push({ name: r.name || "(a file)", reason: r.reason });
  renderSkipped();
  $("upload-result-section").hidden = false;
}

async function cancel() {
  state.controller?.abort(new DOMException("cancelled", "AbortError"));
  const id = localStorage.getItem(STORE);
  if (id) await api("POST", `/api/uploads/${id}/cancel/`, {});
  localStorage.removeItem(STORE);
  state.open = null;
  $("upload-cancel").hidden = true;
  $("upload-start").disabled = false;
  setStatus("Upload cancelled. Nothing more will be sent.");
}

async function init() {
  state.config = (await api("GET", "/api/uploads/config/")).data;
  const open = (await api("GET", "/api/uploads/open/")).data.upload;
  if (open) {
    state.open = open;
    const banner = $("upload-resume");
    banner.hidden = false;
    banner.querySelector(".detail").textContent =
      `${open.counts.total} of ${open.expected_files} files were registered before it stopped.`;
    $("upload-question").value = "";
  }
  const drop = $("upload-dropzone");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    await onCandidates(await fromDataTransfer(event.dataTransfer));
  });
  for (const id of ["upload-input", "upload-folder-input"]) {
    $(id).addEventListener("change", async (event) => {
      await onCandidates(fromFileList(event.target.files));
      event.target.value = "";
    });
  }
  $("upload-start").addEventListener("click", start);
  $("upload-cancel").addEventListener("click", cancel);
  $("upload-discard").addEventListener("click", async () => { await cancel(); $("upload-resume").hidden = true; });
  document.body.dataset.ready = "true";
}

init();
