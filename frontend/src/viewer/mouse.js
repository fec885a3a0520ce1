// Mouse conventions of the viewer: what a drag with each button does.
//
// "ohif" is the default of OHIF and Weasis (left = window/level, middle or Ctrl+left =
// pan, right = zoom); "classic" is this viewer's earlier one (left = pan, right =
// window/level). The choice is kept per user account (the viewer_mouse preference).
import { gettext } from "../i18n.js";

export const CONVENTIONS = {
  ohif: { label: gettext("OHIF / Weasis: left window, middle or Ctrl pan, right zoom") },
  classic: { label: gettext("Classic: left pan, right window") },
};
export const DEFAULT = "ohif";

// The kind of drag ("window", "pan" or "zoom") a pointerdown starts.
export function dragKind(event, convention) {
  if (convention === "classic") return event.button === 2 ? "window" : "pan";
  if (event.button === 1 || (event.button === 0 && (event.ctrlKey || event.metaKey))) return "pan";
  if (event.button === 2) return "zoom";
  return event.pointerType === "touch" ? "pan" : "window";
}

// The help line for the current convention.
export function describe(convention) {
  return convention === "classic"
    ? gettext("drag: pan; right-drag: window level/width")
    : gettext("drag: window level/width; middle-drag or Ctrl+drag: pan; right-drag: zoom");
}
