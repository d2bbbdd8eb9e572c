// somkit report: the interactive map (no libraries, no network).
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("som-data").textContent);
  var cells = Array.prototype.slice.call(
    document.querySelectorAll("#som-map [data-unit]"));
  var select = document.getElementById("color-by");
  var legend = document.getElementById("map-legend");
  var details = document.getElementById("unit-details");
  var tip = document.getElementById("unit-tooltip");
  var cols = D.shape[1];
  var picked = null, found = null, index = null;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
        "'": "&#39;"}[c];
    });
  }
  function num(v) {
    if (v === null || v === undefined) return "n/a";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
    return String(Math.round(v * 1e4) / 1e4);
  }
  function mix(hex, s) {  // a colour mixed with white: s = 1 keeps it
    var out = "#";
    for (var i = 1; i < 7; i += 2) {
      var c = parseInt(hex.substr(i, 2), 16);
      var v = Math.round(255 - s * (255 - c));
      out += (v < 16 ? "0" : "") + v.toString(16);
    }
    return out;
  }
  function range(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) {
      if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    });
    return [lo, hi];
  }
  function where(u) {
    return "row " + Math.floor(u / cols) + ", column " + (u % cols);
  }

  // ------------------------------------------------------------ colouring
  function numeric(values, lut, label) {
    var r = range(values), span = r[1] - r[0] || 1;
    var fills = values.map(function (v) {
      if (v === null) return "#eee";
      return lut[Math.round((v - r[0]) / span * (lut.length - 1))];
    });
    legend.innerHTML = '<div>' + esc(label) + '</div><div class="bar" style="' +
      'background: linear-gradient(to right, ' + lut.join(", ") + ')"></div>' +
      '<div class="ends"><span>' + num(r[0]) + '</span><span>' + num(r[1]) +
      "</span></div>";
    return {fills: fills, value: function (u) { return num(values[u]); }};
  }
  function categories(codes, colors, names, fade) {
    var fills = codes.map(function (c, u) {
      if (c < 0) return "#fff";
      return fade ? mix(colors[c], fade[u]) : colors[c];
    });
    legend.innerHTML = names.map(function (n, i) {
      return '<span class="sw" style="background:' + colors[i] + '"></span>' +
        esc(n);
    }).join("") + (fade ? ' <span class="note">(paler = mixed unit; white = ' +
      "empty)</span>" : "");
    return {fills: fills, value: function (u) {
      return codes[u] < 0 ? "empty" : names[codes[u]];
    }};
  }
  var current = null;
  function paint() {
    var how = select.value;
    if (how === "umatrix") {
      current = numeric(D.umatrix, D.luts.umatrix,
        "U-matrix: mean distance to the neighbouring units (dark = border)");
    } else if (how === "hits") {
      current = numeric(D.hits, D.luts.hits, "samples per unit");
    } else if (how === "cluster") {
      var names = D.clusterColors.map(function (_, i) { return "cluster " + (i + 1); });
      current = categories(D.cluster, D.clusterColors, names, null);
    } else if (how === "class") {
      current = categories(D.majority, D.classColors, D.classes, D.purity);
    } else {
      var j = +how.split(":")[1];
      current = numeric(D.protos[j], D.luts.feature,
        D.features[j] + " (prototype value)");
    }
    cells.forEach(function (el, u) { el.setAttribute("fill", current.fills[u]); });
    document.getElementById("som-map").setAttribute("data-coloring", how);
  }

  // --------------------------------------------------------------- tooltip
  function summary(u) {
    var s = "unit " + u + " (" + where(u) + "): " + D.hits[u] + " sample" +
      (D.hits[u] === 1 ? "" : "s") + ", cluster " + (D.cluster[u] + 1);
    if (D.classes && D.majority[u] >= 0) {
      s += ", mostly " + D.classes[D.majority[u]] + " (" +
        Math.round(100 * D.purity[u]) + "%)";
    }
    var how = select.options[select.selectedIndex].text;
    return s + " \u2014 " + how + ": " + current.value(u);
  }
  function unitOf(ev) {
    var el = ev.target.closest ? ev.target.closest("[data-unit]") : null;
    return el ? +el.getAttribute("data-unit") : null;
  }
  var svg = document.querySelector("#som-map svg");
  svg.addEventListener("mousemove", function (ev) {
    var u = unitOf(ev);
    if (u === null) { tip.style.display = "none"; return; }
    tip.textContent = summary(u);
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 4) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  });
  svg.addEventListener("mouseleave", function () { tip.style.display = "none"; });

  // --------------------------------------------------------------- details
  function show(u) {
    if (picked !== null) cells[picked].classList.remove("picked");
    picked = u;
    cells[u].classList.add("picked");
    cells[u].parentNode.appendChild(cells[u]);  // drawn last: outline on top
    var n = D.hits[u], ids = D.ids[u];
    var h = "<h3>Unit " + u + "</h3><p>" + where(u) + " \u00b7 cluster " +
      (D.cluster[u] + 1) + ' \u00b7 <b id="detail-count">' + n + "</b> sample" +
      (n === 1 ? "" : "s") + "</p>";
    h += "<h4>Prototype" + (D.inDataUnits ? "" : " (scaled)") + "</h4><table>" +
      '<tr><th>feature</th><th>value</th></tr>';
    D.features.forEach(function (f, j) {
      h += "<tr><td>" + esc(f) + '</td><td class="num">' + num(D.protos[j][u]) +
        "</td></tr>";
    });
    h += "</table>";
    if (D.nFeatures > D.features.length) {
      h += '<p class="note">first ' + D.features.length + " of " + D.nFeatures +
        " features</p>";
    }
    if (D.classes) {
      h += '<h4>Classes</h4><table id="detail-classes"><tr><th>class</th>' +
        "<th>samples</th></tr>";
      D.classCounts[u].forEach(function (p) {
        h += "<tr><td>" + esc(D.classes[p[0]]) + '</td><td class="num">' + p[1] +
          "</td></tr>";
      });
      h += "</table>";
    }
    var shown = ids.slice(0, D.shownIds);
    h += "<h4>" + esc(D.idName) + "s</h4>";
    if (!n) {
      h += '<p class="note">No sample has this unit as its closest unit.</p>';
    } else {
      h += '<p class="ids" id="detail-ids">' + shown.map(esc).join(", ") + "</p>";
      if (n > shown.length) {
        h += '<p id="detail-more">and ' + (n - shown.length) + " more</p>";
      }
    }
    details.innerHTML = h;
    details.setAttribute("data-unit", u);
  }
  svg.addEventListener("click", function (ev) {
    var u = unitOf(ev);
    if (u !== null) show(u);
  });

  // ---------------------------------------------------------------- search
  function find() {
    var q = document.getElementById("id-search").value.trim();
    var out = document.getElementById("search-result");
    if (found !== null) cells[found].classList.remove("found");
    found = null;
    if (!q) { out.textContent = ""; return; }
    if (index === null) {
      index = new Map();
      D.ids.forEach(function (list, u) {
        list.forEach(function (id) {
          var k = String(id);
          if (!index.has(k)) index.set(k, u);
        });
      });
    }
    var u = index.get(q);
    if (u === undefined) {
      out.textContent = "no row with " + D.idName + " " + q +
        (D.idCap === null ? "" : " among the IDs in this page (see rows.csv)");
      return;
    }
    found = u;
    cells[u].classList.add("found");
    cells[u].parentNode.appendChild(cells[u]);
    out.textContent = D.idName + " " + q + " is on unit " + u + " (" + where(u) + ")";
    show(u);
  }
  document.getElementById("id-search-go").addEventListener("click", find);
  document.getElementById("id-search").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") find();
  });

  select.addEventListener("change", paint);
  paint();
})();
