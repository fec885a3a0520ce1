// Collect what the uploader dropped or picked: files, folders, ZIP archives, CDs.
// Everything that is not DICOM is listed as skipped with a reason; nothing is sent.
import { unzip } from "fflate";
import { gettext, interpolate } from "./i18n.js";
import ENGINE from "./generated/engine-constants.js";

// ZIP limits (a ZIP bomb must not take the browser down): the server's, from
// uploads/dicom/constants.py, except the total, which is lower in the browser because it
// holds everything it unpacks in memory (the reason is written there).
const LIMITS = ENGINE.zip_limits;
export const ZIP_LIMITS = {
  maxEntries: LIMITS.max_entries,
  maxTotalBytes: LIMITS.browser_max_total,
  maxEntryBytes: LIMITS.max_entry_size,
  maxRatio: LIMITS.max_ratio,
  ratioMinSize: LIMITS.ratio_min_size,
  maxDepth: LIMITS.max_depth, // the outermost archive is level 1
};

// One candidate file: a display name, a size and a way to read its bytes.
function fromFile(file, path) {
  return { name: path || file.webkitRelativePath || file.name, size: file.size,
           read: () => file.arrayBuffer(), head: (n) => file.slice(0, n).arrayBuffer() };
}

function fromBytes(name, bytes) {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return { name, size: bytes.byteLength, read: async () => buffer,
           head: async (n) => buffer.slice(0, n) };
}

// Walk a dropped folder (DataTransferItem.webkitGetAsEntry).
async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push(fromFile(file, prefix + entry.name));
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walkEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

export async function fromDataTransfer(dataTransfer) {
  const out = [];
  const entries = [...dataTransfer.items]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length) {
    for (const entry of entries) await walkEntry(entry, "", out);
  } else {
    for (const file of dataTransfer.files) out.push(fromFile(file));
  }
  return out;
}

export function fromFileList(list) {
  return [...list].map((file) => fromFile(file));
}

const MAGIC = [
  [[0x25, 0x50, 0x44, 0x46], gettext("a PDF document")],
  [[0x4d, 0x5a], gettext("a Windows program")],
  [[0x7f, 0x45, 0x4c, 0x46], gettext("a program")],
  [[0x89, 0x50, 0x4e, 0x47], gettext("a PNG picture")],
  [[0xff, 0xd8, 0xff], gettext("a JPEG picture")],
  [[0x47, 0x49, 0x46, 0x38], gettext("a GIF picture")],
  [[0x50, 0x4b, 0x03, 0x04], gettext("a ZIP archive")],
  [[0x3c, 0x3f, 0x78, 0x6d], gettext("an XML file")],
  [[0x3c, 0x68, 0x74, 0x6d], gettext("a web page")],
  [[0x3c, 0x21, 0x44, 0x4f], gettext("a web page")],
];

function startsWith(bytes, magic) {
  return magic.every((b, i) => bytes[i] === b);
}

// "dicom", "dicomdir", "zip", or a reason the file is not used.
export function classify(name, headBuffer) {
  const bytes = new Uint8Array(headBuffer);
  const base = name.split("/").pop();
  if (bytes.length === 0) return { kind: "skip", reason: gettext("empty file") };
  if (base.toUpperCase() === "DICOMDIR") {
    return { kind: "skip", reason: gettext("CD index (DICOMDIR): used only to find the images") };
  }
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return { kind: "zip" };
  if (bytes.length >= 132 && startsWith(bytes.subarray(128), [0x44, 0x49, 0x43, 0x4d])) {
    return { kind: "dicom" };
  }
  // No preamble: implicit VR little endian data set starting with group 0002 or 0008.
  if (bytes.length >= 8 && bytes[1] === 0x00 && (bytes[0] === 0x08 || bytes[0] === 0x02)) {
    return { kind: "dicom" };
  }
  for (const [magic, what] of MAGIC) {
    if (startsWith(bytes, magic)) return { kind: "skip", reason: interpolate(gettext("not a DICOM image (%(what)s)"), { what }) };
  }
  if (/\.(inf|txt|ini|htm|html|exe|dll|js|css|xml|pdf|jpg|png)$/i.test(base)) {
    return { kind: "skip", reason: gettext("not a DICOM image (viewer or CD file)") };
  }
  return { kind: "skip", reason: gettext("not a DICOM file") };
}

function unsafePath(path) {
  return path.startsWith("/") || path.startsWith("\\") || /^[a-zA-Z]:/.test(path) ||
    path.split(/[\\/]/).includes("..");
}

// Unpack a ZIP in memory with limits; returns {items, skipped}.
export async function expandZip(item, depth = 1) {
  const skipped = [];
  const buffer = new Uint8Array(await item.read());
  let total = 0;
  let count = 0;
  let refusal = "";
  const files = await new Promise((resolve) => {
    unzip(buffer, {
      filter(entry) {
        if (entry.name.endsWith("/")) return false;
        count += 1;
        const shown = `${item.name}/${entry.name}`;
        if (unsafePath(entry.name)) {
          skipped.push({ name: shown, reason: gettext("unsafe path inside the ZIP (../ or absolute)") });
          return false;
        }
        const size = entry.originalSize;
        if (count > ZIP_LIMITS.maxEntries) {
          refusal = gettext("too many files in the ZIP");
        } else if (size > ZIP_LIMITS.maxEntryBytes || total + size > ZIP_LIMITS.maxTotalBytes ||
                   (size >= ZIP_LIMITS.ratioMinSize &&
                    size > ZIP_LIMITS.maxRatio * Math.max(entry.size, 1))) {
          refusal = gettext("the ZIP unpacks to far more data than it holds (ZIP bomb?)");
        }
        if (refusal) return false;
        total += size;
        return true;
      },
    }, (error, result) => resolve(error ? { __error: error } : result));
  });
  if (refusal || files.__error) {
    return { items: [], skipped: [{ name: item.name,
      reason: refusal || gettext("the ZIP archive is damaged and cannot be opened") }] };
  }
  const items = [];
  for (const [name, bytes] of Object.entries(files)) {
    const child = fromBytes(`${item.name}/${name}`, bytes);
    if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
      if (depth >= ZIP_LIMITS.maxDepth) {
        skipped.push({ name: child.name, reason: gettext("ZIP inside a ZIP inside a ZIP: not opened") });
        continue;
      }
      const inner = await expandZip(child, depth + 1);
      items.push(...inner.items);
      skipped.push(...inner.skipped);
    } else {
      items.push(child);
    }
  }
  return { items, skipped };
}

// Sort candidates into DICOM files and skipped files (with reasons), unpacking ZIPs.
export async function triage(candidates) {
  const dicom = [];
  const skipped = [];
  const queue = [...candidates];
  while (queue.length) {
    const item = queue.shift();
    let head;
    try {
      head = await item.head(132);
    } catch {
      skipped.push({ name: item.name, reason: gettext("could not be read from the disk") });
      continue;
    }
    const verdict = classify(item.name, head);
    if (verdict.kind === "dicom") dicom.push(item);
    else if (verdict.kind === "zip") {
      const { items, skipped: inner } = await expandZip(item);
      queue.push(...items);
      skipped.push(...inner);
    } else skipped.push({ name: item.name, reason: verdict.reason });
  }
  return { dicom, skipped };
}
