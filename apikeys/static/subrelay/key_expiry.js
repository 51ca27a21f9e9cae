// Quick-select buttons of the API key expiry picker: now + N days (not current expiry + N), in UTC,
// because the server reads the datetime-local value as UTC.
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function utcLocalValue(date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) +
      "T" + pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes());
  }
  function fire(input) {
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("click", function (event) {
    var quick = event.target.closest("[data-sr-days]");
    var clear = event.target.closest("[data-sr-clear]");
    if (quick) {
      event.preventDefault();
      var input = document.getElementById(quick.dataset.srTarget);
      var days = parseInt(quick.dataset.srDays, 10);
      input.value = utcLocalValue(new Date(Date.now() + days * 86400000));
      fire(input);
      var toggle = document.getElementById("id_expires_enabled");
      if (toggle && !toggle.checked) { toggle.checked = true; fire(toggle); }
    } else if (clear) {
      event.preventDefault();
      var target = document.getElementById(clear.dataset.srClear);
      target.value = "";
      fire(target);
    }
  });
})();
