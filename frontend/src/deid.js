// The hook every file passes through before any byte is sent (uploads/intake/api.py receives
// only what this returns): in-browser de-identification (issue #5) with the engine in
// deid-engine.js, run in Web Workers (deidworker.entry.js) so the page stays responsive.
//
// The workers get the profile (GET /api/deid/profile/), the enabled options and this
// uploader's key (GET /api/uploads/config/ → uploader_key) once. Each worker handles one
// file at a time; buffers are transferred, not copied.

export const CLIENT_DEIDENTIFIES = true;

const PROFILE_URL = "/api/deid/profile/";
const MAX_WORKERS = 4;
// Files in flight together stay under this many bytes (a single larger file still goes).
const BYTES_IN_FLIGHT = 512 * 1024 ** 2;

/** A file the browser cannot de-identify; `message` says why, without any value. */
export class DeidFailure extends Error {
  constructor(message, buffer) {
    super(message);
    this.name = "DeidFailure";
    this.buffer = buffer; // the original bytes, handed back by the worker
  }
}

let pool = null;

function workerUrl() {
  const holder = document.querySelector("[data-deid-worker]");
  if (!holder) throw new Error("the page does not say where the de-identification worker is");
  return holder.dataset.deidWorker;
}

async function fetchProfile() {
  const response = await fetch(PROFILE_URL, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the de-identification profile could not be loaded (${response.status})`);
  return response.json();
}

function startWorker(url, init) {
  const worker = new Worker(url);
  const slot = { worker, busy: false, pending: null };
  const ready = new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === "ready") resolve(slot);
      else if (message.type === "init-error") reject(new Error(message.message));
      else finish(slot, message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const failed = slot.pending;
      slot.pending = null;
      slot.busy = false;
      if (failed) failed.reject(new Error("the de-identification worker stopped"));
      else reject(new Error("the de-identification worker could not start"));
      pump();
    };
  });
  worker.postMessage(init);
  return ready;
}

function finish(slot, message) {
  const job = slot.pending;
  slot.pending = null;
  slot.busy = false;
  pool.inFlight -= job.size;
  if (message.type === "done") job.resolve({ bytes: message.bytes, report: message.report });
  else job.reject(new DeidFailure(message.message, message.buffer));
  pump();
}

// Hand queued jobs to idle workers, within the byte budget.
function pump() {
  for (const slot of pool.slots) {
    const job = pool.queue[0];
    if (!job) return;
    if (slot.busy) continue;
    if (pool.inFlight && pool.inFlight + job.size > BYTES_IN_FLIGHT) return;
    pool.queue.shift();
    try {
      slot.worker.postMessage(job.message, [job.message.buffer]);
    } catch {
      job.reject(new DeidFailure("could not be read from the disk", null));
      queueMicrotask(pump); // this slot is still free for the next job
      return;
    }
    slot.busy = true;
    slot.pending = job;
    pool.inFlight += job.size;
  }
}

/**
 * Start the workers (idempotent). `config` is the body of /api/uploads/config/.
 * @returns {Promise<object>} the profile (with allow_server_only)
 */
export function setupDeid(config) {
  if (!pool) {
    pool = { slots: [], queue: [], inFlight: 0, profile: null, ready: null };
    pool.ready = (async () => {
      const profile = await fetchProfile();
      // profile.options: the names of settings.DEID_OPTIONS, normalised by the server.
      const init = { type: "init", profile, options: profile.options, key: config.uploader_key };
      const count = Math.max(1, Math.min(MAX_WORKERS, (navigator.hardwareConcurrency || 2) - 1));
      const url = workerUrl();
      pool.slots = await Promise.all(Array.from({ length: count }, () => startWorker(url, init)));
      pool.profile = profile;
      return profile;
    })();
    pool.ready.catch(() => { pool = null; }); // a later call tries again
  }
  return pool.ready;
}

function run(message) {
  return new Promise((resolve, reject) => {
    pool.queue.push({ message, size: message.buffer.byteLength, resolve, reject });
    pump();
  });
}

/**
 * De-identify one file in a worker. `buffer` is transferred (unusable afterwards).
 * @param {ArrayBuffer} buffer the original file
 * @param {object} context {config, summary, preview: collect original values and a
 *   thumbnail for the local preview, allowRaw: on failure return the original bytes for
 *   server-only de-identification instead of throwing, names: the Person Name values of
 *   the whole upload (cut out of descriptors), masks: regions {x, y, w, h} blacked out
 *   in every frame (pixelmask.js)}
 * @returns {Promise<{bytes: ArrayBuffer, deidentified: boolean, report: object|null}>}
 * @throws {DeidFailure} when the file cannot be de-identified here (and !allowRaw)
 */
export async function prepareForUpload(buffer, context = {}) {
  await setupDeid(context.config || {});
  try {
    const preview = Boolean(context.preview);
    const { bytes, report } = await run({ type: "deidentify", id: 0, buffer,
      collectValues: preview, thumbnail: preview, names: context.names || [],
      masks: context.masks || [] });
    return { bytes, deidentified: true, report };
  } catch (error) {
    if (context.allowRaw && error instanceof DeidFailure && error.buffer) {
      return { bytes: error.buffer, deidentified: false, report: null, reason: error.message };
    }
    throw error;
  }
}
