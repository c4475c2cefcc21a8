// The console works without JavaScript; this only adds live refresh and confirmations.
//
// <div data-refresh-url="…" data-refresh-seconds="2">: the element's content is replaced by
// the fragment at that URL every few seconds, until the fragment carries data-final.
// <form data-confirm="…">: asks before submitting.
(function () {
  "use strict";

  function refresh(element) {
    var seconds = Number(element.dataset.refreshSeconds || 2);
    var timer = window.setInterval(function () {
      fetch(element.dataset.refreshUrl, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          element.innerHTML = html;
          if (element.querySelector("[data-final]")) {
            window.clearInterval(timer);
            if (element.dataset.reloadWhenFinal !== undefined) { window.location.reload(); }
          }
        })
        .catch(function () { /* the next tick tries again */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-url]").forEach(function (element) {
      if (!element.querySelector("[data-final]")) { refresh(element); }
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
