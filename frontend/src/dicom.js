// Reading DICOM in the browser with dcmjs: a patient-free summary of one file.
import dcmjs from "dcmjs";
import { formatDateUTC, gettext } from "./i18n.js";
import { personNames } from "./names.js";

const { DicomMessage } = dcmjs.data;

// Work on the raw tag-keyed dict: the "naturalized" path alters data
// (shared/notes/dcmjs.md).
export function value(dict, tag) {
  const element = dict[tag];
  if (!element || !element.Value || element.Value.length === 0) return "";
  const first = element.Value[0];
  return first === null || first === undefined ? "" : String(first);
}

function parseHeader(buffer) {
  return DicomMessage.readFile(buffer, { ignoreErrors: true, untilTag: "7FE00010" });
}

// Study/series grouping keys and display fields; never IDs or birth dates. `personNames`
// (every PN value) stays on this page: the engine cuts those names out of the kept
// descriptors of every file of the upload (names.js); it is never sent.
export async function summarize(item) {
  let file;
  try {
    file = parseHeader(await item.head(Math.min(item.size, 256 * 1024)));
  } catch {
    file = null;
  }
  if (!file || !value(file.dict, "0020000D")) {
    try {
      file = parseHeader(await item.read());
    } catch {
      return { error: gettext("not readable as DICOM (damaged or truncated file)") };
    }
  }
  const d = file.dict;
  const summary = {
    studyUid: value(d, "0020000D"),
    seriesUid: value(d, "0020000E"),
    sopUid: value(d, "00080018"),
    studyDate: value(d, "00080020"),
    modality: value(d, "00080060"),
    studyDescription: value(d, "00081030"),
    seriesDescription: value(d, "0008103E"),
    burnedIn: value(d, "00280301"),
    sopClass: value(d, "00080016"),
    sex: value(d, "00100040"),
    age: value(d, "00101010"),
    personNames: [...personNames(d)],
  };
  if (!summary.studyUid || !summary.seriesUid || !summary.sopUid) {
    return { error: gettext("not usable: the file has no study, series or image identifier") };
  }
  return summary;
}

export function formatDate(da) {
  if (!/^\d{8}$/.test(da)) return gettext("date unknown");
  const date = new Date(Date.UTC(+da.slice(0, 4), +da.slice(4, 6) - 1, +da.slice(6, 8)));
  return formatDateUTC(date, { day: "numeric", month: "short", year: "numeric" });
}

// Group summaries into studies for the confirmation step.
export function groupStudies(entries) {
  const studies = new Map();
  for (const entry of entries) {
    const s = entry.summary;
    if (!studies.has(s.studyUid)) {
      studies.set(s.studyUid, { uid: s.studyUid, date: s.studyDate, description: s.studyDescription,
                                modalities: new Set(), series: new Set(), items: [], bytes: 0 });
    }
    const study = studies.get(s.studyUid);
    if (s.modality) study.modalities.add(s.modality);
    study.series.add(s.seriesUid);
    study.items.push(entry);
    study.bytes += entry.item.size;
  }
  return [...studies.values()];
}
