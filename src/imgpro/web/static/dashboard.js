// Dashboard pages: on a phone each table row becomes a card, so every cell carries its
// column's name (read by the stylesheet); the upload form's drop zone and progress bar.
(function () {
  document.querySelectorAll(".table-wrap table").forEach(function (table) {
    var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.innerText.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (names[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[i]);
      });
    });
  });
})();

// The upload form: a file dropped on the zone goes into the file input; the form is sent
// with XMLHttpRequest to show its progress. Without JavaScript the same form posts as usual.
(function () {
  var form = document.getElementById("upload");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var zone = form.querySelector(".dropzone");
  var title = document.getElementById("dz-title");
  var errorBox = document.getElementById("upload-error");
  var progress = document.getElementById("upload-progress");
  var track = progress.querySelector("[role=progressbar]");
  var fill = progress.querySelector(".meter-fill");
  var status = document.getElementById("upload-status");
  var button = document.getElementById("upload-button");

  function chosen() {
    var file = input.files && input.files[0];
    if (!file) return;
    title.textContent = file.name + " · " + Math.max(1, Math.round(file.size / 1024)) + " KB";
    zone.classList.add("has-file");
  }
  input.addEventListener("change", chosen);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      chosen();
    }
  });

  function show(percent, text) {
    progress.hidden = false;
    fill.style.width = percent + "%";
    track.setAttribute("aria-valuenow", String(percent));
    status.textContent = text;
  }
  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    progress.hidden = true;
    button.disabled = false;
  }
  form.addEventListener("submit", function (event) {
    if (!input.files || !input.files.length) return; // the browser says what is missing
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var percent = Math.round((e.loaded / e.total) * 100);
        show(percent, percent < 100 ? "Uploading… " + percent + "%" : "Processing…");
      }
    });
    request.addEventListener("load", function () {
      if (request.status === 200 && request.responseURL.indexOf("done=uploaded") !== -1) {
        window.location.assign(request.responseURL);
        return;
      }
      // the page answered with the form and what was wrong: show that message here
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      var problem = page.querySelector("#upload-error:not([hidden]), .error-box");
      fail(problem ? problem.textContent.trim() : "The upload failed (" + request.status + "). Try again.");
    });
    request.addEventListener("error", function () { fail("The upload was interrupted. Try again."); });
    show(0, "Uploading… 0%");
    request.send(new FormData(form));
  });
})();
