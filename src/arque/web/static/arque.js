// The only script of the dashboard: live refresh of [data-live] parts by polling,
// "select all" and the one-row buttons of the dead letters form. No build step.
(function () {
  "use strict";
  document.querySelectorAll("[data-live]").forEach(function (box) {
    var every = parseFloat(box.dataset.every) * 1000;
    if (!(every > 0)) { return; }
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(box.dataset.live, {credentials: "same-origin"}).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null) { box.innerHTML = html; }
      }).catch(function () {});
    }, every);
  });
  var all = document.getElementById("all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (c) { c.checked = all.checked; });
    });
  }
  // A row's own button acts on that row only: select it alone before submitting.
  document.querySelectorAll("button[data-only]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (c) {
        c.checked = c.value === button.dataset.only;
      });
    });
  });
})();
