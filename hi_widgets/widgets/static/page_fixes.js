// Nothing to draw: this widget carries the page's stylesheet (anywidget's _css) and
// fixes what upstream leaves undone, once per page:
// - DataTables KeyTable's focus input (the grid's tab stop) has an empty, hidden label.
// - KeyTable does not scroll its focused cell into view in our grids: it adds the
//   table's CSS `top` to the cell's position, and `parseInt("auto")` is NaN, so none of
//   its comparisons hold; it scrolls only the window, and Voila's page scrolls in a box.
// - Tabbing through the header's buttons scrolls the header's box sideways; DataTables
//   follows only the body's scrolling, so the header no longer lined up with the rows.
// - Voila's page has a banner and a contentinfo landmark but no main one.
const GRID_INPUT = "input[id^='keytable-focus-capture']:not([aria-label])";
const GRID_LABEL = "Table cells: arrow keys move between cells, Home and End to the ends";
const GRID_BODY = ".hi-grid .dt-scroll-body";
const FOCUSED_CELL = "focus"; // KeyTable's class on its focused cell

function nameGridInputs(root) {
  for (const input of root.querySelectorAll(GRID_INPUT)) {
    input.setAttribute("aria-label", GRID_LABEL);
  }
}

// The focused cell, scrolled into view in every box that scrolls: the grid's rows and
// the page (nearest edge, so a visible cell does not move).
const focusWatcher = new MutationObserver((mutations) => {
  for (const m of mutations) {
    const cell = m.target;
    const gained =
      cell.classList.contains(FOCUSED_CELL) &&
      !(m.oldValue || "").split(/\s+/).includes(FOCUSED_CELL);
    if (gained && cell.tagName === "TD") {
      cell.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }
});
const watched = new WeakSet();

function watchGridBodies(root) {
  for (const body of root.querySelectorAll(GRID_BODY)) {
    if (watched.has(body)) continue;
    watched.add(body);
    focusWatcher.observe(body, {
      subtree: true,
      attributes: true,
      attributeFilter: ["class"],
      attributeOldValue: true,
    });
  }
}

// The header's box follows the body's (DataTables); here the body follows the header's.
// Setting the body's scrollLeft makes DataTables set the header's to the same value (the
// body's, clamped), which ends the exchange.
function alignBodyWithHeader(event) {
  const head = event.target;
  if (!(head instanceof Element) || !head.classList.contains("dt-scroll-head")) return;
  if (!head.closest(".hi-grid")) return;
  const body = head.parentElement.querySelector(":scope > .dt-scroll-body");
  if (body && body.scrollLeft !== head.scrollLeft) {
    body.scrollLeft = head.scrollLeft;
  }
}

function markVoilaMain() {
  if (!document.body.hasAttribute("data-voila")) return;
  if (document.querySelector("main, [role='main']")) return;
  const panel = document.getElementById("jp-main-content-panel");
  if (panel) panel.setAttribute("role", "main");
}

function fixPage() {
  nameGridInputs(document);
  watchGridBodies(document);
  markVoilaMain();
}

function render({ el }) {
  el.style.display = "none";
  if (window.__hiWidgetsPageFixes) return;
  window.__hiWidgetsPageFixes = true;
  fixPage();
  new MutationObserver(fixPage).observe(document.body, { childList: true, subtree: true });
  document.addEventListener("scroll", alignBodyWithHeader, true);
}
export default { render };
