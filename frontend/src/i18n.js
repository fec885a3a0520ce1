// The page's translations, from Django's JavaScript catalogue (/jsi18n/, loaded by
// templates/base.html before the bundles): the same .po files as the templates
// (locale/<lang>/LC_MESSAGES/djangojs.po, docs/i18n.md). `makemessages -d djangojs`
// finds the strings by these function names, so call them with literal strings.
// Without the catalogue (a worker, a test page) the English text is used as it is.

const catalogue = () => globalThis.django;

export function gettext(message) {
  const django = catalogue();
  return django ? django.gettext(message) : message;
}

// The form for `count` (one or other: each language's own plural rule).
export function ngettext(singular, plural, count) {
  const django = catalogue();
  if (django) return django.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

// "%(name)s" placeholders, as in Python: interpolate(gettext("%(n)s of %(total)s"), {n, total}).
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (match, name) =>
    (name in values ? String(values[name]) : match));
}

// The page's language (<html lang>), for Intl's dates and numbers.
export function language() {
  return globalThis.document?.documentElement.lang || globalThis.navigator?.language || "en";
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(language(), options).format(value);
}

export function formatDateUTC(date, options) {
  return new Intl.DateTimeFormat(language(), { ...options, timeZone: "UTC" }).format(date);
}
