"use strict";
// The overview's zoom and pan, and its time axis. Everything drawn in it
// carries its unzoomed x in data attributes; a view is x' = x * k + off.
(function () {
  var doc = document;
  function ready() {
    // For the browser test: nothing was fetched, the script ran to its end.
    var res = window.performance && performance.getEntriesByType ? performance.getEntriesByType("resource").length : 0;
    doc.body.setAttribute("data-resources", String(res));
    doc.body.setAttribute("data-ready", "1");
  }
  // "#only-ID" shows that element alone (the README's screenshot).
  var only = /^#only-([\w-]+)$/.exec(location.hash);
  var shown = only && doc.getElementById(only[1]);
  for (var el = shown; el && el !== doc.body; el = el.parentNode) {
    var sib = el.parentNode.children;
    for (var s = 0; s < sib.length; s++) {
      if (sib[s] !== el && sib[s].tagName !== "SCRIPT" && sib[s].tagName !== "svg") sib[s].style.display = "none";
    }
  }
  var svg = doc.getElementById("ov");
  var axisEl = doc.getElementById("ov-axis");
  if (!svg || !axisEl) { ready(); return; }
  var axis = JSON.parse(axisEl.textContent);
  var L = 150, W = 1000, k = 1, off = 0;
  var ticks = doc.getElementById("ov-ticks");
  var range = doc.getElementById("ov-range");
  var NS = "http://www.w3.org/2000/svg";
  var height = svg.viewBox.baseVal.height;
  function tOf(x) {
    for (var i = 0; i < axis.length; i++) {
      var s = axis[i];
      if (x <= s[3] || i === axis.length - 1) {
        var f = (x - s[2]) / Math.max(s[3] - s[2], 1e-9);
        f = Math.min(1, Math.max(0, f));
        return s[0] + f * (s[1] - s[0]);
      }
    }
    return 0;
  }
  function n1(v) { return String(Math.round(v * 10) / 10); }
  function fmt(s) {
    if (s <= 0) return "0";
    if (s < 1e-3) return n1(s * 1e6) + "µs";
    if (s < 1) return n1(s * 1e3) + "ms";
    if (s < 120) return n1(s) + "s";
    if (s < 7200) return Math.floor(s / 60) + "m" + Math.floor(s % 60) + "s";
    if (s < 172800) return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  }
  function X(x) { return L + x * k + off; }
  var rects = svg.querySelectorAll("[data-x]");
  var paths = svg.querySelectorAll("path[data-p]");
  var pathPts = [];
  for (var i = 0; i < paths.length; i++) {
    pathPts.push(paths[i].getAttribute("data-p").split(" ").map(function (p) {
      var a = p.split(","); return [parseFloat(a[0]), a[1]];
    }));
  }
  function draw() {
    for (var i = 0; i < rects.length; i++) {
      var e = rects[i], x = parseFloat(e.getAttribute("data-x"));
      e.setAttribute("x", n1(X(x)));
      var w = e.getAttribute("data-w");
      if (w !== null) e.setAttribute("width", n1(Math.max(0.6, parseFloat(w) * k)));
    }
    for (var j = 0; j < paths.length; j++) {
      var pts = pathPts[j], d = "";
      for (var q = 0; q < pts.length; q++) d += (q ? "L" : "M") + n1(X(pts[q][0])) + " " + pts[q][1];
      paths[j].setAttribute("d", d);
    }
    while (ticks.firstChild) ticks.removeChild(ticks.firstChild);
    for (var t = 0; t <= 8; t++) {
      var sx = L + W * t / 8, bx = (sx - L - off) / k;
      var g = doc.createElementNS(NS, "g");
      var ln = doc.createElementNS(NS, "line");
      ln.setAttribute("x1", n1(sx)); ln.setAttribute("x2", n1(sx));
      ln.setAttribute("y1", "14"); ln.setAttribute("y2", String(height - 4));
      var tx = doc.createElementNS(NS, "text");
      tx.setAttribute("x", n1(sx)); tx.setAttribute("y", "12");
      tx.textContent = fmt(tOf(bx));
      g.appendChild(ln); g.appendChild(tx); ticks.appendChild(g);
    }
    if (range) range.textContent = "showing " + fmt(tOf(-off / k)) + " → " + fmt(tOf((W - off) / k)) + (k > 1 ? " (×" + n1(k) + ")" : "");
  }
  function clamp() {
    if (k < 1) k = 1;
    if (k > 1e7) k = 1e7;
    off = Math.min(0, Math.max(W - W * k, off));
  }
  function zoomAt(f, sx) {
    var bx = (sx - L - off) / k;
    k *= f; clamp();
    off = sx - L - bx * k; clamp(); draw();
  }
  function screenX(ev) {
    var r = svg.getBoundingClientRect();
    return (ev.clientX - r.left) * (svg.viewBox.baseVal.width / r.width);
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, screenX(ev));
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) { drag = { x: screenX(ev), off: off }; });
  window.addEventListener("pointerup", function () { drag = null; });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    off = drag.off + screenX(ev) - drag.x; clamp(); draw();
  });
  svg.addEventListener("keydown", function (ev) {
    var c = L + W / 2;
    if (ev.key === "+" || ev.key === "=") zoomAt(1.5, c);
    else if (ev.key === "-") zoomAt(1 / 1.5, c);
    else if (ev.key === "ArrowLeft") { off += W / 10; clamp(); draw(); }
    else if (ev.key === "ArrowRight") { off -= W / 10; clamp(); draw(); }
    else return;
    ev.preventDefault();
  });
  var buttons = doc.querySelectorAll("button[data-zoom]");
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener("click", function (ev) {
      var z = ev.currentTarget.getAttribute("data-zoom");
      if (z === "in") zoomAt(2, L + W / 2);
      else if (z === "out") zoomAt(0.5, L + W / 2);
      else { k = 1; off = 0; draw(); }
    });
  }
  draw();
  ready();
})();
