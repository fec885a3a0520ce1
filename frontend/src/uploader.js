// The resumable upload protocol (uploads/intake/api.py): register files by the SHA-256 of the
// bytes to send, then PUT chunks at the offset the server confirms. A dropped connection
// is retried with backoff; after a page reload the same files map to the same keys, so
// the server tells what it already has and the upload continues where it stopped.
import { gettext, interpolate } from "./i18n.js";

const failed = (status) => interpolate(gettext("upload failed (%(status)s)"), { status });

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(method, url, body, { signal, headers = {} } = {}) {
  const init = { method, signal, credentials: "same-origin",
                 headers: { "X-CSRFToken": csrfToken(), ...headers } };
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  let data = {};
  try { data = await response.json(); } catch { data = {}; }
  return { status: response.status, ok: response.ok, data };
}

export async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); });
});

// Retry a request while the network is down or the server is briefly unavailable.
async function withRetry(fn, { signal, onRetry }) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await fn();
      if (result.status < 500 && result.status !== 429) return result;
      throw new Error(interpolate(gettext("server answered %(status)s"), { status: result.status }));
    } catch (error) {
      if (signal?.aborted) throw error;
      onRetry?.(attempt, error);
      await sleep(Math.min(1000 * 2 ** attempt, 15000), signal);
    }
  }
}

// Send several small prepared files [{key, bytes}] in one request (POST .../batch/): the
// body is their bytes one after the other, the Upload-Batch header lists key:size. The
// server answers with each file's state, in order; a batch is stored whole or not at all,
// so after a dropped connection it is simply sent again.
export async function sendBatch(uploadId, files, { signal, onRetry }) {
  const body = new Uint8Array(files.reduce((sum, f) => sum + f.bytes.byteLength, 0));
  let offset = 0;
  for (const f of files) {
    body.set(new Uint8Array(f.bytes), offset);
    offset += f.bytes.byteLength;
  }
  const header = files.map((f) => `${f.key}:${f.bytes.byteLength}`).join(",");
  const sent = await withRetry(
    () => api("POST", `/api/uploads/${uploadId}/batch/`, body, { signal, headers: {
      "Upload-Batch": header,
    } }),
    { signal, onRetry });
  if (!sent.ok) throw new Error(sent.data.error || failed(sent.status));
  return sent.data.files;
}

// Send one prepared file: {key, bytes}. Calls onBytes(delta) as chunks land. The file's
// name is not sent: names of files and folders often carry the patient's name.
export async function sendFile(uploadId, prepared, { chunkSize, signal, onBytes, onRetry }) {
  const base = `/api/uploads/${uploadId}/files/`;
  const size = prepared.bytes.byteLength;
  if (size <= chunkSize) {
    // Small file: registration and bytes in one request; the server answers with the
    // file's state (also when it already had it).
    const put = await withRetry(
      () => api("PUT", base + prepared.key, prepared.bytes, { signal, headers: {
        "Upload-Offset": "0", "Upload-Length": String(size),
      } }),
      { signal, onRetry });
    if (put.ok) { onBytes(size); return put.data; }
    if (put.status !== 409) throw new Error(put.data.error || failed(put.status));
  }
  const reg = await withRetry(
    () => api("POST", base, { files: [{ key: prepared.key, name: "",
                                        size: prepared.bytes.byteLength }] }, { signal }),
    { signal, onRetry });
  if (!reg.ok) throw new Error(reg.data.error || interpolate(gettext("registration failed (%(status)s)"), { status: reg.status }));
  let state = reg.data.files[0];
  onBytes(state.received);
  while (state.status === "receiving") {
    const offset = state.received;
    const chunk = prepared.bytes.slice(offset, offset + chunkSize);
    const put = await withRetry(
      () => api("PUT", base + prepared.key, chunk,
                { signal, headers: { "Upload-Offset": String(offset) } }),
      { signal, onRetry });
    if (put.status === 409 && put.data.received !== undefined) {
      onBytes(put.data.received - offset);
      state = { ...state, received: put.data.received };
      continue;
    }
    if (!put.ok) throw new Error(put.data.error || failed(put.status));
    onBytes(put.data.received - offset);
    state = put.data;
  }
  return state;
}

// The keys of the files the server holds already (received or being processed): an
// interrupted upload resumed does not send them again.
async function heldKeys(uploadId) {
  const held = new Set();
  const status = await api("GET", `/api/uploads/${uploadId}/`);
  for (const f of (status.ok && status.data.files) || []) {
    if (f.status !== "receiving") held.add(f.key);
  }
  return held;
}

/**
 * Send the files of one upload, in `parallel` lanes. Each file's bytes come from
 * `prepare(entry)` (null: it cannot be sent), keyed by their SHA-256. Small files travel
 * together (up to `batchFiles` of them and one chunk in bytes per request, which saves
 * the server most of its per-request work); a file larger than a chunk goes on its own,
 * in chunks that resume mid-file. A key is sent once; with `resume`, keys the server
 * already holds are not sent at all.
 * @param {object} o {uploadId, entries: [{item: {name, size}, ...}], prepare, resume,
 *   chunkSize, batchFiles, parallel, signal, onKey(key, entry), onRetry(),
 *   onProgress({entry, delta, sent, filesDone}): `delta` and `sent` in bytes of the
 *   original files (`entry` null when only filesDone moved)}
 * @returns {Promise<{failures: {name, reason}[]}>} files not sent; stops early when
 *   `signal` aborts (the caller checks it)
 */
export async function sendUpload({ uploadId, entries, prepare, resume, chunkSize, batchFiles,
  parallel, signal, onKey, onRetry, onProgress }) {
  // Each key is sent once (held gets every key as it is queued).
  const held = resume ? await heldKeys(uploadId) : new Set();
  let sent = 0;
  let filesDone = 0;
  const report = (entry = null, delta = 0) => onProgress?.({ entry, delta, sent, filesDone });
  const credit = (item, delta) => {
    const scaled = delta * (item.item.size / Math.max(item.bytes.byteLength, 1));
    sent += scaled;
    report(item, scaled);
  };
  const queue = [...entries];
  const failures = [];
  const notSent = (item, error) => {
    failures.push({ name: item.item.name,
      reason: interpolate(gettext("not sent: %(error)s"), { error: error.message }) });
  };
  // One file on its own: registered, then in chunks that resume mid-file. False when the
  // upload was cancelled meanwhile.
  const sendAlone = async (item) => {
    try {
      await sendFile(uploadId, item, {
        chunkSize, signal, onRetry, onBytes: (delta) => credit(item, delta) });
    } catch (error) {
      if (signal.aborted) return false;
      notSent(item, error);
    }
    return true;
  };
  const lane = async () => {
    let batch = [];
    let batchBytes = 0;
    const flush = async () => {
      const items = batch;
      batch = [];
      batchBytes = 0;
      if (!items.length) return true;
      try {
        const states = await sendBatch(uploadId, items, { signal, onRetry });
        for (const [i, item] of items.entries()) {
          // Registered earlier but not received (an older page): send it on its own.
          if (states[i].status !== "receiving") credit(item, item.bytes.byteLength);
          else if (!(await sendAlone(item))) return false;
        }
      } catch (error) {
        if (signal.aborted) return false;
        for (const item of items) notSent(item, error);
      }
      filesDone += items.length;
      report();
      return true;
    };
    while (queue.length && !signal.aborted) {
      const entry = queue.shift();
      const bytes = await prepare(entry);
      if (!bytes) {
        failures.push({ name: entry.item.name,
          reason: gettext("not sent: it could not be de-identified") });
        filesDone += 1;
        continue;
      }
      const key = await sha256Hex(bytes);
      onKey?.(key, entry);
      const item = { ...entry, key, bytes };
      // Held by the server already, or the same bytes as a file sent in this upload (two
      // files that differ only in what de-identification removed): nothing to send.
      if (held.has(key)) {
        credit(item, bytes.byteLength);
        filesDone += 1;
        continue;
      }
      held.add(key);
      if (bytes.byteLength > chunkSize) {
        if (!(await sendAlone(item))) return;
        filesDone += 1;
        report();
        continue;
      }
      if (batch.length >= batchFiles || batchBytes + bytes.byteLength > chunkSize) {
        if (!(await flush())) return;
      }
      batch.push(item);
      batchBytes += bytes.byteLength;
    }
    if (!signal.aborted) await flush();
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return { failures };
}

// Tell the server everything is sent, and which files were not (reasons only: names stay
// on this computer). False when the request failed: the caller sends it again later.
export async function finishUpload(uploadId, skipped, { signal } = {}) {
  const done = await api("POST", `/api/uploads/${uploadId}/finish/`, { skipped }, { signal })
    .catch(() => ({ ok: false }));
  return done.ok;
}
