// DICOM values as people read them, for the upload page's local preview (never sent):
// "DOE^JANE^MARIE" → "Jane Marie Doe", "19710305" → "5 Mar 1971", "054Y" → "54 years",
// "143012" → "14:30:12". Values that do not fit their format are shown as they are.

import { formatDateUTC, gettext, interpolate, ngettext } from "./i18n.js";

const titleCase = (word) =>
  word === word.toUpperCase() ? word.charAt(0) + word.slice(1).toLowerCase() : word;

// PS3.5 §6.2: family^given^middle^prefix^suffix; "=" separates alphabetic/ideographic groups.
function personName(value) {
  const [alphabetic] = value.split("=");
  const [family = "", given = "", middle = "", prefix = "", suffix = ""] = alphabetic.split("^");
  const words = [prefix, given, middle, family, suffix].join(" ").split(/\s+/).filter(Boolean);
  return words.length ? words.map(titleCase).join(" ") : value;
}

export function readableDate(da) {
  if (!/^\d{8}$/.test(da)) return da;
  const date = new Date(Date.UTC(+da.slice(0, 4), +da.slice(4, 6) - 1, +da.slice(6, 8)));
  if (Number.isNaN(date.getTime())) return da;
  return formatDateUTC(date, { day: "numeric", month: "short", year: "numeric" });
}

function readableTime(tm) {
  const match = /^(\d{2})(\d{2})?(\d{2})?/.exec(tm);
  if (!match) return tm;
  return [match[1], match[2] || "00", match[3]].filter(Boolean).join(":");
}

const AGE_UNITS = {
  D: (n) => ngettext("%(n)s day", "%(n)s days", n),
  W: (n) => ngettext("%(n)s week", "%(n)s weeks", n),
  M: (n) => ngettext("%(n)s month", "%(n)s months", n),
  Y: (n) => ngettext("%(n)s year", "%(n)s years", n),
};

// PS3.5 §6.2 AS: nnnD, nnnW, nnnM or nnnY.
export function readableAge(as) {
  const match = /^(\d{3})([DWMY])$/.exec(as.trim());
  if (!match) return as;
  const n = Number(match[1]);
  return interpolate(AGE_UNITS[match[2]](n), { n });
}

const SEX = { M: () => gettext("male"), F: () => gettext("female"), O: () => gettext("other") };

export function readableSex(cs) {
  const word = SEX[cs.trim().toUpperCase()];
  return word ? word() : cs;
}

export function readable(value, vr) {
  if (typeof value !== "string" || !value) return value;
  switch (vr) {
    case "PN": return personName(value);
    case "DA": return readableDate(value);
    case "TM": return readableTime(value);
    case "DT": {
      const date = readableDate(value.slice(0, 8));
      return value.length > 8 ? `${date}, ${readableTime(value.slice(8))}` : date;
    }
    case "AS": return readableAge(value);
    default: return value;
  }
}
