// The agenda's map (Leaflet, served from /static/leaflet). The page works without it: the list of events
// and their places (#map-events) is the content; this script only draws that list on a map, one marker
// per item, from the items' data attributes. The tile server is the instance's `map_tile_url` setting
// (data-tiles); when it is empty the markers are drawn on a blank map.
(function () {
  "use strict";
  var box = document.getElementById("agenda-map");
  var list = document.getElementById("map-events");
  if (!box || !window.L) {
    return;
  }
  var items = list ? list.querySelectorAll("li[data-lat][data-lon]") : [];
  box.hidden = false;
  var map = window.L.map(box, { scrollWheelZoom: false });
  var tiles = box.getAttribute("data-tiles");
  if (tiles) {
    var attribution = document.createElement("span");
    attribution.textContent = box.getAttribute("data-attribution") || "";
    window.L.tileLayer(tiles, { maxZoom: 19, attribution: attribution.innerHTML }).addTo(map);
  }
  var points = [];
  Array.prototype.forEach.call(items, function (item) {
    var lat = parseFloat(item.getAttribute("data-lat"));
    var lon = parseFloat(item.getAttribute("data-lon"));
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return;
    }
    var title = item.getAttribute("data-title") || "";
    var cancelled = item.getAttribute("data-cancelled");
    var label = cancelled ? title + " (" + cancelled + ")" : title;
    var marker = window.L.marker([lat, lon], { title: label, alt: label, keyboard: true }).addTo(map);
    var popup = document.createElement("div");
    var link = document.createElement("a");
    link.href = item.getAttribute("data-url");
    link.textContent = label;
    var heading = document.createElement("strong");
    heading.appendChild(link);
    popup.appendChild(heading);
    ["data-when", "data-place"].forEach(function (name) {
      var text = item.getAttribute(name);
      if (text) {
        var line = document.createElement("div");
        line.textContent = text;
        popup.appendChild(line);
      }
    });
    marker.bindPopup(popup);
    var element = marker.getElement();
    if (element) {
      element.classList.add("agenda-marker");
      element.setAttribute("data-url", item.getAttribute("data-url"));
    }
    points.push([lat, lon]);
  });
  if (points.length) {
    map.fitBounds(points, { padding: [30, 30], maxZoom: 14 });
  } else {
    var centre = [parseFloat(box.getAttribute("data-centre-lat")), parseFloat(box.getAttribute("data-centre-lon"))];
    map.setView(isFinite(centre[0]) && isFinite(centre[1]) ? centre : [46.6, 2.4], isFinite(centre[0]) ? 10 : 5);
  }
})();
