// keyhub's small script. Every page works without it; it adds conveniences only.
// No inline handlers anywhere: the CSP allows scripts from 'self' alone.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx sends the CSRF token as a header on every request it makes.
  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Copy buttons: <button data-copy="#selector" hidden>. They are hidden in
  // the HTML (without this script the value is simply selectable) and shown here.
  function showCopyButtons(root) {
    root.querySelectorAll("[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }
  showCopyButtons(document);
  document.addEventListener("htmx:afterSettle", function () { showCopyButtons(document); });
  function selectAll(source) {
    if (source.select) { source.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(source);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("[data-copy]");
    if (!btn) return;
    var source = document.querySelector(btn.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value || source.textContent;
    var done = function () { btn.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectAll(source); document.execCommand("copy"); done(); });
    } else {
      selectAll(source);
      document.execCommand("copy");
      done();
    }
  });

  // Forms with data-confirm ask first, in a real dialog (not window.confirm).
  function confirmDialog(question, label, onConfirm) {
    var dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-label", "Please confirm");
    var p = document.createElement("p");
    p.id = "confirm-question";
    p.textContent = question;
    dialog.setAttribute("aria-describedby", "confirm-question");
    var actions = document.createElement("div");
    actions.className = "dialog-actions";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    var ok = document.createElement("button");
    ok.type = "button";
    ok.className = "danger";
    ok.textContent = label || "Confirm";
    actions.append(cancel, ok);
    dialog.append(p, actions);
    document.body.append(dialog);
    cancel.addEventListener("click", function () { dialog.close(); dialog.remove(); });
    ok.addEventListener("click", function () { dialog.close(); dialog.remove(); onConfirm(); });
    dialog.showModal();
    cancel.focus();
  }

  // The question of a form: `{file}` names the file chosen in it (Replace rows).
  function questionOf(form) {
    var q = form.getAttribute("data-confirm");
    var input = form.querySelector('input[type="file"]');
    var file = input && input.files && input.files[0] ? input.files[0].name : "the chosen file";
    return q.split("{file}").join(file);
  }

  // `data-confirm-if="tabs=remove"`: only that choice is destructive.
  function needsConfirm(form) {
    if (!form.hasAttribute("data-confirm")) return false;
    var cond = form.getAttribute("data-confirm-if");
    if (!cond) return true;
    var parts = cond.split("=");
    var checked = form.querySelector('input[name="' + parts[0] + '"]:checked');
    return !!checked && checked.value === parts[1];
  }

  // A confirmed form says so to the server (without JavaScript the server
  // asks on a page of its own instead).
  function markConfirmed(form) {
    var field = form.querySelector('input[name="confirmed"]');
    if (field) field.value = "yes";
  }

  // htmx forms: htmx asks before every request; we answer with the dialog.
  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest("form[data-confirm]");
    if (!form || !needsConfirm(form)) return;
    evt.preventDefault();
    confirmDialog(questionOf(form), form.getAttribute("data-confirm-button"), function () {
      markConfirmed(form);
      evt.detail.issueRequest(true);
    });
  });

  // Plain forms (htmx handles its own above).
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (evt.defaultPrevented || !needsConfirm(form) || form.dataset.confirmed === "yes") return;
    if (window.htmx && form.hasAttribute("hx-post")) return;
    evt.preventDefault();
    confirmDialog(questionOf(form), form.getAttribute("data-confirm-button"), function () {
      form.dataset.confirmed = "yes";
      markConfirmed(form);
      form.requestSubmit();
    });
  });

  // A page that comes back with a refused form (after its redirect) puts the
  // cursor in the first field in error, as an htmx swap does.
  // A key field's Show/Hide toggle (hidden without this script: the field
  // then stays a plain password input).
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-reveal]").forEach(function (b) { b.hidden = false; });
  });
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("button[data-reveal]");
    if (!btn) return;
    var input = document.getElementById(btn.getAttribute("data-reveal"));
    if (!input) return;
    var show = input.type === "password";
    input.type = show ? "text" : "password";
    btn.setAttribute("aria-pressed", show ? "true" : "false");
    btn.firstChild.textContent = show ? "Hide" : "Show";
  });

  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector("main [aria-invalid=true]");
    if (invalid && document.activeElement === document.body) invalid.focus();
  });

  // The key editor's expire date: shown in UTC by the server, converted to
  // the browser's time zone here, with the offset sent along so the server
  // can store UTC again. (Without this script the field is plain UTC.)
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-local-time]").forEach(function (input) {
      var offsetField = document.getElementById(input.getAttribute("data-local-time"));
      if (!offsetField || offsetField.value !== "0") return;
      var offset = -new Date().getTimezoneOffset();
      if (input.value) {
        var d = new Date(input.value + ":00Z");
        if (!isNaN(d)) {
          input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
        }
      }
      offsetField.value = String(offset);
      var hint = document.querySelector("[data-tz-hint]");
      if (hint) {
        var sign = offset >= 0 ? "+" : "-";
        var abs = Math.abs(offset);
        hint.textContent = "Empty: never expires. Enter your local time (UTC" + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60) + "); keyhub stores and shows UTC.";
      }
    });
  });

  // Pasting "10.0.0.0/8" into an IP range field splits it into range and
  // netmask (the server accepts the pasted form too).
  document.addEventListener("change", function (evt) {
    var input = evt.target;
    if (!input.matches || !input.matches('input[name="ip_range"]') || input.value.indexOf("/") < 0) return;
    var row = input.closest(".row-fields");
    var mask = row && row.querySelector('input[name="ip_netmask"]');
    if (!mask || mask.value) return;
    var parts = input.value.split("/");
    input.value = parts[0].trim();
    mask.value = parts.slice(1).join("/").trim();
  });

  // After an htmx swap, focus goes where the eyes go: a field in error, the
  // new secret or link, or the message; never back to <body>.
  // Elements mark themselves with data-focus-after-swap (optionally naming a
  // descendant to focus by selector).
  document.addEventListener("htmx:afterSettle", function (evt) {
    var scope = evt.detail.elt && evt.detail.elt.isConnected ? evt.detail.elt : document;
    // The swapped element itself may carry the mark (outerHTML swaps).
    var marked = scope.matches && scope.matches("[data-focus-after-swap]") ? scope : scope.querySelector("[data-focus-after-swap]");
    var target = scope.querySelector("[aria-invalid=true]") || marked;
    if (!target) return;
    var inner = target.getAttribute("data-focus-after-swap");
    if (inner) target = target.querySelector(inner) || target;
    if (!target.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(target.tagName)) {
      target.setAttribute("tabindex", "-1");
    }
    target.focus();
  });
})();
