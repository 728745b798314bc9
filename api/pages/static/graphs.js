// 责任图谱 where the server has no Graphviz: draws the DOT source the page carries in
// <script type="application/json" id="graph-dot"> with the vendored WebAssembly Graphviz
// (static/vendor/viz/viz-global.js, global `Viz`). The DOT is the server's own, with the
// nodes' URL attributes, so a click on a unit, category or area opens its view as it does
// in the server's drawing. No inline script: CSP script-src 'self' (plus 'wasm-unsafe-eval'
// for the WebAssembly) holds.
(function () {
  "use strict";
  var source = document.getElementById("graph-dot");
  var canvas = document.getElementById("graph-canvas");
  var status = document.getElementById("graph-status");
  if (!source || !canvas) { return; }

  function fail(message) {
    canvas.setAttribute("data-state", "failed");
    if (status) {
      status.className = "warning";
      status.textContent = message + " 下面仍列出图中的单位、事项和区域，可逐个打开。";
    }
  }

  if (typeof Viz === "undefined") { fail("浏览器绘图组件未能加载。"); return; }
  var dot = JSON.parse(source.textContent);
  Viz.instance().then(function (viz) {
    var svg = viz.renderSVGElement(dot);
    canvas.textContent = "";
    canvas.appendChild(svg);
    canvas.setAttribute("data-state", "drawn");
  }).catch(function (error) {
    fail("浏览器未能绘制该图（" + (error && error.message ? error.message : error) + "）。");
  });
})();
