// The resumable upload protocol (uploads/api.py): register files by the SHA-256 of the
// bytes to send, then PUT chunks at the offset the server confirms. A dropped connection
// is retried with backoff; after a page reload the same files map to the same keys, so
// the server tells what it already has and the upload continues where it stopped.

function csrfToken() {
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
      throw new Error(`server answered ${result.status}`);
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
  if (!sent.ok) throw new Error(sent.data.error || `upload failed (${sent.status})`);
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
    if (put.status !== 409) throw new Error(put.data.error || `upload failed (${put.status})`);
  }
  const reg = await withRetry(
    () => api("POST", base, { files: [{ key: prepared.key, name: "",
                                        size: prepared.bytes.byteLength }] }, { signal }),
    { signal, onRetry });
  if (!reg.ok) throw new Error(reg.data.error || `registration failed (${reg.status})`);
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
    if (!put.ok) throw new Error(put.data.error || `upload failed (${put.status})`);
    onBytes(put.data.received - offset);
    state = put.data;
  }
  return state;
}
