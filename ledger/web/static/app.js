/* Practice Ledger: small progressive enhancements. Every page works without this file.
 * - Charts: a <canvas data-chart="capital|vesting|impact|economics" data-source="ID"> is drawn with the vendored
 *   Chart.js from the JSON in <script type="application/json" id="ID"> (no inline script: the
 *   Content-Security-Policy allows scripts from this origin only).
 * - Menus: an open <details class="menu"> closes when another opens or on a click elsewhere.
 * - The cost form shows the firm only for a subcontract.
 */
(function () {
  "use strict";

  var NAVY = "#1f3a5f", BLUE = "#2d5b8f", TEAL = "#0f7b6c", PURPLE = "#7a4cc2", RED = "#b42318", AMBER = "#a15c07";
  var money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function data(canvas) {
    var el = document.getElementById(canvas.dataset.source);
    return el ? JSON.parse(el.textContent) : null;
  }

  function capitalChart(canvas, d) {
    return new window.Chart(canvas, {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: "Origination", data: d.origination, backgroundColor: PURPLE, stack: "s" },
          { type: "bar", label: "Practice share", data: d.practice, backgroundColor: BLUE, stack: "s" },
          { type: "bar", label: "Common pool", data: d.pool, backgroundColor: TEAL, stack: "s" },
          { type: "bar", label: "Buyout / goodwill", data: d.other, backgroundColor: AMBER, stack: "s" },
          { type: "bar", label: "Draws", data: d.draws, backgroundColor: "rgba(180, 35, 24, .75)", stack: "s" },
          { type: "line", label: "Closing capital", data: d.closing, borderColor: NAVY, backgroundColor: NAVY,
            borderWidth: 2.5, tension: 0.25, pointRadius: 4, yAxisID: "capital", order: 0 }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        datasets: { bar: { order: 1, maxBarThickness: 56 } },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, title: { display: true, text: "allocated and drawn in the period" },
               ticks: { callback: function (v) { return whole.format(v); } } },
          capital: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                     title: { display: true, text: "closing capital" },
                     ticks: { callback: function (v) { return whole.format(v); } } }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money.format(c.parsed.y); } } }
        }
      }
    });
  }

  var DAY = 86400000;
  var monthYear = new Intl.DateTimeFormat("en-GB", { month: "short", year: "numeric", timeZone: "UTC" });
  var dayMonthYear = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

  function points(labels, values) {
    // Dates on a linear axis (days since 1970), so a 6-month cliff looks six months long.
    var out = [];
    labels.forEach(function (label, i) {
      if (values[i] !== null && values[i] !== undefined) { out.push({ x: Date.parse(label) / DAY, y: values[i] }); }
    });
    return out;
  }

  function vestingChart(canvas, d) {
    return new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          { label: "Vested", data: points(d.labels, d.vested), stepped: true, borderColor: TEAL,
            backgroundColor: "rgba(15, 123, 108, .15)", fill: "origin", pointRadius: 2 },
          { label: "Still to vest", data: points(d.labels, d.scheduled), stepped: true, borderColor: BLUE,
            borderDash: [6, 4], backgroundColor: "rgba(45, 91, 143, .06)", fill: "origin", pointRadius: 2 }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "linear", grid: { display: false },
               min: Date.parse(d.labels[0]) / DAY, max: Date.parse(d.labels[d.labels.length - 1]) / DAY,
               ticks: { maxTicksLimit: 9, callback: function (v) { return monthYear.format(new Date(v * DAY)); } } },
          y: { beginAtZero: true, ticks: { callback: function (v) { return whole.format(v); } } }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? dayMonthYear.format(new Date(items[0].parsed.x * DAY)) : ""; },
            label: function (c) { return c.dataset.label + ": " + whole.format(c.parsed.y) + " units"; } } }
        }
      }
    });
  }

  function impactChart(canvas, d) {
    // What each partner was allocated over the periods, and what the proposed policy would have given.
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          { label: "As closed", data: d.actual, backgroundColor: "rgba(95, 107, 122, .55)" },
          { label: "Under the proposal", data: d.proposed, backgroundColor: TEAL }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        datasets: { bar: { maxBarThickness: 40 } },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { callback: function (v) { return whole.format(v); } } }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money.format(c.parsed.y); } } }
        }
      }
    });
  }

  function economicsChart(canvas, d) {
    // A practice month by month: revenue and margin as bars, the subcontract share of its direct
    // costs as a line on its own 0-100% axis (a gap where a month had no costs).
    return new window.Chart(canvas, {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: "Revenue", data: d.revenue, backgroundColor: BLUE, yAxisID: "y" },
          { type: "bar", label: "Margin", data: d.margin, backgroundColor: TEAL, yAxisID: "y" },
          { type: "line", label: "Subcontract share of direct costs", data: d.subcontract_share, borderColor: AMBER,
            backgroundColor: AMBER, borderWidth: 2.5, tension: 0, pointRadius: 4, spanGaps: false,
            yAxisID: "share", order: 0 }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        datasets: { bar: { order: 1, maxBarThickness: 40 } },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { callback: function (v) { return whole.format(v); } } },
          share: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                   title: { display: true, text: "subcontract share" },
                   ticks: { callback: function (v) { return v + "%"; } } }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (c) {
            return c.dataset.yAxisID === "share" ? c.dataset.label + ": " + c.parsed.y.toFixed(1) + "%"
              : c.dataset.label + ": " + money.format(c.parsed.y);
          } } }
        }
      }
    });
  }

  var CHARTS = { capital: capitalChart, vesting: vestingChart, impact: impactChart, economics: economicsChart };

  function drawCharts() {
    if (!window.Chart) { return; }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#5f6b7a";
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var make = CHARTS[canvas.dataset.chart], d = data(canvas);
      if (make && d) { make(canvas, d); canvas.dataset.drawn = "true"; }
    });
  }

  function menus() {
    var all = document.querySelectorAll("details.menu");
    all.forEach(function (m) {
      m.addEventListener("toggle", function () {
        if (m.open) { all.forEach(function (o) { if (o !== m) { o.open = false; } }); }
      });
    });
    document.addEventListener("click", function (e) {
      all.forEach(function (m) { if (m.open && !m.contains(e.target)) { m.open = false; } });
    });
  }

  function costForm() {
    var form = document.querySelector("form[data-form='bookkeeping.new_cost']");
    if (!form) { return; }
    var firm = document.getElementById("field-firm");
    function sync() {
      var checked = form.querySelector("input[name='kind']:checked");
      var sub = checked && checked.value === "subcontract";
      firm.hidden = !sub;
      if (!sub) { form.querySelector("select[name='firm']").value = ""; }
    }
    form.querySelectorAll("input[name='kind']").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }

  // Chart.js is loaded with "defer" after this file: wait for the whole document.
  window.addEventListener("load", drawCharts);
  document.addEventListener("DOMContentLoaded", function () { menus(); costForm(); });
})();
