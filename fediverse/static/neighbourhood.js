// Neighbourhood settings: live preview of the included communes (progressive enhancement).
// Without JavaScript the "Preview" button posts the form back; with it, every change fetches the
// preview fragment (GET /settings/neighbourhood/preview) and swaps it into the aria-live region,
// and only the inputs of the chosen mode stay visible. Nothing is saved until "Save" is pressed.
(function () {
  "use strict";
  var form = document.getElementById("neighbourhood-form");
  var region = document.getElementById("commune-preview");
  if (!form || !region || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var previewUrl = region.getAttribute("data-preview-url");
  var radiusField = document.getElementById("radius-field");
  var communesField = document.getElementById("communes-field");
  var previewButton = document.getElementById("preview-button");
  var timer = null;
  var latest = 0;

  function mode() {
    var checked = form.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "radius";
  }

  function showMode() {
    var listed = mode() === "communes";
    // A hidden field is also disabled: it is not sent, and its browser checks cannot block the form.
    if (radiusField) {
      radiusField.hidden = listed;
      radiusField.querySelectorAll("input").forEach(function (input) { input.disabled = listed; });
    }
    if (communesField) {
      communesField.hidden = !listed;
      communesField.disabled = !listed;
    }
  }

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && name !== "preview" && typeof value === "string") {
        params.append(name, value);
      }
    });
    return params.toString();
  }

  function refresh() {
    var ticket = ++latest;
    region.setAttribute("aria-busy", "true");
    fetch(previewUrl + "?" + query(), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (response.status !== 200 && response.status !== 422) {
          throw new Error("preview " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (ticket === latest) {  // an older, slower answer never replaces a newer one
          region.innerHTML = html;
          region.setAttribute("data-previewed", String(ticket));
        }
      })
      .catch(function () { /* the Preview button still works */ })
      .then(function () {
        if (ticket === latest) { region.removeAttribute("aria-busy"); }
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  form.addEventListener("change", function () { showMode(); refresh(); });
  form.addEventListener("input", function (event) {
    if (event.target && event.target.type === "number") { later(); }
  });
  if (previewButton) { previewButton.hidden = true; }
  showMode();
}());
