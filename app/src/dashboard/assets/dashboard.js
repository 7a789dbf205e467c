// Progressive enhancement only: every page works without it.
// A select marked data-autosubmit applies its choice at once (its form still has a button).
document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.requestSubmit(); });
});
