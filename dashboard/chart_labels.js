// Where a chart's labels go in the browser, shared by the dashboard's charts (dashboard/chart.js) and the notebook's
// widgets (llmnotebook/widget.js): both prepend this file. Each function runs after a drawing and returns how many
// labels it hid or moved.

// Word labels that would print over one another are hidden: the text of every trace marked meta "declutter" (the
// word maps' labels). Bigger labels (the selected words) are kept first, then the others in trace order, each only if
// it overlaps none kept before. It runs after every drawing (zoom, pan and resize included), so zooming in on a
// cluster names more of its words (chart.js hides them while an animation plays). Hovering names every point.
const CELL = 64; // px: kept labels are looked up in a grid of cells of this size
function declutter(gd) {
  const texts = [];
  for (const g of gd.querySelectorAll(".scatterlayer .trace")) {
    const trace = g.__data__ && g.__data__[0] && g.__data__[0].trace;
    if (trace && trace.meta === "declutter") texts.push(...g.querySelectorAll(".textpoint text"));
  }
  if (!texts.length) return 0;
  for (const t of texts) t.style.display = "";
  const items = texts.map((t, i) => ({ t, i, r: t.getBoundingClientRect(), size: parseFloat(t.style.fontSize) || 0 }));
  items.sort((a, b) => b.size - a.size || a.i - b.i);
  const grid = new Map();
  const cells = (r, visit) => {
    for (let x = Math.floor(r.left / CELL); x <= Math.floor(r.right / CELL); x += 1) {
      for (let y = Math.floor(r.top / CELL); y <= Math.floor(r.bottom / CELL); y += 1) {
        if (visit(`${x},${y}`) === false) return false;
      }
    }
    return true;
  };
  const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  let hidden = 0;
  for (const { t, r } of items) {
    if (!r.width) continue; // no text at this point
    const free = cells(r, (key) => !(grid.get(key) || []).some((o) => meets(r, o)));
    if (!free) {
      t.style.display = "none";
      hidden += 1;
      continue;
    }
    cells(r, (key) => { grid.set(key, [...(grid.get(key) || []), r]); });
  }
  gd.dataset.hiddenLabels = String(hidden);
  return hidden;
}

// A map's labels (annotations named "step", "star", "depth" and "region": figures._labels_2d) are placed by the
// server on an estimate of the chart's size. Here, after every drawing, each one the browser finds over a label kept
// before it (in order: steps, stars, depths, then regions; a region's name also over a marker of the path, traces
// marked meta "path") moves to the nearest free place on a grid around it (half
// its width across, a line up or down: a step's, star's or depth's at most one width and two lines, a region's
// further), inside the plot area; a star's or depth's label with no free place is hidden (hovering names its point).
// Nothing moves on a chart without region or step labels.
const MAP_LABELS = ["step", "star", "depth", "region"];
function separateMapLabels(gd) {
  const L = gd._fullLayout;
  if (!L || !(L.annotations || []).some((a) => a.name === "region" || a.name === "step")) return 0;
  const notes = [...gd.querySelectorAll(".infolayer .annotation")];
  const kind = (n) => (L.annotations[+n.getAttribute("data-index")] || {}).name;
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { l: r.left, t: r.top, r: r.right, b: r.bottom };
  };
  const meets = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
  for (const n of notes) { n.removeAttribute("transform"); n.style.display = ""; }
  const kept = [...gd.querySelectorAll(".scatterlayer .textpoint text")].map(box).filter((b) => b.r > b.l);
  // the path's markers (traces marked meta "path"): a region's name is never put over a step
  const markers = [...gd.querySelectorAll(".scatterlayer .trace")]
    .filter((g) => g.__data__ && g.__data__[0] && g.__data__[0].trace.meta === "path")
    .flatMap((g) => [...g.querySelectorAll(".point")].map(box)).filter((b) => b.r > b.l);
  const area = box(gd.querySelector(".nsewdrag") || gd);
  const order = MAP_LABELS.flatMap((k) => notes.filter((n) => kind(n) === k));
  let moved = 0;
  for (const n of order) {
    const b = box(n.querySelector(".cursor-pointer") || n);
    const w = b.r - b.l, h = b.b - b.t;
    if (!w) continue; // an annotation outside the axes' ranges: Plotly draws no text
    const region = kind(n) === "region";
    const free = (dx, dy) => {
      const c = { l: b.l + dx, t: b.t + dy, r: b.r + dx, b: b.b + dy };
      const inside = c.l >= area.l && c.r <= area.r && c.t >= area.t && c.b <= area.b;
      const clear = !kept.some((k) => meets(c, k)) && !(region && markers.some((k) => meets(c, k)));
      return (inside || (!dx && !dy)) && clear ? c : null;
    };
    let place = free(0, 0);
    if (!place) {
      const [across, lines] = region ? [4, 6] : [2, 2];
      const steps = [];
      for (let i = -across; i <= across; i += 1) {
        for (let j = -lines; j <= lines; j += 1) steps.push([i * w / 2, j * (h + 2)]);
      }
      steps.sort((p, q) => Math.hypot(...p) - Math.hypot(...q) || p[1] - q[1]);
      for (const [dx, dy] of steps) {
        place = free(dx, dy);
        if (place) { n.setAttribute("transform", `translate(${dx},${dy})`); moved += 1; break; }
      }
    }
    if (!place && (kind(n) === "star" || kind(n) === "depth")) { n.style.display = "none"; continue; }
    kept.push(place || b);
  }
  gd.dataset.movedLabels = String(moved);
  gd.dataset.leaders = String(drawLeaders(gd, order.filter((n) => kind(n) !== "region" && n.style.display !== "none")));
  return moved;
}

// A thin line from a step's, star's or depth's marker to its label wherever the label sits more than LEADER_GAP px
// beyond the marker's edge (MARKER_RADIUS from its point; placed aside by the server or moved here), so that a label
// is never read as another point's. The lines lie under every label, in a group of their own that each drawing
// replaces. Returns how many it drew.
const LEADER_GAP = 6, MARKER_RADIUS = 8;
function drawLeaders(gd, notes) {
  const L = gd._fullLayout, svg = gd.querySelector(".main-svg"), info = gd.querySelector(".infolayer");
  for (const old of gd.querySelectorAll("g.llm-leaders")) old.remove();
  if (!svg || !info || !L.xaxis || !L.yaxis) return 0;
  const NS = "http://www.w3.org/2000/svg", g = document.createElementNS(NS, "g"), s = svg.getBoundingClientRect();
  g.setAttribute("class", "llm-leaders");
  let drawn = 0;
  for (const n of notes) {
    const a = L.annotations[+n.getAttribute("data-index")];
    if (!a || a.xref !== "x" || a.yref !== "y") continue;
    const px = L.xaxis._offset + L.xaxis.l2p(a.x), py = L.yaxis._offset + L.yaxis.l2p(a.y);
    const r = (n.querySelector(".cursor-pointer") || n).getBoundingClientRect();
    if (!r.width) continue;
    const l = r.left - s.left, t = r.top - s.top, R = r.right - s.left, B = r.bottom - s.top;
    const ex = Math.min(Math.max(px, l), R), ey = Math.min(Math.max(py, t), B); // the box's nearest point
    const d = Math.hypot(ex - px, ey - py);
    if (d <= MARKER_RADIUS + LEADER_GAP) continue;
    const [sx, sy] = [px + (ex - px) * MARKER_RADIUS / d, py + (ey - py) * MARKER_RADIUS / d];
    const line = document.createElementNS(NS, "line");
    for (const [k, v] of [["x1", sx], ["y1", sy], ["x2", ex], ["y2", ey]]) line.setAttribute(k, v.toFixed(1));
    line.setAttribute("stroke", (a.font && a.font.color) || "#444");
    line.setAttribute("stroke-width", "1");
    line.setAttribute("stroke-opacity", "0.7");
    line.setAttribute("data-index", n.getAttribute("data-index"));
    g.appendChild(line);
    drawn += 1;
  }
  info.insertBefore(g, info.firstChild);
  return drawn;
}
