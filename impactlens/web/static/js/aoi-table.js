// The AOI editor's table: one row per AOI, built from DOM nodes (a name is a property, never
// parsed as HTML). Each control carries a data-role so that a re-render puts keyboard focus
// back on the same control of the same row.

export const fmtPct = (v) => (v == null ? "…" : `${(v * 100).toFixed(1)}%`);
export const fmtLift = (v) => (v == null ? "…" : `${v.toFixed(2)}×`);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "aria" || k === "data") continue;
    node[k] = v;
  }
  for (const [k, v] of Object.entries(props.aria || {})) node.setAttribute(`aria-${k}`, v);
  Object.assign(node.dataset, props.data || {});
  node.append(...children);
  return node;
}

export function nameCell(editor, a, i) {
  const input = el("input", {
    type: "text",
    value: a.name,
    maxLength: 64,
    aria: { label: `Name of AOI ${i + 1}` },
    data: { role: "name" },
  });
  input.addEventListener("focus", () => editor.select(i));
  input.addEventListener("change", () => editor.rename(i, input));
  return el("td", {}, input);
}

export function deleteCell(editor, a, i) {
  const btn = el("button", {
    type: "button",
    className: "aoi-delete",
    textContent: "✕",
    title: "Delete",
    aria: { label: `Delete AOI ${a.name}` },
    data: { role: "delete" },
  });
  btn.addEventListener("click", () => editor.remove(i));
  return el("td", {}, btn);
}

// The image page's cells: name, share, area, lift, delete.
export function imageCells(editor, a, i) {
  const s = editor.shares.get(a.name);
  const values = [s ? fmtPct(s.share) : "…", s ? fmtPct(s.area_fraction) : "…", s ? fmtLift(s.lift) : "…"];
  const cells = values.map((text, k) => el("td", { className: ["share", "area", "lift"][k], textContent: text }));
  return [nameCell(editor, a, i), ...cells, deleteCell(editor, a, i)];
}

export function renderTable(editor) {
  const { tbody } = editor;
  const active = document.activeElement;
  const activeRow = active && tbody.contains(active) ? active.closest("tr").dataset.index : null;
  const activeRole = activeRow !== null ? active.dataset.role || "" : null;
  const rows = editor.aois.map((a, i) => {
    const tr = el("tr", { data: { index: String(i), name: a.name } });
    if (i === editor.selected) tr.classList.add("selected");
    tr.append(...editor.rowCells(a, i));
    return tr;
  });
  tbody.replaceChildren(...rows);
  if (activeRow !== null) {
    const row = tbody.querySelector(`tr[data-index="${activeRow}"]`) || tbody.lastElementChild;
    const target = row && (row.querySelector(`[data-role="${activeRole}"]`) || row.querySelector("input"));
    if (target) target.focus();
    else editor.canvas.focus();
  }
  const empty = editor.root.querySelector(".aoi-empty");
  if (empty) empty.hidden = editor.aois.length > 0;
}

export async function errorText(response) {
  try {
    const body = await response.json();
    if (!body.error) return `HTTP ${response.status}`;
    // A validation error's message is generic: its details say which AOI and why.
    const where = (d) => (d.loc || []).filter((p) => p !== "body").join(".");
    const details = (body.error.details || []).map((d) => `${where(d)}: ${d.message}`);
    return details.length ? `${body.error.message} (${details.join("; ")})` : body.error.message;
  } catch {
    return `HTTP ${response.status}`;
  }
}
