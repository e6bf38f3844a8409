// The video section of the appointment page: a countdown to the join window, and a camera and
// microphone check with getUserMedia (nothing leaves the browser). Works without HTMX.
(function () {
  "use strict";

  function countdown(el) {
    var target = new Date(el.getAttribute("data-countdown-to")).getTime();
    function tick() {
      var left = Math.max(0, Math.round((target - Date.now()) / 1000));
      if (left === 0) {
        el.textContent = "The call is open: reload the page if the Join button is not here yet.";
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = "Opens in " + (h ? h + " h " : "") + (h || m ? m + " min " : "") +
        (h ? "" : s + " s") + ".";
      setTimeout(tick, 1000);
    }
    tick();
  }

  function deviceCheck(button) {
    var section = button.closest(".device-check");
    var preview = section.querySelector("[data-device-preview]");
    var result = section.querySelector("[data-device-result]");
    button.addEventListener("click", function () {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        result.textContent = "This browser cannot use a camera here. Try Chrome, Firefox or Safari.";
        return;
      }
      result.textContent = "Asking for your camera and microphone…";
      navigator.mediaDevices.getUserMedia({video: true, audio: true}).then(function (stream) {
        preview.srcObject = stream;
        preview.hidden = false;
        preview.play();
        var cams = stream.getVideoTracks().length, mics = stream.getAudioTracks().length;
        result.textContent = (cams ? "Camera works" : "No camera found") + "; " +
          (mics ? "microphone works." : "no microphone found.") + " The preview stops in 20 s.";
        setTimeout(function () {
          stream.getTracks().forEach(function (track) { track.stop(); });
          preview.hidden = true;
        }, 20000);
      }).catch(function (error) {
        result.textContent = error && error.name === "NotAllowedError"
          ? "Permission was refused: allow the camera and microphone in your browser's settings."
          : "No camera or microphone could be opened (" + (error && error.name) + ").";
      });
    });
  }

  function init(root) {
    root.querySelectorAll("[data-countdown-to]").forEach(countdown);
    root.querySelectorAll("[data-device-check]").forEach(deviceCheck);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
