// Report pages: the print button (confirmations are common.js's form[data-confirm]).
(function () {
  document.querySelectorAll('[data-print]').forEach(function (b) {
    b.addEventListener('click', function () { window.print(); });
  });
})();
