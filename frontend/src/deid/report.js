// What was done, per tag and action (uploads/dicom/deid/results.py DeidResult.actions),
// with keyword and name for the upload page's preview.
import dcmjs from "dcmjs";

const { DicomMetaDictionary } = dcmjs.data;

function keywordOf(tag, compiled) {
  if (parseInt(tag.slice(0, 4), 16) & 1) return { keyword: "", name: "private attribute" };
  const row = compiled.rows.get(tag);
  if (row) return { keyword: row.keyword, name: row.name };
  const entry = DicomMetaDictionary.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  const keyword = entry ? entry.name.replace(/^RETIRED_/, "") : "";
  return { keyword, name: keyword.replace(/([a-z])([A-Z])/g, "$1 $2") };
}

export function actionsReport(run, compiled) {
  return [...run.counts.values()]
    .sort((a, b) => (a.tag === b.tag ? a.action.localeCompare(b.action) : a.tag < b.tag ? -1 : 1))
    .map((e) => ({ tag: `${e.tag.slice(0, 4)},${e.tag.slice(4)}`, ...keywordOf(e.tag, compiled),
      action: e.action, count: e.count, changed: e.changed,
      private: Boolean(parseInt(e.tag.slice(0, 4), 16) & 1),
      ...(run.collect ? { values: e.values } : {}) }));
}
