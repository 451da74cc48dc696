/* Long tables marked class="datatable" become searchable, sortable and paged
   (simple-datatables, vendored). Numeric cells carry data-order with the raw value.
   Printing shows every row: before a table is paged, a full copy is kept next to it, shown
   only in print (app.css @media print hides the paged one and its controls). A copy rather
   than a `beforeprint` handler, because printing to PDF (Chromium's page.pdf) fires none. */
(function () {
  "use strict";
  window.CM.tables = function (root) {
    if (!window.simpleDatatables) return;
    root.querySelectorAll("table.datatable").forEach(function (table) {
      const rows = table.tBodies.length ? table.tBodies[0].rows.length : 0;
      const perPage = Number(table.dataset.perPage || 15);
      if (rows <= perPage || table.dataset.enhanced) return;
      table.dataset.enhanced = "1";
      const copy = table.cloneNode(true);
      copy.removeAttribute("id");
      copy.classList.remove("datatable");
      copy.classList.add("print-only", "print-copy");
      copy.setAttribute("aria-hidden", "true");
      copy.querySelectorAll("[id]").forEach((el) => el.removeAttribute("id"));
      table.parentNode.insertBefore(copy, table.nextSibling);
      new window.simpleDatatables.DataTable(table, {
        perPage: perPage,
        perPageSelect: [10, 15, 25, 50, 100, 500],
        searchable: true,
        fixedHeight: false,
        fixedColumns: false,  // column widths would be style= attributes, refused by the CSP
        labels: {
          placeholder: "Search this table…",
          searchTitle: "Search within the table",
          perPage: "rows per page",
          noRows: "Nothing to show",
          noResults: "No rows match the search",
          info: "Showing {start} to {end} of {rows} rows",
        },
      });
    });
  };
  window.CM.tables(document);
})();
