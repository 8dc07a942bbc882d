// The browser side of llmnotebook's widgets (an anywidget ES module): draws the figure the kernel sends with
// Plotly.react in the notebook's own colours, and sends back the theme, box/lasso selections and clicks.
// Plotly.js is asked of the kernel once per page (the plotly package's own bundle, sent as a buffer): no CDN, and
// the notebook's saved widget state keeps only figures. A view with `steps` (Watch training) also gets a slider
// over them, with play, that sets its `snapshot`. Labels are thinned out and moved apart after every drawing as the
// dashboard's charts do: declutter and separateMapLabels come from dashboard/chart_labels.js, prepended (widget.py).

const PLOTLY_KEY = "__llmLandscapePlotly";

function loadPlotly(model) {
  if (!globalThis[PLOTLY_KEY]) {
    globalThis[PLOTLY_KEY] = new Promise((resolve, reject) => {
      const onMessage = async (msg, buffers) => {
        if (!msg || msg.type !== "plotly") return;
        model.off("msg:custom", onMessage);
        // the bundle is UMD: given a `module` it exports Plotly there and leaves the page's globals alone
        const src = `const module = { exports: {} };\n${new TextDecoder().decode(buffers[0])}\n` +
          "export default module.exports;";
        const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
        try {
          resolve((await import(url)).default);
        } catch (e) {
          globalThis[PLOTLY_KEY] = null;
          reject(e);
        } finally {
          URL.revokeObjectURL(url);
        }
      };
      model.on("msg:custom", onMessage);
      model.send({ type: "plotly?" });
    });
  }
  return globalThis[PLOTLY_KEY];
}

// The notebook's theme from the colour of its text: light text is a dark theme (JupyterLab, Notebook 7, VS Code
// and Colab all set it on the output area), as the dashboard reads Streamlit's theme.
function colours(el) {
  const css = getComputedStyle(el);
  const [r, g, b] = (css.color.match(/[\d.]+/g) || [0, 0, 0]).map(Number);
  const dark = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 > 0.5;
  return { theme: dark ? "dark" : "light", ink: css.color, family: css.fontFamily || "sans-serif" };
}

// The figure's layout over a template in those colours, with the sizes and placements dashboard/chart.js gives
// Streamlit's theme (titles left and bold, grey grid and ticks, axes that make room for their labels).
function themed(layout, c) {
  const grid = "rgba(128,128,128,0.25)", faded = "rgba(128,128,128,1)";
  const axis = (standoff) => ({ automargin: true, gridcolor: grid, zerolinecolor: grid, linecolor: grid,
    tickcolor: grid, tickfont: { color: faded, size: 12 }, title: { font: { color: faded, size: 14 }, standoff } });
  const template = {
    layout: {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: c.ink, family: c.family, size: 12 },
      title: { font: { size: 16, color: c.ink, weight: 600 }, x: 0, xanchor: "left", pad: { l: 2 } },
      legend: { title: { font: { size: 12, color: faded }, side: "top" }, valign: "top", font: { size: 12 } },
      xaxis: axis(16), yaxis: axis(24),
      scene: { xaxis: axis(8), yaxis: axis(8), zaxis: axis(8) },
    },
  };
  return { ...layout, template, autosize: true, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" };
}

// What Python needs of a selected or clicked point: its trace, its index there and the trace's name.
const pointsOf = (event) =>
  (event && event.points ? event.points : []).map((p) => ({
    curve: p.curveNumber, index: p.pointNumber ?? p.pointIndex ?? null, name: (p.data && p.data.name) || "",
    meta: (p.data && p.data.meta) || null, x: p.x ?? null, y: p.y ?? null, customdata: p.customdata ?? null,
  }));

// The slider over a view's `steps` (two or more) above its figure: moving it, or playing (one step a second, from
// the first after the last), sets `snapshot`; a `snapshot` set in Python moves it. Returns its clean-up.
function stepSlider(model, el) {
  const steps = model.get("steps");
  if (!Array.isArray(steps) || steps.length < 2) return () => {};
  const row = document.createElement("div");
  row.className = "llm-notebook-slider";
  row.style.cssText = "display:flex;align-items:center;gap:0.75em;margin:0.25em 0 0.5em;color:inherit";
  const play = document.createElement("button");
  const input = Object.assign(document.createElement("input"), { type: "range", min: 0, max: steps.length - 1,
    step: 1 });
  input.setAttribute("aria-label", "Training step");
  input.style.flex = "1";
  const label = document.createElement("label");
  const value = document.createElement("output");
  label.append("Training step ", value);
  row.append(play, input, label);
  el.appendChild(row);
  let timer = null;
  const send = (step) => {
    model.set("snapshot", step);
    model.save_changes();
  };
  const show = () => {
    const i = Math.max(steps.indexOf(model.get("snapshot")), 0);
    input.value = String(i);
    value.textContent = String(steps[i]);
    play.textContent = timer ? "❚❚ pause" : "▶ play";
  };
  const stop = () => {
    clearInterval(timer);
    timer = null;
    show();
  };
  input.addEventListener("input", () => { value.textContent = String(steps[Number(input.value)]); });
  input.addEventListener("change", () => send(steps[Number(input.value)]));
  play.addEventListener("click", () => {
    if (timer) return stop();
    if (model.get("snapshot") === steps[steps.length - 1]) send(steps[0]);
    timer = setInterval(() => {
      const i = steps.indexOf(model.get("snapshot"));
      if (i + 1 < steps.length) send(steps[i + 1]);
      if (i + 2 >= steps.length) stop();
    }, 1000);
    show();
  });
  model.on("change:snapshot", show);
  show();
  return () => {
    clearInterval(timer);
    model.off("change:snapshot", show);
  };
}

async function render({ model, el }) {
  const unslide = stepSlider(model, el);
  const gd = document.createElement("div");
  gd.className = "llm-notebook-figure";
  gd.dataset.drawn = "0";
  el.appendChild(gd);
  let Plotly;
  try {
    Plotly = await loadPlotly(model);
  } catch (e) {
    gd.textContent = `The figure could not be drawn: Plotly.js did not load (${e}).`;
    return;
  }
  const c = colours(el);
  if (model.get("theme") !== c.theme) {
    model.set("theme", c.theme);
    model.save_changes();
  }

  // Reference states (traces marked "base", the same for every prompt on a map) are handed to Plotly as the very
  // objects it drew last time, by uid: it then skips their recalculation, half of a new prompt's redraw.
  const drawnBase = new Map();
  let placed = false; // this drawing's labels placed (on plotly_afterplot, which a drawing without a full plot skips)
  const placeLabels = () => {
    declutter(gd);
    separateMapLabels(gd);
    placed = true;
  };
  async function draw() {
    const text = model.get("figure");
    if (!text) return;
    const fig = JSON.parse(text);
    fig.data = fig.data.map((t) => (t.meta === "base" && t.uid && drawnBase.get(t.uid)) || t);
    drawnBase.clear();
    for (const t of fig.data) if (t.meta === "base" && t.uid) drawnBase.set(t.uid, t);
    const layout = themed(fig.layout, colours(el));
    // a box or lasso still chosen in the kernel (a new step, a new theme) stays drawn; the kernel empties its
    // selection before a figure whose points moved (a new prompt, depth, map or reading)
    const kept = gd.layout && gd.layout.selections;
    if (kept && kept.length && model.get("selected").length) layout.selections = kept;
    placed = false;
    await Plotly.react(gd, fig.data, layout, { displaylogo: false, responsive: true, scrollZoom: false });
    if (!placed) placeLabels();
    gd.dataset.drawn = String(Number(gd.dataset.drawn) + 1);
    gd.dataset.drawnAt = String(Date.now());  // the wall clock: bench/bench_notebook.py compares it with the kernel's
  }
  await draw();
  gd.on("plotly_afterplot", placeLabels); // zoom, pan and resize too: zooming in on a cluster names more words
  model.on("change:figure", draw);
  // Plotly shows every label again when it marks the points chosen: they are thinned out again
  gd.on("plotly_selected", (event) => {
    placeLabels();
    model.set("selected", pointsOf(event));
    model.save_changes();
  });
  gd.on("plotly_deselect", () => {
    placeLabels();
    model.set("selected", []);
    model.save_changes();
  });
  gd.on("plotly_click", (event) => {
    model.set("clicked", { ...(pointsOf(event)[0] || {}), n: (model.get("clicked").n || 0) + 1 });
    model.save_changes();
  });
  // a theme switched later (JupyterLab's menu, VS Code's colour theme) redraws in the new colours at once (a figure
  // drawn in the theme's ink, such as a path over a map, is then sent again by the kernel)
  const watch = new MutationObserver(() => {
    const now = colours(el);
    if (now.theme !== model.get("theme")) {
      model.set("theme", now.theme);
      model.save_changes();
      draw();
    }
  });
  watch.observe(document.body, { attributes: true, attributeFilter: ["class", "data-jp-theme-light"] });
  return () => {
    unslide();
    watch.disconnect();
    model.off("change:figure", draw);
    Plotly.purge(gd);
  };
}

export default { render };
