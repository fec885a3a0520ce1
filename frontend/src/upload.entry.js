// The upload page: pick or drop files/folders/ZIPs → skip non-DICOM with reasons →
// group by study (patient-free summary) → de-identify every file in the browser (deid.js;
// a local preview of what is removed, burned-in text warnings, files that cannot be
// de-identified listed) → confirm, add a question → resumable chunked upload with
// progress → live status.
import { el } from "./dom.js";
import { formatDate, groupStudies, summarize } from "./dicom.js";
import { readableAge, readableSex } from "./readable.js";
import { fromDataTransfer, fromFileList, triage } from "./files.js";
import { CLIENT_DEIDENTIFIES, prepareForUpload, setupDeid } from "./deid.js";
import { SeriesMasks } from "./burnedin.js";
import { forgetMasks, restoreMasks, saveMasks } from "./maskstore.js";
import { api, finishUpload, sendUpload } from "./uploader.js";
import { formatNumber, gettext, interpolate, ngettext } from "./i18n.js";
import { ATTRIBUTE_NAMES } from "./attribute-names.js";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const PARALLEL = 3;
const STORE = "portal-upload";
// De-identified files kept from the check before Send (not de-identified twice).
const CACHE_BYTES = 256 * 1024 ** 2;

const state = {
  config: null, profile: null, skipped: [], studies: [], open: null, controller: null,
  checking: false, checkRound: 0, cache: new Map(), cacheBytes: 0, serverOnly: false,
  names: new Map(),  // SHA-256 key -> local file name, for messages about rejected files
  personNames: [],  // every PN value of the upload: cut out of descriptors, never sent
  masks: null,  // SeriesMasks: the boxes blacked out in each series' images
  unfinished: null,  // a "finish" request that failed, sent again while following
};


function setStatus(text) { $("upload-status").textContent = text; }

function humanBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${formatNumber(n, { maximumFractionDigits: i ? 1 : 0, minimumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
}

function humanTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return interpolate(gettext("%(s)s s"), { s: Math.ceil(seconds) });
  return interpolate(gettext("%(min)s min %(s)s s"),
    { min: Math.floor(seconds / 60), s: Math.ceil(seconds % 60) });
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
                              "aria-label": gettext("Send this study") });
    box.checked = study.selected;
    box.addEventListener("change", () => { study.selected = box.checked; updateStart(); });
    const bar = el("progress", { max: "100", value: "0", testid: "upload-study-progress" });
    study.bar = bar;
    const modalities = [...study.modalities].join(", ") || "?";
    return el("tr", { testid: "upload-study", "data-index": String(index) },
      el("td", {}, box),
      el("td", { text: `${modalities} ${study.description || ""}`.trim() }),
      el("td", { text: formatDate(study.date) }),
      el("td", { text: seriesAndImages(study.series.size, study.items.length) }),
      el("td", { text: humanBytes(study.bytes) }),
      el("td", {}, bar));
  }));
  const n = state.studies.length;
  $("upload-found").textContent = n
    ? interpolate(ngettext("%(n)s study found", "%(n)s studies found", n), { n })
    : gettext("No DICOM images found in what you chose.");
  $("upload-summary").hidden = false;
  updateStart();
}

// Files of the chosen studies that will be sent: de-identified here, or (if the uploader
// chose it) those that could not be, for server-only de-identification.
function selectedEntries() {
  return state.studies.filter((s) => s.selected)
    .flatMap((s) => s.items.map((e) => ({ ...e, study: s })))
    .filter((e) => e.deid && (e.deid.ok || state.serverOnly));
}

function updateStart() {
  // Send waits while the portal looks for text in a flagged image (burnedin.js)
  $("upload-start").disabled = state.checking || selectedEntries().length === 0 ||
    Boolean(state.masks && state.masks.detecting.size);
}

async function onCandidates(candidates) {
  setStatus(gettext("Looking at your files…"));
  const { dicom, skipped } = await triage(candidates);
  state.skipped.push(...skipped);
  const entries = [];
  let done = 0;
  for (const item of dicom) {
    const summary = await summarize(item);
    done += 1;
    if (done % 25 === 0) {
      setStatus(interpolate(gettext("Reading files… %(done)s of %(total)s"),
        { done, total: dicom.length }));
    }
    if (summary.error) state.skipped.push({ name: item.name, reason: summary.error });
    else entries.push({ item, summary });
  }
  const seen = new Set(state.studies.flatMap((s) => s.items.map((e) => e.item.name)));
  const fresh = entries.filter((e) => !seen.has(e.item.name));
  const grouped = groupStudies([...state.studies.flatMap((s) => s.items), ...fresh]);
  for (const study of grouped) study.selected = true;
  state.studies = grouped;
  if (state.open) { // resuming: the boxes placed before the interruption
    const series = new Set(grouped.flatMap((s) => s.items.map((e) => e.summary.seriesUid)));
    for (const [uid, boxes] of await restoreMasks(series)) state.masks.boxes.set(uid, boxes);
  }
  renderSkipped();
  renderStudies();
  await checkFiles();
  setStatus(state.open
    ? gettext("Press Send to continue the interrupted upload: files already received are not sent again.")
    : gettext("Check the studies and what is removed, add your question, then press Send."));
}

// -- de-identification before Send: check every file, preview one per series ------------

// A fresh copy of the file's bytes: the buffer is transferred to a worker, and a ZIP
// member's read() hands out the same buffer every time.
async function readCopy(item) {
  const buffer = await item.read();
  return buffer.slice(0);
}

function deidContext(entry, extra = {}) {
  return { summary: entry.summary, config: state.config, names: state.personNames,
           masks: masksOf(entry), ...extra };
}

function masksOf(entry) {
  return state.masks.of(entry.summary.seriesUid);
}

// The boxes of a series changed: its files are de-identified again before sending.
function masksChanged(seriesUid) {
  updateStart();
  for (const entry of state.studies.flatMap((s) => s.items)) {
    if (entry.summary.seriesUid !== seriesUid) continue;
    const cached = state.cache.get(entry.item);
    if (cached) {
      state.cache.delete(entry.item);
      state.cacheBytes -= cached.byteLength;
    }
  }
}

// Every person's name in the upload (kept on this page): a name found in one file is cut
// out of the descriptors of all. When new files bring new names, the files checked
// before are checked again.
function gatherNames() {
  const names = [...new Set(state.studies.flatMap((s) => s.items)
    .flatMap((e) => e.summary.personNames || []))].sort();
  if (names.join("\n") === state.personNames.join("\n")) return;
  state.personNames = names;
  for (const entry of state.studies.flatMap((s) => s.items)) delete entry.deid;
  state.cache.clear();
  state.cacheBytes = 0;
}

// Run the engine on every file not checked yet; the first file of each series also
// yields the preview (original values, kept on this computer) and a thumbnail.
async function checkFiles() {
  const round = ++state.checkRound;
  gatherNames();
  const jobs = [];
  const previewed = new Set();
  for (const study of state.studies) {
    for (const entry of study.items) {
      if (entry.deid) continue;
      const series = entry.summary.seriesUid;
      const preview = !previewed.has(series) &&
        !study.items.some((e) => e.preview && e.summary.seriesUid === series);
      if (preview) previewed.add(series);
      jobs.push({ study, entry, preview });
    }
  }
  if (!jobs.length) return;
  jobs.sort((a, b) => Number(b.preview) - Number(a.preview)); // previews first
  state.checking = true;
  updateStart();
  let done = 0;
  let previewsLeft = jobs.filter((j) => j.preview).length;
  const queue = [...jobs];
  const lane = async () => {
    while (queue.length && round === state.checkRound) {
      const job = queue.shift();
      await checkOne(job);
      done += 1;
      if (job.preview && --previewsLeft === 0) renderPreview(); // shown before the rest is done
      setStatus(interpolate(ngettext(
        "Removing personal data on this computer… %(done)s of %(total)s file checked",
        "Removing personal data on this computer… %(done)s of %(total)s files checked",
        jobs.length), { done, total: jobs.length }));
    }
  };
  try {
    state.profile = await setupDeid(state.config);
    await Promise.all(Array.from({ length: PARALLEL + 1 }, lane));
  } catch (error) {
    for (const job of queue.splice(0)) job.entry.deid = { ok: false, reason: error.message };
    for (const job of jobs) if (!job.entry.deid) job.entry.deid = { ok: false, reason: error.message };
  }
  if (round !== state.checkRound) return;
  state.checking = false;
  listFailures();
  renderPreview();
  updateStart();
}

async function checkOne({ entry, preview }) {
  try {
    const context = deidContext(entry, { preview });
    const prepared = await prepareForUpload(await readCopy(entry.item), context);
    entry.deid = { ok: true };
    if (preview) entry.preview = prepared.report; // original values: this page only
    if (context.masks !== masksOf(entry)) return; // the boxes changed meanwhile: not cached
    if (state.cacheBytes + prepared.bytes.byteLength <= CACHE_BYTES) {
      state.cache.set(entry.item, prepared.bytes);
      state.cacheBytes += prepared.bytes.byteLength;
    }
  } catch (error) {
    entry.deid = { ok: false, reason: error.message };
  }
}

// Files that cannot be de-identified here are never sent raw silently: they are listed
// with the reason, and sent only if the portal allows it and the uploader ticks the box.
function listFailures() {
  const failed = state.studies.flatMap((s) => s.items).filter((e) => e.deid && !e.deid.ok);
  state.skipped = state.skipped.filter((s) => !s.deidFailure);
  for (const entry of failed) {
    state.skipped.push({ name: entry.item.name, deidFailure: true,
      reason: interpolate(gettext("not de-identified on this computer: %(reason)s"),
        { reason: entry.deid.reason }) });
  }
  renderSkipped();
  const choice = $("deid-server-only-choice");
  choice.hidden = !(failed.length && state.profile && state.profile.allow_server_only);
  choice.querySelector(".count").textContent = interpolate(
    ngettext("%(n)s file", "%(n)s files", failed.length), { n: failed.length });
}

// -- the preview: per study, which attributes are removed or replaced --------------------

const ACTION_WORDS = {
  removed: gettext("removed"),
  emptied: gettext("emptied"),
  replaced: gettext("replaced by a placeholder"),
  "uid-remapped": gettext("replaced by new identifiers"),
  "date-shifted": gettext("moved by the same number of days (intervals kept)"),
  cleaned: gettext("kept, with names and IDs cut out"),
};
const PSEUDONYM_TAGS = new Set(["0010,0010", "0010,0020"]);

// Merge the reports of a study's previewed files into rows: one per attribute and
// action, UIDs in one row, private attributes in one row.
function previewRows(study) {
  const rows = new Map();
  for (const entry of study.items) {
    for (const action of entry.preview ? entry.preview.actions : []) {
      if (!(action.action in ACTION_WORDS)) continue; // "added", kept safe private
      if (action.action === "cleaned" && !action.changed) continue; // nothing cut out
      const key = action.private ? "private" : action.action === "uid-remapped" ? "uids"
        : `${action.tag}|${action.action}`;
      const row = rows.get(key) || { ...action, values: [], count: 0 };
      row.count += action.count;
      for (const v of action.values || []) {
        if (row.values.length < 3 && !row.values.includes(v)) row.values.push(v);
      }
      rows.set(key, row);
    }
  }
  return [...rows.values()].sort((a, b) => rowOrder(a).localeCompare(rowOrder(b)));
}

function pixelReviews(study) {
  return study.items.filter((e) => e.preview && e.preview.needsPixelReview).map((e) => ({
    series: e.summary.seriesDescription || e.summary.modality,
    reason: e.preview.reason, thumbnail: e.preview.thumbnail, image: e.preview.image,
    headerWords: e.preview.headerWords,
    seriesUid: e.summary.seriesUid, modality: e.summary.modality,
    images: study.items.filter((i) => i.summary.seriesUid === e.summary.seriesUid).length,
  }));
}

function rowOrder(row) {
  if (row.private) return "3";
  if (row.action === "uid-remapped") return "2";
  return row.tag.startsWith("0010,") ? `0${row.tag}` : `1${row.tag}`;
}

function previewRow(row) {
  let what = ATTRIBUTE_NAMES[row.tag] || row.name || row.keyword || row.tag;
  let found = row.values.join(", ");
  let action = ACTION_WORDS[row.action];
  if (row.private) {
    what = gettext("Manufacturer-specific (private) data");
    found = interpolate(ngettext("%(n)s attribute", "%(n)s attributes", row.count), { n: row.count });
    action = ACTION_WORDS.removed;
  } else if (row.action === "uid-remapped") {
    what = gettext("Identifiers of the study, series and images (UIDs)");
    found = "";
  } else if (PSEUDONYM_TAGS.has(row.tag)) {
    action = gettext("replaced by a code");
  }
  return el("tr", { testid: "deid-preview-row", "data-tag": row.private ? "private" : row.tag,
                    "data-action": row.action },
    el("td", { text: what }), el("td", { class: "local-only", text: found }),
    el("td", { text: action }));
}

// What stays in the files (the profile's "retain patient characteristics" option): said
// in words, with the values found, so nobody is surprised to see them later.
function keptNote(study) {
  if (!state.profile?.options?.includes("retain_patient_characteristics")) return [];
  const first = (field) => study.items.map((e) => e.summary[field]).find(Boolean) || "";
  const sex = first("sex");
  const age = first("age");
  const found = [
    sex && interpolate(gettext("sex: %(sex)s"), { sex: readableSex(sex) }),
    age && interpolate(gettext("age: %(age)s"), { age: readableAge(age) }),
  ].filter(Boolean);
  return [el("p", { class: "helptext", testid: "deid-kept" },
    el("strong", { text: gettext("Kept, because they help the radiologist read the images:") }),
    " ",
    found.length
      ? interpolate(gettext("%(found)s; also height and weight when your files have them."),
        { found: found.join(", ") })
      : gettext("sex, age, height and weight, when your files have them."),
    " ", gettext("The images themselves, the kind of scan and the body part are kept too."))];
}

function renderPreview() {
  const blocks = state.studies.map((study) => [study, previewRows(study)])
    .filter(([, rows]) => rows.length)
    .map(([study, rows]) => {
      const modalities = [...study.modalities].join(", ");
      return el("div", { class: "deid-study" },
        el("h4", { text: `${modalities} ${study.description || ""} — ${formatDate(study.date)}`.trim() }),
        el("table", { class: "list deid-table" },
          el("thead", {}, el("tr", {}, el("th", { text: gettext("What") }),
            el("th", { text: gettext("Found in your files (shown only here)") }),
            el("th", { text: gettext("Before sending") }))),
          el("tbody", {}, ...rows.map(previewRow))),
        ...keptNote(study),
        ...pixelReviews(study).map((review) => state.masks.warning(review)));
    });
  const focused = document.activeElement; // e.g. a box being moved with the keyboard
  $("deid-preview").replaceChildren(...blocks);
  $("deid-preview-section").hidden = blocks.length === 0;
  if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
}

function progress(done, total) {
  const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  const bar = $("upload-progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.querySelector(".fill").style.width = `${pct}%`;
  return pct;
}

// Progress of a send: the bar, each study's bar and the status line (speed, time left).
function sendProgress(total, count) {
  const t0 = performance.now();
  const perStudy = new Map();
  return ({ entry, delta, sent, filesDone }) => {
    if (entry) {
      const s = entry.study;
      perStudy.set(s, (perStudy.get(s) || 0) + delta);
      s.bar.value = Math.floor((perStudy.get(s) / s.bytes) * 100);
    }
    const pct = progress(sent, total);
    const seconds = (performance.now() - t0) / 1000;
    const speed = sent / Math.max(seconds, 0.001);
    const left = speed > 0 ? (total - sent) / speed : NaN;
    const values = { pct: formatNumber(pct / 100, { style: "percent" }), done: filesDone, count, sent: humanBytes(sent),
      total: humanBytes(total), speed: humanBytes(speed), left: humanTime(left) };
    setStatus(interpolate(sent < total
      ? ngettext("Sending: %(pct)s — %(done)s of %(count)s file, %(sent)s of %(total)s, %(speed)s/s, about %(left)s left",
        "Sending: %(pct)s — %(done)s of %(count)s files, %(sent)s of %(total)s, %(speed)s/s, about %(left)s left", count)
      : ngettext("Sending: %(pct)s — %(done)s of %(count)s file, %(sent)s of %(total)s, %(speed)s/s",
        "Sending: %(pct)s — %(done)s of %(count)s files, %(sent)s of %(total)s, %(speed)s/s", count),
    values));
  };
}

// The uploader's earlier request she chose to add to ({} for a new request).
function chosenRequest() {
  const picked = document.querySelector('input[name="review_request"]:checked');
  return picked && picked.value ? { review_request: Number(picked.value) } : {};
}

// A new upload for the chosen files, with the question and urgency; null if refused.
async function createUpload(entries) {
  const created = await api("POST", "/api/uploads/", {
    expected_files: entries.length,
    clinical_question: $("upload-question").value,
    urgency: $("upload-urgency").value,
    ...chosenRequest(),
    client_deidentified: CLIENT_DEIDENTIFIES && entries.every((e) => e.deid.ok),
  });
  if (!created.ok) {
    setStatus(created.data.error || gettext("The upload could not start."));
    return null;
  }
  return created.data.id;
}

async function start() {
  const entries = selectedEntries();
  if (!entries.length) return;
  const most = state.config.max_files;
  if (!state.open && entries.length > most) {
    setStatus(interpolate(
      gettext("That is %(n)s files; one upload can take at most %(most)s. Please send them in several uploads, a folder or a ZIP at a time."),
      { n: entries.length, most }));
    return;
  }
  state.controller = new AbortController();
  const { signal } = state.controller;
  $("upload-start").disabled = true;
  $("upload-cancel").hidden = false;
  $("upload-progress-section").hidden = false;
  const uploadId = state.open?.id || await createUpload(entries);
  if (!uploadId) return;
  localStorage.setItem(STORE, String(uploadId));
  await saveMasks(state.masks.boxes);
  const total = entries.reduce((sum, e) => sum + e.item.size, 0);
  const { failures } = await sendUpload({
    uploadId, entries, signal, parallel: PARALLEL,
    resume: state.open?.id === uploadId, // an interrupted upload: the server says what it has
    chunkSize: state.config.chunk_size, batchFiles: state.config.batch_files,
    prepare: preparedBytes,
    onKey: (key, entry) => state.names.set(key, entry.item.name), // names stay here
    onRetry: () => setStatus(gettext("Connection lost — retrying…")),
    onProgress: sendProgress(total, entries.length),
  });
  if (signal.aborted) return;
  state.skipped.push(...failures);
  renderSkipped();
  progress(total, total);
  $("upload-cancel").hidden = true;
  setStatus(gettext("All files sent. Preparing your studies…"));
  // Files with the same bytes are one file to the server, so it cannot count the ones
  // not sent: the page tells it (reasons only).
  await finish(uploadId, failures.map((f) => ({ reason: f.reason })), signal);
  await follow(uploadId);
}

async function finish(uploadId, skipped, signal) {
  if (!(await finishUpload(uploadId, skipped, { signal }))) {
    state.unfinished = { uploadId, skipped }; // sent again on the next status poll (follow)
  }
}

// The bytes to send for a file: de-identified here (from the check before Send, or again:
// the result is the same), or the original for server-only de-identification when the
// uploader chose it for a file the browser could not rewrite. Null: do not send.
async function preparedBytes(entry) {
  const cached = state.cache.get(entry.item);
  if (cached) {
    state.cache.delete(entry.item);
    state.cacheBytes -= cached.byteLength;
    return cached;
  }
  const allowRaw = !entry.deid.ok && state.serverOnly;
  try {
    const prepared = await prepareForUpload(await readCopy(entry.item), deidContext(entry, { allowRaw }));
    return prepared.bytes;
  } catch {
    return null;
  }
}

const images = (n) => interpolate(ngettext("%(n)s image", "%(n)s images", n), { n });
const seriesAndImages = (series, count) =>
  `${interpolate(ngettext("%(n)s series", "%(n)s series", series), { n: series })}, ${images(count)}`;

// Where the upload stands, in words: receiving, processing N of M, done, or needs
// attention with what to do. Polls until it is done (or needs attention).
async function follow(uploadId) {
  for (;;) {
    if (state.unfinished?.uploadId === uploadId) {
      const { skipped } = state.unfinished;
      state.unfinished = null;
      await finish(uploadId, skipped);
    }
    const { ok, data } = await api("GET", `/api/uploads/${uploadId}/?files=0`);
    if (!ok) {
      setStatus(gettext("Could not read the upload's status; trying again…"));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      continue;
    }
    const c = data.counts;
    const processed = c.done + c.rejected;
    const all = processed + c.pending;
    if (data.state === "needs_attention") {
      setStatus(`${gettext("Your upload needs attention.")} ${data.attention}`);
      return;
    }
    if (data.state !== "open") {
      localStorage.removeItem(STORE);
      forgetMasks();
      renderResult(data);
      const stored = interpolate(
        ngettext("Done: %(n)s image stored.", "Done: %(n)s images stored.", c.done), { n: c.done });
      const unused = interpolate(ngettext("%(n)s file not used (see below).",
        "%(n)s files not used (see below).", c.rejected), { n: c.rejected });
      setStatus(c.rejected ? `${stored} ${unused}` : stored);
      if (data.already_uploaded) sayAlreadyUploaded(data);
      return;
    }
    setStatus(interpolate(ngettext("Preparing your studies: %(done)s of %(n)s file processed…",
      "Preparing your studies: %(done)s of %(n)s files processed…", all), { done: processed, n: all }));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// Every image was here before (the same files sent twice): say so, and what became of
// what she typed (kept as a request, or nothing was asked).
function sayAlreadyUploaded(data) {
  $("upload-already").textContent = data.review_request
    ? "These images were already uploaded before. What you typed is kept with your request."
    : "These images were already uploaded before, so nothing new was added and no new request was made.";
  $("upload-already").hidden = false;
}

function renderResult(data) {
  const list = $("upload-result");
  list.replaceChildren(...data.studies.map((s) =>
    el("li", { testid: "upload-result-study" },
       el("a", { href: `/studies/${s.id}/`, text: `${s.modalities} ${s.description}`.trim() ||
         interpolate(gettext("Study %(id)s"), { id: s.id }) }),
       ` — ${images(s.images)} — ${s.status_display}`)));
  for (const r of data.rejected) {
    state.skipped.push({ name: state.names.get(r.key) || r.name || gettext("(a file)"), reason: r.reason });
  }
  for (const study of state.studies) if (study.selected && study.bar) study.bar.value = 100;
  $("upload-resume").hidden = true;
  renderSkipped();
  // Sent: the question and Send belong to this upload, which is over. Say what is next.
  $("upload-request").hidden = true;
  const first = data.studies.length === 1 ? `/studies/${data.studies[0].id}/` : "/studies/";
  $("upload-next").replaceChildren(
    el("a", { class: "button", href: first, testid: "upload-go-study",
              text: data.studies.length === 1 ? gettext("Go to my study") : gettext("Go to my studies") }),
    " ",
    el("a", { href: "/upload/", testid: "upload-more", text: gettext("Upload other files") }));
  $("upload-result-section").hidden = false;
}

async function cancel() {
  state.controller?.abort(new DOMException("cancelled", "AbortError"));
  const id = localStorage.getItem(STORE);
  if (id) await api("POST", `/api/uploads/${id}/cancel/`, {});
  localStorage.removeItem(STORE);
  forgetMasks();
  state.open = null;
  $("upload-cancel").hidden = true;
  $("upload-start").disabled = false;
  setStatus(gettext("Upload cancelled. Nothing more will be sent."));
}

// Files chosen or dropped while the page is still setting up are kept and handled once
// it is ready (a person can be quicker than the two requests init makes).
let markReady;
const ready = new Promise((resolve) => { markReady = resolve; });

function listenForFiles() {
  const drop = $("upload-dropzone");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const candidates = await fromDataTransfer(event.dataTransfer);
    await ready;
    await onCandidates(candidates);
  });
  for (const id of ["upload-input", "upload-folder-input"]) {
    $(id).addEventListener("change", async (event) => {
      const candidates = fromFileList(event.target.files);
      event.target.value = "";
      await ready;
      await onCandidates(candidates);
    });
  }
}

async function init() {
  listenForFiles();
  state.masks = new SeriesMasks(masksChanged);
  state.config = (await api("GET", "/api/uploads/config/")).data;
  // Start the de-identification workers now, without holding the page up.
  setupDeid(state.config).then((profile) => { state.profile = profile; }, () => {});
  const open = (await api("GET", "/api/uploads/open/")).data.upload;
  if (open) {
    state.open = open;
    const banner = $("upload-resume");
    banner.hidden = false;
    banner.querySelector(".detail").textContent = open.attention ||
      interpolate(ngettext("%(done)s of %(n)s file arrived before it stopped.",
        "%(done)s of %(n)s files arrived before it stopped.", open.expected_files),
      { done: open.counts.total, n: open.expected_files });
    $("upload-question").value = "";
  }
  $("deid-server-only").addEventListener("change", (event) => {
    state.serverOnly = event.target.checked;
    updateStart();
  });
  $("upload-start").addEventListener("click", start);
  $("upload-cancel").addEventListener("click", cancel);
  $("upload-discard").addEventListener("click", async () => {
    if (!window.confirm(gettext("Discard the interrupted upload? What was already sent is thrown away; you can start again with the same files."))) return;
    await cancel();
    $("upload-resume").hidden = true;
  });
  $("upload-send-as-is").addEventListener("click", async () => {
    const id = state.open.id;
    $("upload-resume").hidden = true;
    state.open = null;
    localStorage.setItem(STORE, String(id));
    await finish(id, []);
    await follow(id);
  });
  markReady();
  document.body.dataset.ready = "true";
}

init();
