/* Draws every figure embedded with json_script (a <script type="application/json" id="fig-X">
   next to a <div data-figure="fig-X">) with the vendored plotly.js. A click on a point follows the
   URL in its customdata (the first element when customdata is a list): every point leads to the
   evidence it was computed from. */
(function () {
  "use strict";

  var CONFIG = {
    displayModeBar: false,
    responsive: true
  };

  function follow(url) {
    if (!url || typeof url !== "string") return;
    if (url.charAt(0) === "#") {
      var target = document.getElementById(url.slice(1));
      if (target) {
        target.scrollIntoView({ behavior: "smooth", block: "start" });
        target.classList.add("flash");
        window.setTimeout(function () { target.classList.remove("flash"); }, 1600);
        history.replaceState(null, "", url);
      }
      return;
    }
    window.location.href = url;
  }

  // On a narrow chart a week axis reads "W42" rather than "2026-W42" (the hover keeps the year).
  function compactWeeks(layout, el) {
    var x = layout.xaxis;
    if (!x || x.type !== "category" || !x.categoryarray || el.clientWidth >= 560) return;
    var texts = x.ticktext || x.categoryarray;
    x.tickmode = "array";
    x.tickvals = x.tickvals || x.categoryarray;
    x.ticktext = texts.map(function (t) { return String(t).replace(/^\d{4}-(W\d\d)/, "$1"); });
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source || typeof Plotly === "undefined") return;
    var fig = JSON.parse(source.textContent);
    compactWeeks(fig.layout, el);
    Plotly.newPlot(el, fig.data, fig.layout, CONFIG).then(function () {
      el.setAttribute("data-rendered", "true");
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (!point) return;
        var target = point.customdata;
        if (Array.isArray(target)) target = target[0];
        follow(target);
      });
    });
  }

  var charts = document.querySelectorAll("[data-figure]");
  for (var i = 0; i < charts.length; i++) draw(charts[i]);
})();
