// Nothing to draw: this widget carries the page's stylesheet (anywidget's _css) and
// names what upstream leaves nameless, once per page:
// - DataTables KeyTable's focus input (the grid's tab stop) has an empty, hidden label.
const GRID_INPUT = "input[id^='keytable-focus-capture']:not([aria-label])";
const GRID_LABEL = "Table cells: arrow keys move between cells, Home and End to the ends";

function nameGridInputs(root) {
  for (const input of root.querySelectorAll(GRID_INPUT)) {
    input.setAttribute("aria-label", GRID_LABEL);
  }
}

function render({ el }) {
  el.style.display = "none";
  if (window.__hiWidgetsPageFixes) return;
  window.__hiWidgetsPageFixes = true;
  nameGridInputs(document);
  new MutationObserver(() => nameGridInputs(document)).observe(document.body, {
    childList: true,
    subtree: true,
  });
}
export default { render };
