// One run over one data set (uploads/dicom/deid/run.py): the compiled profile, the
// pseudonym and date shift, the scrub patterns and the counts of what was done.
import { readable } from "../readable.js";
import { bytesOf, isSequence, strings } from "./elements.js";

export class Run {
  constructor(engine, pseudonym, shift, scrub, collect, namesRe = null) {
    this.compiled = engine.compiled;
    this.pseudonym = pseudonym;
    this.shift = shift;
    this.scrubRe = scrub;
    this.namesRe = namesRe;
    this.collect = collect;
    this.counts = new Map(); // "tag|action" -> {tag, action, count, changed, values}
    this.pendingUids = []; // [element, original values] remapped after the walk
  }

  // Count one action (as DeidResult.actions does); `changed` counts the cleanings that
  // actually cut something out (the preview lists only those).
  count(tag, action, el, changed = 1) {
    const key = `${tag}|${action}`;
    let entry = this.counts.get(key);
    if (!entry) {
      entry = { tag, action, count: 0, changed: 0, values: [] };
      this.counts.set(key, entry);
    }
    entry.count += 1;
    entry.changed += changed;
    if (this.collect && el && entry.values.length < 3) {
      const shown = describeValue(el);
      if (shown && !entry.values.includes(shown)) entry.values.push(shown);
    }
    return entry;
  }

  // The patient's names and IDs anywhere, then every person's name parts as whole words.
  scrub(value) {
    let out = value;
    for (const pattern of [this.scrubRe, this.namesRe]) {
      if (pattern && out) out = out.replace(pattern, (m) => "*".repeat([...m].length));
    }
    return out;
  }
}

// An original value, for the local preview only (never sent anywhere).
export function describeValue(el) {
  if (isSequence(el)) return "";
  const values = strings(el);
  if (values.length) return values.map((v) => readable(v, el.vr)).join(", ").slice(0, 80);
  if (Array.isArray(el.Value) && el.Value.some((v) => bytesOf(v))) return "(binary data)";
  return "";
}
