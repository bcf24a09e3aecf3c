// Draws the AOIs over the creative: a dark and a light outline (visible on any picture), the
// name and share above, corner handles on the selected one. An AOI not counting at the time
// shown (a video's, outside its window) is drawn faded and dashed.

export function drawAois(editor, handle) {
  const { ctx, canvas } = editor;
  const dpr = window.devicePixelRatio || 1;
  const s = editor.scale * dpr;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = `${12 * dpr}px system-ui, sans-serif`;
  editor.aois.forEach((a, i) => {
    const sel = i === editor.selected;
    const shown = sel || editor.isActive(a);
    ctx.globalAlpha = shown ? 1 : 0.5;
    ctx.setLineDash(shown ? [] : [6 * dpr, 4 * dpr]);
    const [x, y, w, h] = [a.x * s, a.y * s, a.w * s, a.h * s];
    ctx.lineWidth = (sel ? 3 : 2) * dpr;
    ctx.strokeStyle = "rgba(0,0,0,0.8)";
    ctx.strokeRect(x, y, w, h);
    ctx.lineWidth = (sel ? 2 : 1.5) * dpr;
    ctx.strokeStyle = sel ? "#ffd400" : "#ffffff";
    ctx.strokeRect(x, y, w, h);
    const share = editor.shares.get(a.name);
    const label = share ? `${a.name} ${editor.shareText(share)}` : a.name;
    const tw = ctx.measureText(label).width + 8 * dpr;
    ctx.fillStyle = sel ? "#ffd400" : "rgba(0,0,0,0.75)";
    ctx.fillRect(x, Math.max(0, y - 18 * dpr), tw, 18 * dpr);
    ctx.fillStyle = sel ? "#000" : "#fff";
    ctx.fillText(label, x + 4 * dpr, Math.max(0, y - 18 * dpr) + 13 * dpr);
    if (sel) {
      for (const [, hx, hy] of editor.handles(a)) {
        ctx.fillStyle = "#ffd400";
        ctx.strokeStyle = "#000";
        ctx.lineWidth = dpr;
        ctx.fillRect(hx * s - handle * dpr, hy * s - handle * dpr, 2 * handle * dpr, 2 * handle * dpr);
        ctx.strokeRect(hx * s - handle * dpr, hy * s - handle * dpr, 2 * handle * dpr, 2 * handle * dpr);
      }
    }
  });
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
}
