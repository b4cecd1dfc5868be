/* Staff dashboard: votes per day (counted vs excluded) as a stacked bar chart. */
(() => {
  "use strict";
  const days = JSON.parse(document.getElementById("votes-per-day-data").textContent);
  if (!window.Plotly) return;
  const x = days.map((d) => d.day);
  Plotly.newPlot("plot-votes-per-day", [
    { type: "bar", name: "counted", x, y: days.map((d) => d.counted), marker: { color: "#059669" } },
    { type: "bar", name: "excluded", x, y: days.map((d) => d.excluded), marker: { color: "#dc2626" } },
  ], { barmode: "stack", margin: { l: 40, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
       legend: { orientation: "h" }, font: { family: "system-ui, sans-serif", size: 12 } },
  { displaylogo: false, responsive: true });
})();
