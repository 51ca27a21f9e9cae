/* The repeating-row editor of core/widgets.py: "add row" copies the <template> with the next free row
   number, the bin button removes its row. No dependencies. */
(function () {
  "use strict";
  function addRow(editor) {
    var next = parseInt(editor.dataset.next || "0", 10);
    var html = editor.querySelector("template").innerHTML.split("__row__").join(String(next));
    editor.dataset.next = String(next + 1);
    var body = editor.querySelector("tbody");
    body.insertAdjacentHTML("beforeend", html);
    var first = body.lastElementChild.querySelector("input, select");
    if (first) first.focus();
  }
  document.addEventListener("click", function (event) {
    var add = event.target.closest(".sr-rows-add");
    if (add) {
      event.preventDefault();
      addRow(add.closest(".sr-rows"));
      return;
    }
    var remove = event.target.closest(".sr-rows-remove");
    if (remove) {
      event.preventDefault();
      remove.closest("tr").remove();
    }
  });
})();
