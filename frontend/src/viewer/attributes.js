// The Attributes panel's nested sequences: each sequence row gets a button that folds
// and unfolds the rows of its items (all folded at first). A row shows when none of the
// sequences it is nested in is folded. While a search is typed, every matching row
// shows, folded or not (CSS: table.searching).

import { gettext, interpolate } from "../i18n.js";

function refresh(rows) {
  const open = []; // depths of the sequences we are inside, and whether each is unfolded
  for (const row of rows) {
    const depth = Number(row.dataset.depth);
    while (open.length && open[open.length - 1].depth >= depth) open.pop();
    row.classList.toggle("collapsed-child", open.some((s) => !s.unfolded));
    const button = row.querySelector("button.sq-toggle");
    if (button) open.push({ depth, unfolded: button.getAttribute("aria-expanded") === "true" });
  }
}

export function foldSequences(tbody) {
  const rows = [...tbody.querySelectorAll("tr")];
  rows.forEach((row, i) => {
    const next = rows[i + 1];
    if (row.dataset.vr !== "SQ" || !next || Number(next.dataset.depth) <= Number(row.dataset.depth)) return;
    const name = row.children[1];
    const label = name.textContent.replace(/^[·\s]+/, "");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sq-toggle";
    button.dataset.testid = "viewer-tags-fold";
    const set = (unfolded) => {
      button.setAttribute("aria-expanded", String(unfolded));
      button.textContent = unfolded ? "−" : "+";
      button.setAttribute("aria-label", interpolate(unfolded ? gettext("Fold %(name)s") : gettext("Unfold %(name)s"), { name: label }));
    };
    set(false);
    button.addEventListener("click", () => { set(button.getAttribute("aria-expanded") !== "true"); refresh(rows); });
    name.prepend(button);
  });
  refresh(rows);
}
