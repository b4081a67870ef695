// Dashboard charts with Chart.js; the numbers come from the JSON endpoint named
// in the data-src attribute (no inline script: the CSP forbids it).
"use strict";

const PALETTE = ["#1f5fa8", "#d9822b", "#2e8b57", "#b03a48", "#6b4fa0", "#2b9aa8",
                 "#8c6d1f", "#5b6472", "#c2185b", "#7cb342", "#3949ab", "#f4511e"];

// Words come from the page (data-series-label, data-week-axis): it is in the reader's language.
const WORDS = { series: "incidents", weekAxis: "week starting" };

function barChart(id, items, horizontal) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: items.map((i) => i.lines || i.label),
      datasets: [{ label: WORDS.series, data: items.map((i) => i.n), maxBarThickness: 56,
                   backgroundColor: items.map((_, k) => PALETTE[k % PALETTE.length]) }],
    },
    options: {
      indexAxis: horizontal ? "y" : "x", maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false } },
      scales: { [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

function weeksChart(id, perWeek) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  const names = Object.keys(perWeek.series);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: perWeek.weeks,
      datasets: names.map((name, k) => ({
        label: name, data: perWeek.series[name], backgroundColor: PALETTE[k % PALETTE.length],
        maxBarThickness: 56 })),
    },
    options: {
      maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true, title: { display: true, text: WORDS.weekAxis } },
                y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  const charts = document.getElementById("charts");
  if (!charts || typeof Chart === "undefined") return;
  WORDS.series = charts.dataset.seriesLabel || WORDS.series;
  WORDS.weekAxis = charts.dataset.weekAxis || WORDS.weekAxis;
  Chart.defaults.locale = charts.dataset.locale || "en";
  const response = await fetch(charts.dataset.src, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  weeksChart("chart-weeks", data.per_week);
  weeksChart("chart-responses", data.responses_per_week);
  barChart("chart-first-response", data.first_response.buckets, false);
  barChart("chart-techniques", data.techniques, true);
  barChart("chart-platforms", data.platforms, false);
  barChart("chart-verdicts", data.verdicts, false);
  charts.dataset.ready = "true";
});
