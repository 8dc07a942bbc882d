// Loads a Plotly.js bundle once per page: a promise of its Plotly object, by `src` (dashboard/chart.py serves the
// plotly Python package's full bundle and plotly.js's cartesian bundle). Defined by whichever runs first:
// chart.preload()'s inline script, which the page renders as soon as its run starts, or the chart component
// (dashboard/chart.js), which is loaded later. A bundle sets window.Plotly as it runs, so bundles are loaded one
// after the other: each promise holds its own bundle's Plotly.
window.__llmLandscapePlotlyLoad = window.__llmLandscapePlotlyLoad || (() => {
  const loaded = {}; // src -> promise of that bundle's Plotly
  const asked = (window.__llmLandscapePlotlyAsked = new Set()); // the bundles asked for: chart.js prefers those
  let queue = Promise.resolve();
  const append = (src) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.fetchPriority = "high"; // ahead of the widgets' code, which the first page asks for at the same time
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => reject(new Error(`could not load Plotly from ${src}`));
    document.head.appendChild(script);
  });
  return (src) => {
    if (!loaded[src]) {
      asked.add(src);
      loaded[src] = queue.then(() => append(src)).catch((err) => {
        delete loaded[src]; // a later chart tries again
        asked.delete(src);
        throw err;
      });
      queue = loaded[src].catch(() => undefined);
    }
    return loaded[src];
  };
})();
