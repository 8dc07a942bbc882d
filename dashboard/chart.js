// One Plotly chart that stays in the page across reruns: a new figure is drawn over the old one with
// Plotly.react (one drawing, at the column's width), instead of the chart being unmounted and drawn twice.
// Plotly.js comes from the plotly Python package the figures were built with (data.src), loaded once per page.

function plotly(src) {
  if (!window.__llmLandscapePlotly) {
    window.__llmLandscapePlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__llmLandscapePlotly = undefined;
        reject(new Error(`could not load Plotly from ${src}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.__llmLandscapePlotly;
}

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

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data.figure) {
    // chart.preload(): only start loading Plotly.js
    plotly(data.src).catch(() => {});
    return undefined;
  }
  let gd = parentElement.querySelector(":scope > .llm-chart");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "llm-chart";
    gd.setAttribute("data-testid", "llmChart");
    gd.style.width = "100%";
    parentElement.appendChild(gd);
  }
  const fig = data.figure;
  const layout = { ...fig.layout, autosize: true, template: themed(fig.layout.template, parentElement) };
  delete layout.width;
  gd.style.height = `${layout.height || 450}px`;
  const seq = (gd.__llmSeq = (gd.__llmSeq || 0) + 1);
  plotly(data.src)
    .then((P) => {
      if (seq !== gd.__llmSeq) return undefined; // a newer figure has arrived: draw that one
      const first = !gd.__llmLib;
      gd.__llmLib = P;
      return P.react(gd, { data: fig.data, layout, frames: fig.frames || [], config: CONFIG }).then(() => {
        if (first && data.clickable) {
          gd.on("plotly_click", (ev) => {
            const p = ev.points[0];
            setTriggerValue("click", { x: p.x, y: p.y, curve: p.curveNumber, customdata: p.customdata ?? null });
          });
        }
        gd.dataset.drawn = String(seq);
      });
    })
    .catch((err) => {
      gd.textContent = String(err);
    });
  if (!gd.__llmObserver && window.ResizeObserver) {
    gd.__llmObserver = new ResizeObserver(() => {
      if (gd.__llmLib && gd.data) gd.__llmLib.Plots.resize(gd);
    });
    gd.__llmObserver.observe(gd);
  }
  // Streamlit keeps the last call's clean-up for the unmount; an older call's (cancelled) clean-up does nothing
  return () => {
    if (seq !== gd.__llmSeq) return;
    if (gd.__llmObserver) gd.__llmObserver.disconnect();
    gd.__llmObserver = undefined;
    if (gd.__llmLib) gd.__llmLib.purge(gd);
  };
}
