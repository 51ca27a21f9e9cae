// The dashboard's model-source toggle: swap the models chart's data (all three sources are in the page)
// and the table under it, without reloading. The buttons are links, so without this script they reload.
document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.getElementById("model-source-toggle");
  const payload = document.getElementById("models-by-source");
  if (!toggle || !payload) return;
  const sources = JSON.parse(payload.textContent);
  toggle.addEventListener("click", (event) => {
    const button = event.target.closest("[data-model-source]");
    const chart = window.Chart && Chart.getChart(document.getElementById("chart-models"));
    if (!button || !chart) return;
    event.preventDefault();
    const source = button.dataset.modelSource;
    chart.data = sources[source];
    chart.update();
    for (const other of toggle.querySelectorAll("[data-model-source]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    for (const table of document.querySelectorAll("[data-model-table]")) {
      table.hidden = table.dataset.modelTable !== source;
    }
    const url = new URL(window.location.href);
    url.searchParams.set("model_source", source);
    window.history.replaceState(null, "", url);
    // The 7 / 30 / 90 days links keep the chosen source.
    for (const link of document.querySelectorAll("#range-toggle a")) {
      const target = new URL(link.href);
      target.searchParams.set("model_source", source);
      link.href = target;
    }
  });
});
