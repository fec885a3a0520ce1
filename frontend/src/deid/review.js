// Whether the pixels need a human look before release (uploads/dicom/deid/review.py):
// the rules are data (ENGINE.pixel_review), first match wins; then overlays in Pixel Data.
import ENGINE from "../generated/engine-constants.js";
import { text } from "./elements.js";

const REVIEW = ENGINE.pixel_review;
const REVIEW_RULES = REVIEW.rules.map((rule) => ({ ...rule, values: new Set(rule.values),
  unless_values: new Set(rule.unless_values) }));
const OVERLAY_DATA = REVIEW.overlay_data_element.toString(16).toUpperCase().padStart(4, "0");

/** Why the pixels need a human look before release, or "" (review.pixel_review). */
export function pixelReview(dict) {
  for (const rule of REVIEW_RULES) { // first match wins (ENGINE.pixel_review.rules)
    const value = text(dict, rule.tag).toUpperCase();
    if (rule.values.has(value) &&
        !(rule.unless_tag && rule.unless_values.has(text(dict, rule.unless_tag).toUpperCase()))) {
      return rule.reason.replace("{value}", value);
    }
  }
  const groups = new Set(Object.keys(dict).map((t) => t.slice(0, 4))
    .filter((g) => (parseInt(g, 16) & REVIEW.overlay_group.mask) === REVIEW.overlay_group.value));
  for (const g of groups) {
    if (!(`${g}${OVERLAY_DATA}` in dict)) return REVIEW.overlay_reason;
  }
  return "";
}

// The input's pixels were cleaned before (review.pixels_cleaned): Burned In Annotation NO
// and the Clean Pixel Data Option's code.
export function pixelsCleaned(dict) {
  const tags = ENGINE.tags;
  if (text(dict, tags.BurnedInAnnotation).toUpperCase() !== "NO") return false;
  const items = dict[tags.DeidentificationMethodCodeSequence]?.Value || [];
  return items.some((item) => text(item, "00080100") === ENGINE.clean_pixel_code.code);
}
