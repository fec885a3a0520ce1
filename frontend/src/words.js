// The browser's port of uploads/dicom/words.py: the file's own identifying values as words,
// and matching recognised text against them (PS3.15 E.3.1, Clean Pixel Data Option). The
// box editor uses it on the words the portal read in the small preview (textboxes.js), so
// the header values never leave this computer. The rules (OCR folding table, lengths,
// month names, thresholds) are ENGINE.word_matching, defined once in
// uploads/dicom/constants.py; tests/uploads/test_words_crosscheck.py keeps both equal.
import ENGINE from "./generated/engine-constants.js";

const RULES = ENGINE.word_matching;
// Python's \w is any Unicode letter or digit (or _); JavaScript's only ASCII ones, even with "u".
const unicodeWord = (pattern) => pattern.replaceAll("\\w", "\\p{L}\\p{N}_");
const SPLIT = new RegExp(unicodeWord(RULES.split), "u");
const EDGES = new RegExp(unicodeWord(RULES.edges), "gu");
export const MIN_LENGTH = RULES.min_length;

const unique = (items) => [...new Set(items)];

/** Upper case, outer punctuation dropped, OCR confusions folded (O→0, I/L→1 …). */
export function canonical(word) {
  return [...word.toUpperCase().replace(EDGES, "")].map((c) => RULES.fold[c] ?? c).join("");
}

/** A DICOM DA value (YYYYMMDD, PS3.5 6.2) written the common ways (words.date_forms). */
export function dateForms(value) {
  const text = String(value).trim();
  if (!/^\d{8}$/.test(text)) return [];
  const [year, month, dayNo] = [+text.slice(0, 4), +text.slice(4, 6), +text.slice(6)];
  const day = new Date(Date.UTC(2000, month - 1, dayNo));
  if (year < 1 || month < 1 || month > 12 || day.getUTCMonth() !== month - 1
    || day.getUTCDate() !== dayNo || (month === 2 && dayNo === 29 && !leap(year))) return [];
  const y = text.slice(0, 4); const m = text.slice(4, 6); const d = text.slice(6);
  const mon = RULES.months[month - 1]; const name = RULES.month_names[month - 1];
  const forms = [y + m + d];
  for (const sep of ["-", "/", "."]) {
    forms.push([y, m, d].join(sep), [d, m, y].join(sep), [m, d, y].join(sep));
    forms.push([d, m, y.slice(2)].join(sep), [m, d, y.slice(2)].join(sep));
  }
  const short = [String(dayNo), String(month)];
  forms.push(`${short[0]}/${short[1]}/${y}`, `${short[1]}/${short[0]}/${y}`);
  forms.push(`${d}-${mon}-${y}`, `${d}${mon}${y}`, `${d}-${mon}-${y.slice(2)}`);
  for (const dd of unique([d, String(dayNo)])) {
    forms.push(`${dd} ${mon} ${y}`, `${dd} ${name} ${y}`, `${mon} ${dd} ${y}`, `${name} ${dd} ${y}`);
  }
  return unique(forms);
}

function leap(y) {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const stripChars = (s, chars) => {
  let a = 0; let b = s.length;
  while (a < b && chars.includes(s[a])) a += 1;
  while (b > a && chars.includes(s[b - 1])) b -= 1;
  return s.slice(a, b);
};

/**
 * The identifying values to look for, from the header values {keyword: [value, ...]}
 * (deid/thumbnail.js identifyingValues; keywords of ENGINE.identifying_words): name parts,
 * IDs and the institution whole and word by word, dates in the forms of dateForms.
 * Upper case, no duplicates (words.identifying_words).
 */
export function identifyingWords(values) {
  const kinds = ENGINE.identifying_words;
  const of = (keyword) => (values && values[keyword] ? [].concat(values[keyword]) : [])
    .map(String).filter((v) => v.trim());
  const found = [];
  for (const keyword of Object.keys(kinds.names)) {
    for (const name of of(keyword)) {
      found.push(...name.split(/[\^= ]+/).filter((p) => stripChars(p, ".,").length >= MIN_LENGTH));
    }
  }
  for (const keyword of Object.keys(kinds.text)) {
    for (const text of of(keyword)) {
      found.push(text.trim());
      found.push(...text.split(/\s+/).filter((w) => w.replace(EDGES, "").length >= RULES.text_word));
    }
  }
  for (const keyword of Object.keys(kinds.dates)) {
    for (const text of of(keyword)) found.push(...dateForms(text));
  }
  return unique(found.map((w) => w.trim().toUpperCase()).filter((w) => w.length >= MIN_LENGTH));
}

// Equal, or one substitution, insertion or deletion apart (Levenshtein ≤ 1).
function near(a, b) {
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  if (a.length === b.length) return [...a].filter((x, i) => x !== b[i]).length === 1;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  for (let i = 0; i < long.length; i += 1) {
    if (long.slice(0, i) + long.slice(i + 1) === short) return true;
  }
  return false;
}

function tokenMatch(seen, value) {
  if (seen.length < MIN_LENGTH || value.length < MIN_LENGTH) return false;
  if (seen === value) return true;
  if (value.length >= RULES.fuzzy_value && seen.length >= RULES.fuzzy_seen && near(seen, value)) return true;
  // cut at the edge of the screen or of the field: "HOSPI" for "HOSPITAL"
  return value.length >= RULES.prefix_value && seen.length >= RULES.prefix_seen && value.startsWith(seen);
}

const words = (v) => v.split(/\s+/).filter(Boolean);

/** Matches recognised words against identifying values (words.Matcher). */
export class Matcher {
  constructor(values) {
    this.values = [...values].filter((v) => v.trim());
    this.sequences = this.values.filter((v) => words(v).length > 1).map((v) => words(v).map(canonical));
    this.exact = new Set(this.values.filter((v) => words(v).length === 1).map(canonical).filter(Boolean));
    this.fuzzy = [...this.exact].filter((s) => s.length >= RULES.fuzzy_value);
  }

  /** Whether one recognised word is, or contains as a part, an identifying value. */
  word(text) {
    for (const part of [text, ...text.split(SPLIT)]) {
      const seen = canonical(part);
      if (seen.length < MIN_LENGTH) continue;
      if (this.exact.has(seen)) return true;
      if (this.fuzzy.some((value) => tokenMatch(seen, value))) return true;
      if (this.joined(seen)) return true;
    }
    return false;
  }

  // Two values read as one word, the separator lost or misread ("DOESJOHN" for "DOE^JOHN").
  joined(seen) {
    const n = RULES.joined_part;
    for (let cut = n; cut < seen.length - n + 1; cut += 1) {
      if (this.exact.has(seen.slice(0, cut)) && (this.exact.has(seen.slice(cut))
        || (seen.length - cut > n && this.exact.has(seen.slice(cut + 1))))) return true;
    }
    return false;
  }

  /** Indexes of identifying words in a line of recognised `words` (a Set). */
  match(line) {
    const hits = new Set();
    line.forEach((w, i) => { if (this.word(w)) hits.add(i); });
    const folded = line.map(canonical);
    for (const sequence of this.sequences) {
      for (let start = 0; start + sequence.length <= folded.length; start += 1) {
        if (sequence.every((s, k) => folded[start + k] === s)) {
          sequence.forEach((_, k) => hits.add(start + k));
        }
      }
    }
    return hits;
  }
}
