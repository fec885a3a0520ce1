// Private elements (uploads/dicom/deid/private.py): keep the safe allow-list (with its
// creators, PS3.15 E.3.10), remove the rest.
import ENGINE from "../generated/engine-constants.js";
import { CLEAN, KEPT_SAFE_PRIVATE, REMOVED } from "./common.js";
import { bytesOf, strings } from "./elements.js";

const SAFE_PRIVATE = ENGINE.safe_private;
const SAFE_TEXT_RE = new RegExp(SAFE_PRIVATE.text);

function safePrivateValue(el, row) {
  const vr = el.vr;
  if (vr === "UN") {
    const data = bytesOf(el.Value && el.Value[0]) || new Uint8Array(0);
    if (row.vr in SAFE_PRIVATE.binary_sizes) return data.length % SAFE_PRIVATE.binary_sizes[row.vr] === 0;
    if (data.some((b) => b > 0x7f)) return false;
    const texts = String.fromCharCode(...data).split("\\");
    return SAFE_PRIVATE.text_vrs.includes(row.vr) && texts.every((t) => SAFE_TEXT_RE.test(t));
  }
  if (vr !== row.vr) return false;
  if (row.vr in SAFE_PRIVATE.binary_sizes) return true;
  const raw = Array.isArray(el._rawValue) ? el._rawValue.map(String) : strings(el);
  return SAFE_PRIVATE.text_vrs.includes(row.vr) && raw.every((t) => SAFE_TEXT_RE.test(t));
}

export function privateElements(dict, tags, run) {
  const compiled = run.compiled;
  const creators = new Map();
  const keptBlocks = new Set();
  if (compiled.privateAction === CLEAN && compiled.safePrivate.size) {
    for (const tag of tags) {
      const element = parseInt(tag.slice(4), 16);
      if (element >= 0x10 && element <= 0xff) {
        const creator = strings(dict[tag]).join("\\");
        if (creator) creators.set(`${tag.slice(0, 4)}${tag.slice(6)}`, creator);
      }
    }
  }
  for (const tag of tags) {
    const element = parseInt(tag.slice(4), 16);
    if (element < 0x100) continue;
    const block = `${tag.slice(0, 4)}${tag.slice(4, 6)}`;
    const creator = creators.get(block);
    const row = creator && compiled.safePrivate.get(`${tag.slice(0, 4)}|${creator}|${tag.slice(6)}`);
    if (row && safePrivateValue(dict[tag], row)) {
      keptBlocks.add(block);
      run.count(tag, KEPT_SAFE_PRIVATE);
    } else {
      run.count(tag, REMOVED, dict[tag]);
      delete dict[tag];
    }
  }
  for (const tag of tags) {
    const element = parseInt(tag.slice(4), 16);
    if (element < 0x100 && !keptBlocks.has(`${tag.slice(0, 4)}${tag.slice(6)}`)) {
      run.count(tag, REMOVED, dict[tag]);
      delete dict[tag];
    }
  }
}
