// Irreversible actions ask first: a submit button or form with data-confirm="question"
// shows the browser's own confirmation dialog (keyboard-reachable, read by screen
// readers); Cancel keeps everything as it was. Loaded on every page (templates/base.html).
// Capture phase: it runs before the form's own submit listeners, which then see
// defaultPrevented when the answer was Cancel.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button?.dataset.confirm || event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
}, true);
