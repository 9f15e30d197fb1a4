// Sends the chosen extract to the API's upload route with XMLHttpRequest, which (unlike
// fetch) reports upload progress; the session cookie authenticates, the CSRF token goes
// in a header. On success the browser moves to the upload's page, which polls its state.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var errorBox = document.getElementById("upload-error");
  var progress = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var percent = document.getElementById("upload-percent");
  var button = document.getElementById("upload-button");

  function showError(message) {
    progress.hidden = true;
    errorBox.textContent = message;
    errorBox.hidden = false;
    errorBox.focus();
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    var dataset = form.elements.dataset.value;
    var file = form.elements.file.files[0];
    if (!file) { showError("Choose a file to upload."); form.elements.file.focus(); return; }
    var body = new FormData();
    body.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/datasets/" + encodeURIComponent(dataset) + "/uploads");
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var value = Math.round((e.loaded / e.total) * 100);
      bar.value = value;
      bar.textContent = value + "%";
      percent.textContent = value + "%";
    });
    xhr.addEventListener("load", function () {
      var reply = null;
      try { reply = JSON.parse(xhr.responseText); } catch (ignored) { reply = null; }
      if (xhr.status === 202 && reply && reply.id) {
        bar.value = 100;
        percent.textContent = "100% – received, de-identifying…";
        window.location.assign("/web/uploads/" + encodeURIComponent(reply.id));
        return;
      }
      var message = reply && reply.error ? reply.error.message : "The upload failed (HTTP " + xhr.status + ").";
      showError(message);
    });
    xhr.addEventListener("error", function () { showError("The connection failed during the upload. Try again."); });
    button.disabled = true;
    progress.hidden = false;
    bar.value = 0;
    xhr.send(body);
  });
}());
