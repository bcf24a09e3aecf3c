// Behaviour every page shares, as a module: the Content-Security-Policy allows no inline
// handlers (onsubmit="...", onclick="..."), so forms and buttons declare it in data attributes.

// <form data-confirm="Delete this user?">: asks before submitting.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// <button data-print>: the browser's print dialog (a PDF from there).
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (button) window.print();
});
