// Draws the page's charts: the figures (plotly's data and layout) are JSON in #figures, each
// drawn into the element #chart-<name>. The page's only code: the server's Content-Security-Policy
// allows scripts from the dashboard itself and nothing inline.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
    const source = document.getElementById("figures");
    if (!source) {
        return;
    }
    const figures = JSON.parse(source.textContent);
    const drawn = Object.entries(figures).map(function ([name, figure]) {
        const element = document.getElementById("chart-" + name);
        return element ? Plotly.newPlot(element, figure.data, figure.layout, {displaylogo: false, responsive: true})
            : Promise.resolve();
    });
    // what the browser tests wait for
    Promise.all(drawn).then(function () {
        document.body.dataset.chartsDrawn = String(drawn.length);
    });
});
