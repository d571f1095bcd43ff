// Event form: the registration site field shows only when people register on another site
// (progressive enhancement: without JavaScript the field is always there, and ignored for other modes).
(function () {
  "use strict";
  var field = document.getElementById("external-field");
  var modes = document.querySelectorAll("input[name=join_mode]");
  if (!field || !modes.length) {
    return;
  }
  function update() {
    var checked = document.querySelector("input[name=join_mode]:checked");
    var external = checked && checked.value === "external";
    var invalid = field.querySelector("[aria-invalid=true]");
    field.hidden = !external && !invalid;
  }
  modes.forEach(function (input) { input.addEventListener("change", update); });
  update();
})();
