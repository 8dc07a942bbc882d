// Loads Plotly.js once per page: a promise of window.Plotly, from `src` (the plotly Python package's own copy,
// served by Streamlit). Defined by whichever runs first: chart.preload()'s inline script, which the page renders as
// soon as its run starts, or the chart component (dashboard/chart.js), which is loaded later.
window.__llmLandscapePlotlyLoad = window.__llmLandscapePlotlyLoad || ((src) => {
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
});
