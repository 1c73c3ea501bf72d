/* Keeps what a form answered in sight: a message about the section a form sent the page back to
   (settings#alerts) is shown at the top of that section rather than far above it, a form sent
   back with errors is scrolled to its first error, and a slow form's button says it is busy. */
(function () {
  "use strict";

  var messages = document.querySelector(".messages");
  var section = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (messages && section && section.tagName === "SECTION") {
    var title = section.querySelector("h2, h3");
    section.insertBefore(messages, title ? title.nextSibling : section.firstChild);
    messages.scrollIntoView({ block: "center" });
  }
  var error = document.querySelector("form .errorlist");
  if (error) error.scrollIntoView({ block: "center" });

  // A button whose work takes seconds (a report made in the request) says so while it runs.
  document.querySelectorAll("form button[data-busy]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = button.getAttribute("data-busy");
    });
  });
})();
