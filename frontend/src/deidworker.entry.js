// Web Worker running the de-identification engine off the page's main thread.
// Messages in:
//   {type: "init", profile, options, key}          once, before any file
//   {type: "deidentify", id, buffer, collectValues, thumbnail, names, masks}   one file at a time
//   {type: "roundtrip", id, buffer, mode}          benchmark floor: parse + write only
// Messages out: {type: "ready"} | {type: "init-error", message}
//   | {type: "done", id, bytes, report} | {type: "error", id, message, buffer}
// Buffers are transferred, never copied: the input goes back only on failure (the page
// may then offer server-only de-identification); on success it is released here.
import dcmjs from "dcmjs";
import { createEngine, DeidError, encode, parse } from "./deid-engine.js";

let engine = null;

async function init(message) {
  try {
    engine = await createEngine({ profile: message.profile, options: message.options, key: message.key });
    self.postMessage({ type: "ready" });
  } catch (error) {
    self.postMessage({ type: "init-error", message: String(error && error.message) });
  }
}

async function deidentify(message) {
  const { id, buffer } = message;
  try {
    if (!engine) throw new DeidError("the de-identification engine is not ready");
    const { bytes, report } = await engine.deidentify(buffer, {
      collectValues: Boolean(message.collectValues), thumbnail: Boolean(message.thumbnail),
      names: message.names || [], masks: message.masks || [],
    });
    const transfer = [bytes];
    if (report.thumbnail && report.thumbnail.rgba) transfer.push(report.thumbnail.rgba);
    self.postMessage({ type: "done", id, bytes, report }, transfer);
  } catch (error) {
    // Only the engine's own messages are shown: they never quote a value of the file.
    const text = error instanceof DeidError ? error.message
      : "could not be de-identified by the browser (unexpected error)";
    self.postMessage({ type: "error", id, message: text, buffer }, buffer.byteLength ? [buffer] : []);
  }
}

// Benchmark floor (bench/bench_browser_deid.py): read and write without any change,
// with plain dcmjs ("dcmjs") or with the engine's own reader/writer ("engine").
function roundtrip(message) {
  const { id, buffer, mode } = message;
  let bytes;
  if (mode === "dcmjs") {
    const file = dcmjs.data.DicomMessage.readFile(buffer, { ignoreErrors: true });
    bytes = file.write({ allowInvalidVRLength: true });
  } else {
    bytes = encode(parse(buffer));
  }
  self.postMessage({ type: "done", id, bytes, report: null }, [bytes]);
}

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "init") init(message);
  else if (message.type === "deidentify") deidentify(message);
  else if (message.type === "roundtrip") roundtrip(message);
};
