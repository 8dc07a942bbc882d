// One Plotly chart that stays in the page across reruns: a new figure is drawn over the old one with
// Plotly.react (one drawing, at the column's width), instead of the chart being unmounted and drawn twice.
// Plotly.js comes from the plotly Python package the figures were built with (data.src), loaded once per page
// (dashboard/plotly_loader.js; chart.preload() starts it early).

const plotly = (src) => window.__llmLandscapePlotlyLoad(src); // dashboard/plotly_loader.js, prepended

// The trace types of plotly.js's cartesian bundle (data.light); a figure with any other (3D) needs the full one.
const LIGHT_TYPES = new Set(["bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
  "image", "pie", "scatter", "scatterternary", "violin"]);
// A 3D figure takes the full bundle; a chart keeps the bundle it was drawn with while it can; a new 2D chart takes
// the full bundle if the page has asked for it already (no second bundle to load), else the cartesian one.
const bundleFor = (fig, data, gd) => {
  const traces = [...fig.data, ...(fig.frames || []).flatMap((f) => f.data || [])];
  const lightOk = data.light && !fig.layout.scene && traces.every((t) => LIGHT_TYPES.has(t.type || "scatter"));
  if (!lightOk) return data.src;
  if (gd.__llmSrc) return gd.__llmSrc;
  return (window.__llmLandscapePlotlyAsked || new Set()).has(data.src) ? data.src : data.light;
};

// The app's theme (Streamlit's --st-* properties) as a template under the figure's own settings: the sizes and
// placements of Streamlit's own Plotly theme (titles left and bold, legend titles above their items, grey ticks).
function themed(template, element) {
  const css = getComputedStyle(element);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const ink = v("--st-text-color", "#31333F");
  const faded = v("--st-gray-text-color", ink);
  const grid = v("--st-border-color-light", "rgba(128,128,128,0.2)");
  const font = v("--st-font", "sans-serif");
  const t = JSON.parse(JSON.stringify(template || {}));
  const L = (t.layout = t.layout || {});
  L.paper_bgcolor = "rgba(0,0,0,0)";
  L.plot_bgcolor = "rgba(0,0,0,0)";
  L.font = { ...(L.font || {}), color: ink, family: font, size: 12 };
  L.title = { font: { family: v("--st-heading-font", font), size: 16, color: v("--st-heading-color", ink), weight: 600 },
              x: 0, xanchor: "left", pad: { l: 2 } };
  L.legend = { title: { font: { size: 12, color: faded }, side: "top" }, valign: "top", font: { size: 12 } };
  L.hoverlabel = { font: { family: font, size: 12 } };
  const axis = (a, standoff) => ({ ...(a || {}), automargin: true, gridcolor: grid, zerolinecolor: grid, linecolor: grid,
    tickcolor: grid, tickfont: { color: faded, size: 12 }, title: { font: { color: faded, size: 14 }, standoff } });
  L.xaxis = axis(L.xaxis, 16);
  L.yaxis = axis(L.yaxis, 24);
  L.scene = { ...(L.scene || {}) };
  for (const k of ["xaxis", "yaxis", "zaxis"]) L.scene[k] = { ...axis(L.scene[k], 8), backgroundcolor: "rgba(0,0,0,0)" };
  return t;
}

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
// a chart fitted to the window (presenter mode, a projector): no toolbar over its legend
const configFor = (gd) => (gd.__llmFit ? { ...CONFIG, displayModeBar: false } : CONFIG);

// Layered 2D charts. Traces marked meta "base" (a map's reference states: the same for every prompt) are drawn once
// in a chart underneath, and a new figure with the same base redraws only the chart on top (path, stars, labels,
// regions, axes, legend), which costs a fraction: Plotly redraws every trace of a chart on any change, and in
// software rendering 1,500 reference points are most of a map's redrawing. The top chart shows the base traces'
// legend entries (legend clicks reach the base), forwards hovering away from its own points to the base, and the
// base follows its plot area (margins, ranges: zoom, pan and resize). Only for figures with explicit axis ranges.
const isBase = (t) => t.meta === "base";
const layered = (fig) =>
  !fig.layout.scene && !(fig.frames || []).length && fig.data.some(isBase) && fig.layout.xaxis?.range &&
  fig.layout.yaxis?.range;
const BASE_CONFIG = { displayModeBar: false, responsive: false, scrollZoom: false, staticPlot: false };

function topData(fig) {
  return fig.data.map((t) => isBase(t)
    ? { type: "scatter", mode: "markers", x: [null], y: [null], name: t.name, legendgroup: t.legendgroup,
        legendgrouptitle: t.legendgrouptitle, showlegend: t.showlegend, marker: t.marker, visible: t.visible,
        hoverinfo: "skip", meta: "legend" }
    : t);
}

function baseLayer(gd) {
  if (!document.getElementById("llm-chart-base-style")) {
    const style = document.createElement("style");
    style.id = "llm-chart-base-style";
    style.textContent = ".llm-chart-base, .llm-chart-base * { pointer-events: none !important; }";
    document.head.appendChild(style);
  }
  let base = gd.parentElement.querySelector(":scope > .llm-chart-base");
  if (!base) {
    base = document.createElement("div");
    base.className = "llm-chart-base";
    base.style.cssText = "position:absolute;left:0;top:0;width:100%;z-index:0";
    gd.parentElement.appendChild(base);  // after the top chart: it stays the page's first chart of this key
  }
  base.style.top = `${gd.offsetTop}px`;
  return base;
}

function geometry(gd) {
  const L = gd._fullLayout;
  const s = L._size;
  return { width: L.width, height: L.height, margin: { l: s.l, r: s.r, t: s.t, b: s.b, pad: 0, autoexpand: false },
           x: L.xaxis.range.slice(), y: L.yaxis.range.slice() };
}

// Draw (or follow) the base under gd: only when its traces or gd's plot area changed.
function syncBase(P, gd) {
  const state = gd.__llmBase;
  if (!state || !gd._fullLayout || !gd._fullLayout._size) return undefined;
  const g = geometry(gd);
  const key = `${state.key}|${JSON.stringify(g)}`;
  const visible = state.indices.map((i) => gd.data[i].visible ?? true);
  if (key === state.drawn) return syncVisible(P, state, visible);
  state.drawn = key;
  const layout = { width: g.width, height: g.height, autosize: false, margin: g.margin, showlegend: false,
    hovermode: "closest", dragmode: false, template: state.template, paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)", xaxis: { range: g.x, visible: false, fixedrange: true, automargin: false },
    yaxis: { range: g.y, visible: false, fixedrange: true, automargin: false } };
  const data = state.traces.map((t, i) => ({ ...t, visible: visible[i] }));
  state.visible = visible;
  return P.react(state.el, { data, layout, config: BASE_CONFIG });
}

function syncVisible(P, state, visible) {
  const changed = visible.map((v, i) => (v !== state.visible[i] ? i : -1)).filter((i) => i >= 0);
  state.visible = visible;
  if (!changed.length) return undefined;
  return P.restyle(state.el, { visible: changed.map((i) => visible[i]) }, changed);
}

// The top chart's handlers for its base: Plotly's (bound again when another bundle draws the chart) and the page's
// (bound once per chart; they use the bundle that draws it now).
function forwardHover(P, gd) {
  gd.on("plotly_hover", () => { if (gd.__llmBase) P.Fx.unhover(gd.__llmBase.el); });
  gd.on("plotly_relayout", () => syncBase(P, gd));
  gd.on("plotly_restyle", () => syncBase(P, gd));
  if (gd.__llmPointer) return;
  gd.__llmPointer = true;
  const onTop = () => gd.querySelector(".hoverlayer .hovertext") !== null; // the top chart names a point of its own
  gd.addEventListener("mousemove", (e) => {
    const state = gd.__llmBase;
    const lib = gd.__llmLib;
    if (!state || !state.drawn || !lib) return;
    if (onTop()) {
      lib.Fx.unhover(state.el);
      return;
    }
    const s = gd._fullLayout._size;
    const r = gd.getBoundingClientRect();
    const xpx = e.clientX - r.left - s.l;
    const ypx = e.clientY - r.top - s.t;
    if (xpx < 0 || ypx < 0 || xpx > s.w || ypx > s.h) lib.Fx.unhover(state.el);
    else lib.Fx.hover(state.el, { xpx, ypx }, "xy");
  });
  gd.addEventListener("mouseleave", () => {
    if (gd.__llmBase && gd.__llmLib) gd.__llmLib.Fx.unhover(gd.__llmBase.el);
  });
}

function dropBase(P, gd) {
  if (!gd.__llmBase) return;
  P.purge(gd.__llmBase.el);
  gd.__llmBase.el.remove();
  gd.__llmBase = undefined;
}

// While an animation plays its word labels are hidden (declutter, dashboard/chart_labels.js: prepended).
if (!document.getElementById("llm-chart-style")) {
  const style = document.createElement("style");
  style.id = "llm-chart-style";
  style.textContent = ".llm-chart.llm-animating .textpoint { display: none; }";
  document.head.appendChild(style);
}

// An animation (frames) moves the points without drawing the chart again, and Plotly shows every label of each
// frame: the labels are hidden while it plays and thinned out once it has stopped *and* its last frame has finished
// moving. Plotly says the animation is over (plotly_animated) when the last frame's time is up, which on a busy
// machine comes before that frame's transition has put the points in place (plotly_transitioned): thinning out
// then measured labels still on their way. Each thinning-out after an animation counts in data-settled.
// Bound at a chart's first drawing (again after a purge, which drops Plotly's handlers and any animation).
function watchAnimation(gd) {
  const anim = { playing: false, moving: false, pending: false };
  gd.classList.remove("llm-animating");
  const settle = () => {
    if (anim.playing || anim.moving || !anim.pending) return;
    anim.pending = false;
    gd.classList.remove("llm-animating");
    declutter(gd);
    gd.dataset.settled = String(Number(gd.dataset.settled || 0) + 1);
  };
  const playing = () => {
    anim.playing = anim.pending = true;
    if ((gd.data || []).some((t) => t.meta === "declutter")) gd.classList.add("llm-animating");
  };
  gd.on("plotly_animating", playing);
  gd.on("plotly_animatingframe", playing);
  gd.on("plotly_transitioning", () => { anim.moving = true; });
  for (const stop of ["plotly_animated", "plotly_animationinterrupted"]) {
    gd.on(stop, () => { anim.playing = false; settle(); });
  }
  for (const still of ["plotly_transitioned", "plotly_transitioninterrupted"]) {
    gd.on(still, () => { anim.moving = false; settle(); });
  }
}

// Traces that are the same as at the chart's last drawing (the same JSON at the same place) are handed to Plotly as
// the objects it drew then: Plotly.react compares a trace's arrays by identity, so only the traces that changed are
// recalculated, and a figure whose traces all stayed (a step move on the sub-context bars, where only the step's
// frame moves) is redrawn without recalculating any.
function keepDrawn(gd, data) {
  const json = data.map((t) => JSON.stringify(t));
  const old = gd.__llmDrawn || { json: [], data: [] };
  const out = data.map((t, i) => (json[i] === old.json[i] ? old.data[i] : t));
  gd.__llmDrawn = { json, data: out };
  return out;
}

function draw(P, gd, fig, layout) {
  if (!layered(fig)) {
    dropBase(P, gd);
    return P.react(gd, { data: keepDrawn(gd, fig.data), layout, frames: fig.frames || [], config: configFor(gd) });
  }
  const traces = fig.data.filter(isBase);
  const indices = fig.data.map((t, i) => (isBase(t) ? i : -1)).filter((i) => i >= 0);
  const el = gd.__llmBase ? gd.__llmBase.el : baseLayer(gd);
  const key = JSON.stringify(traces);
  const old = gd.__llmBase;
  gd.__llmBase = { el, traces, indices, key, template: layout.template,
                   drawn: old && old.key === key ? old.drawn : undefined, visible: old ? old.visible : [] };
  return P.react(gd, { data: keepDrawn(gd, topData(fig)), layout, frames: fig.frames || [], config: configFor(gd) })
    .then(() => { el.style.top = `${gd.offsetTop}px`; return syncBase(P, gd); });
}

// The height of a chart that fills the window below its top (fit: {below, min, max} pixels; chart.py's `fit`), measured
// from the top of the scrolled page, so the chart fits the first screen whatever stands above it.
function fittedHeight(gd, fit) {
  let top = gd.getBoundingClientRect().top;
  for (let el = gd.parentElement; el; el = el.parentElement) top += el.scrollTop || 0;
  return Math.round(Math.max(fit.min, Math.min(fit.max, window.innerHeight - top - fit.below)));
}

// A 3D chart whose layout asks for it (meta.scene_aspect: the scene's width over its height, its axes included) is
// drawn less tall where its plot area is narrower than that: Plotly's perspective spans the scene's height whatever
// its width, so in a narrow column the scene ran past both sides. Never taller than the figure's own height.
function fitScene(P, gd) {
  const aspect = gd.layout && gd.layout.meta && gd.layout.meta.scene_aspect;
  const L = gd._fullLayout;
  if (!aspect || !L || !L._size || !gd.isConnected) return undefined;
  const full = gd.__llmFullHeight || L.height;
  const height = Math.round(Math.min(full, L.height - L._size.h + L._size.w / aspect));
  if (Math.abs(height - L.height) < 2) return undefined;
  gd.style.height = `${height}px`;
  return P.relayout(gd, { height }).catch(() => undefined);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let gd = parentElement.querySelector(":scope > .llm-chart");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "llm-chart";
    gd.setAttribute("data-testid", "llmChart");
    gd.style.cssText = "width:100%;position:relative;z-index:1";
    parentElement.style.position = "relative";
    parentElement.appendChild(gd);
  }
  const fig = typeof data.figure === "string" ? JSON.parse(data.figure) : data.figure; // chart.py sends JSON text
  const layout = { ...fig.layout, autosize: true, template: themed(fig.layout.template, parentElement) };
  delete layout.width;
  gd.__llmFit = data.fit;
  if (data.fit) layout.height = fittedHeight(gd, data.fit);
  gd.__llmFullHeight = layout.height;
  gd.style.height = `${layout.height || 450}px`;
  const seq = (gd.__llmSeq = (gd.__llmSeq || 0) + 1);
  const src = bundleFor(fig, data, gd);
  plotly(src)
    .then((P) => {
      if (seq !== gd.__llmSeq) return undefined; // a newer figure has arrived: draw that one
      if (gd.__llmLib && gd.__llmLib !== P) { // drawn by the other bundle (2D <-> 3D): start again with this one
        dropBase(gd.__llmLib, gd);
        gd.__llmLib.purge(gd); // and its event handlers
        gd.__llmLib = gd.__llmDrawn = undefined;
      }
      const first = !gd.__llmLib;
      gd.__llmLib = P;
      gd.__llmSrc = src;
      gd.__llmPlaced = false;
      return draw(P, gd, fig, layout).then(() => {
        if (first) {
          forwardHover(P, gd);
          gd.on("plotly_afterplot", () => { declutter(gd); separateMapLabels(gd); gd.__llmPlaced = true; });
          watchAnimation(gd);
        }
        // labels are thinned out and moved apart after every drawing (plotly_afterplot), here only where this one
        // did not say so (a first drawing, before its handler was bound; a change Plotly drew without a full plot):
        // each pass measures every label on screen, which makes the browser lay the page out again
        if (!gd.__llmPlaced) {
          declutter(gd);
          separateMapLabels(gd);
        }
        if (first && data.clickable) {
          gd.on("plotly_click", (ev) => {
            const p = ev.points[0];
            setTriggerValue("click", { x: p.x, y: p.y, curve: p.curveNumber, customdata: p.customdata ?? null });
          });
        }
        return fitScene(P, gd);
      }).then(() => {
        if (seq === gd.__llmSeq) gd.dataset.drawn = String(seq);
      });
    })
    .catch((err) => {
      gd.textContent = String(err);
    });
  if (!gd.__llmObserver && window.ResizeObserver) {
    gd.__llmObserver = new ResizeObserver(() => {
      // not once the chart has left the page (a scene or page change): Plotly refuses an undisplayed chart
      if (gd.__llmLib && gd.data && gd.isConnected) {
        const P = gd.__llmLib;
        P.Plots.resize(gd).then(() => fitScene(P, gd)).catch(() => undefined);
      }
    });
    gd.__llmObserver.observe(gd);
  }
  if (!gd.__llmOnWindow) { // a chart that fits the window follows its height, and its own top: what stands above
    gd.__llmOnWindow = () => { // it may change after it is drawn (a takeaway wrapping once its font has loaded)
      if (!gd.__llmFit || !gd.__llmLib || !gd.data || !gd.isConnected) return;
      const height = fittedHeight(gd, gd.__llmFit);
      if (Math.abs(height - gd.offsetHeight) < 2) return; // its own redraw changes the page's height too: no loop
      gd.style.height = `${height}px`;
      gd.__llmLib.relayout(gd, { height }).catch(() => undefined);
    };
    window.addEventListener("resize", gd.__llmOnWindow);
    if (window.ResizeObserver) {
      gd.__llmOnPage = new ResizeObserver(() => gd.__llmOnWindow && gd.__llmOnWindow());
      // the page's content block (Streamlit scrolls inside a window-high body, whose own size never changes)
      gd.__llmOnPage.observe(document.querySelector('[data-testid="stMainBlockContainer"]') || document.body);
    }
  }
  // Streamlit keeps the last call's clean-up for the unmount; an older call's (cancelled) clean-up does nothing
  return () => {
    if (seq !== gd.__llmSeq) return;
    if (gd.__llmObserver) gd.__llmObserver.disconnect();
    gd.__llmObserver = undefined;
    window.removeEventListener("resize", gd.__llmOnWindow);
    gd.__llmOnWindow = undefined;
    if (gd.__llmOnPage) gd.__llmOnPage.disconnect();
    gd.__llmOnPage = undefined;
    if (gd.__llmLib) {
      dropBase(gd.__llmLib, gd);
      gd.__llmLib.purge(gd);
    }
    gd.__llmLib = gd.__llmSrc = gd.__llmDrawn = undefined; // drawn again: a first drawing (its handlers are gone)
  };
}
