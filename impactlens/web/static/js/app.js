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

// <div data-aspect="1600/900">: the element's width / height as the CSS variable --aspect. Set
// through the CSSOM because the Content-Security-Policy refuses style="" attributes; the
// stylesheet sizes the stage from it. Content swapped in by htmx gets it too.
function applyAspect(root) {
  const found = root instanceof Element && root.matches("[data-aspect]") ? [root] : [];
  for (const el of [...found, ...root.querySelectorAll("[data-aspect]")]) {
    const [w, h] = el.dataset.aspect.split("/").map(Number);
    if (w > 0 && h > 0 && Number.isFinite(w / h)) el.style.setProperty("--aspect", String(w / h));
  }
}
applyAspect(document);
document.addEventListener("htmx:load", (event) => applyAspect(event.target));
