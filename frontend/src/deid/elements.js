// Values of the raw dcmjs dict (uploads/dicom/deid/elements.py): the tag-keyed elements
// {vr, Value, _rawValue} that dcmjs reads, never its "naturalized" data set.

export const strip = (text) => text.replace(/^[ \0]+|[ \0]+$/g, "");

function personName(value) {
  if (typeof value !== "object" || value === null) return String(value ?? "");
  const parts = [value.Alphabetic || "", value.Ideographic || "", value.Phonetic || ""];
  while (parts.length > 1 && !parts[parts.length - 1]) parts.pop();
  return parts.join("=");
}

// The values of a text element as strings, [] when empty (deid/elements.py strings).
export function strings(el) {
  if (!el || !Array.isArray(el.Value) || !el.Value.length) return [];
  const raw = Array.isArray(el._rawValue) ? el._rawValue : null;
  const values = el.Value.map((v, i) => {
    if (v === null || v === undefined) return "";
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return "";
    if (typeof v === "object") return personName(v);
    if (typeof v === "number" && raw && typeof raw[i] === "string") return raw[i];
    return String(v);
  }).map(strip);
  return values.join("") === "" && values.length <= 1 ? [] : values;
}

export const text = (dict, tag) => strings(dict[tag]).join("\\");

export function setValues(el, values) {
  el.Value = values;
  delete el._rawValue; // written from Value, not from the original bytes
}

export function isSequence(el) {
  return el.vr === "SQ";
}

export function bytesOf(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

export function element(vr, values) {
  return { vr, Value: values };
}
