// 统计: draws the page's charts with the vendored ECharts from the figures the page carries
// in <script type="application/json" id="stats-data"> (no inline script: CSP script-src
// 'self'). The tables under each chart hold the same figures for keyboards and screen
// readers; without this script the page is whole, only without pictures.
(function () {
  "use strict";
  var source = document.getElementById("stats-data");
  if (!source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var FONT = "'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif";
  var COLOURS = ["#1f5fa8", "#ef6c00", "#c62828", "#2e7d32", "#6a3d9a"];
  var charts = [];

  function pct(v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }
  function pctLabel(v) { return v === null || v === undefined ? "—" : v + "%"; }

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = echarts.init(el, null, { renderer: "svg", locale: "ZH" });
    option.textStyle = { fontFamily: FONT };
    option.color = COLOURS;
    option.animation = false;
    chart.setOption(option);
    el.setAttribute("data-drawn", "true");
    charts.push(chart);
  }

  // Rates by unit: one bar per rate, units top to bottom, the busiest first.
  if (data.units.length) {
    var names = data.units.map(function (u) { return u.name; }).reverse();
    draw("chart-units", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" },
                 valueFormatter: pctLabel },
      legend: { top: 0 },
      grid: { left: 8, right: 40, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: names, axisLabel: { width: 180, overflow: "truncate" } },
      series: data.rates.map(function (r) {
        return { name: r.name, type: "bar", barMaxWidth: 10,
                 data: data.units.map(function (u) { return pct(u[r.key]); }).reverse() };
      })
    });
  }

  // Trends by ISO week: counts on the left axis, rates on the right.
  if (data.weeks.length) {
    var weeks = data.weeks.map(function (w) { return w.week; });
    var series = function (name, key, axis, rate) {
      return { name: name, type: "line", yAxisIndex: axis, connectNulls: false,
               symbolSize: 6, data: data.weeks.map(function (w) {
                 return rate ? pct(w[key]) : w[key]; }) };
    };
    draw("chart-weeks", {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: weeks },
      yAxis: [{ type: "value", name: "件", minInterval: 1 },
              { type: "value", name: "%", min: 0, max: 100,
                axisLabel: { formatter: "{value}%" }, splitLine: { show: false } }],
      series: [series("接收工单", "tickets_received", 0, false),
               series("争议", "disputes", 0, false),
               series("一次派准率", "first_dispatch_accuracy", 1, true),
               series("退单率", "return_rate", 1, true)]
    });
  }

  // Hotspots: returns and disputes per category, stacked, the most contested on top.
  if (data.categories.length) {
    var cats = data.categories.slice().reverse();
    draw("chart-hotspots", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", axisLabel: { width: 200, overflow: "truncate" },
               data: cats.map(function (c) { return c.name + "（" + c.code + "）"; }) },
      series: [
        { name: "退单", type: "bar", stack: "n", barMaxWidth: 16, itemStyle: { color: "#ef6c00" },
          data: cats.map(function (c) { return c.returns; }) },
        { name: "争议", type: "bar", stack: "n", barMaxWidth: 16, itemStyle: { color: "#c62828" },
          data: cats.map(function (c) { return c.disputes; }) }
      ]
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
