// Loaded on every page (templates/base.html).
//
// Irreversible actions ask first: a submit button or form with data-confirm="question"
// shows the browser's own confirmation dialog (keyboard-reachable, read by screen
// readers); Cancel keeps everything as it was. Capture phase: it runs before the form's
// own submit listeners, which then see defaultPrevented when the answer was Cancel.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button?.dataset.confirm || event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
}, true);

// A page that follows work in progress: <body data-refresh-seconds="N"> reloads it every N
// seconds (a <meta http-equiv=refresh> is an accessibility fault: WCAG 2.2.1), unless the
// visitor is typing in a field of it.
const refresh = Number(document.body.dataset.refreshSeconds || 0);
if (refresh > 0) {
  setInterval(() => {
    const active = document.activeElement;
    if (active && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName)) return;
    window.location.reload();
  }, refresh * 1000);
}
