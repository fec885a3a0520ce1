// Irreversible actions ask first: a submit button or form with data-confirm="question"
// shows the browser's own confirmation dialog (keyboard-reachable, read by screen
// readers); Cancel keeps everything as it was. Loaded on every page (templates/base.html).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button?.dataset.confirm || event.target.dataset?.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
