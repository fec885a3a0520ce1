// The reading page (viewer beside the report editor): the width of the viewer pane, and
// the key images the embedded viewer adds to the draft.

// Messages from the embedded viewer (same origin only): {type: "key-images", keyImages}.
export function listenForKeyImages(onKeyImages) {
  window.addEventListener("message", (event) => {
    if (event.origin !== window.location.origin) return;
    const data = event.data || {};
    if (data.type === "key-images" && Array.isArray(data.keyImages)) onKeyImages(data.keyImages);
  });
}

// The slider sets the viewer pane's share of the page (the pane's corner drags it too).
export function bindSplit() {
  const layout = document.querySelector(".reading-layout");
  const slider = document.querySelector("[data-testid=reading-split]");
  const pane = document.querySelector("[data-testid=reading-viewer]");
  if (!layout || !slider || !pane) return;
  const saved = Number(window.localStorage.getItem("reading-split"));
  if (saved >= 30 && saved <= 80) slider.value = String(saved);
  const apply = () => {
    layout.style.setProperty("--reading-split", `${slider.value}%`);
    pane.style.width = "";
    window.localStorage.setItem("reading-split", slider.value);
  };
  slider.addEventListener("input", apply);
  apply();
}
