/* The booth page: live view, a start button, the server's countdown, a
 * flash at each shot, the strip with its QR code, and back to the start.
 *
 * The server keeps the time (capture_sequence): this page only shows
 * the events it is sent, so a second screen shows the same countdown and
 * a slow screen cannot stretch it. Live view comes as binary WebSocket
 * messages, one JPEG each. <body data-state> says what the page shows:
 * connecting, waiting (for the camera), idle, running, result, message.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const live = $("live");
  let settings = {mirror: true, return_after: 30};
  let socket = null;
  let reconnectDelay = 500;
  let cameraState = "idle";
  let lastFrameAt = 0;
  let frameURL = null;
  let pendingFrame = null;
  let loadingFrame = false;
  let requestNumber = 0;
  let ownSequence = null;       // requestId of the sequence this page asked
  let running = false;
  let backTimer = null;
  let previewRetry = null;
  let stripURL = null;

  function show(state) {
    body.dataset.state = state;
    $("start").hidden = state !== "idle";
    $("busy").hidden = state !== "running";
    $("result").hidden = state !== "result";
    $("message").hidden = state !== "message";
    if (state !== "running") $("countdown").hidden = true;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function nextId(prefix) {
    requestNumber += 1;
    return prefix + "-" + requestNumber;
  }

  // Live view ------------------------------------------------------------

  function showFrame(blob) {
    lastFrameAt = Date.now();
    if (loadingFrame) { pendingFrame = blob; return; }
    loadingFrame = true;
    const url = URL.createObjectURL(blob);
    live.onload = live.onerror = () => {
      if (frameURL) URL.revokeObjectURL(frameURL);
      frameURL = url;
      loadingFrame = false;
      if (pendingFrame) {
        const next = pendingFrame;
        pendingFrame = null;
        showFrame(next);
      }
    };
    live.src = url;
  }

  function startPreview() {
    clearTimeout(previewRetry);
    send({type: "start_preview", format: "binary",
          requestId: nextId("preview")});
  }

  // Waiting for the camera: it said it is offline or recovering, or no
  // frame came for a while (outside a capture), or the server is gone.
  function checkWaiting() {
    const socketDown = !socket || socket.readyState !== WebSocket.OPEN;
    const offline = cameraState === "offline" ||
      cameraState === "recovering";
    const stale = !running && Date.now() - lastFrameAt > 4000 &&
      cameraState !== "capturing" && cameraState !== "busy";
    const waiting = socketDown || offline || stale;
    // The offline placeholder is text: not mirrored.
    live.classList.toggle("mirror", !!settings.mirror && !offline);
    $("waiting").hidden = !waiting;
    $("waiting-text").textContent = socketDown ?
      "Connecting to fourcut\u2026" : "Waiting for the camera\u2026";
    if (body.dataset.state === "connecting" && !socketDown) show("idle");
    body.dataset.waiting = waiting ? "yes" : "no";
  }

  // The sequence ---------------------------------------------------------

  function start() {
    if (body.dataset.state !== "idle" || running) return;
    ownSequence = nextId("sequence");
    if (send({type: "capture_sequence", requestId: ownSequence})) {
      running = true;
      show("running");
    }
  }

  function flash() {
    const element = $("flash");
    element.classList.remove("on");
    void element.offsetWidth;          // restart the animation
    element.classList.add("on");
    body.dataset.flashes = String(Number(body.dataset.flashes) + 1);
  }

  function countdown(value) {
    const element = $("countdown");
    element.textContent = String(value);
    element.hidden = false;
    element.classList.remove("tick");
    void element.offsetWidth;
    element.classList.add("tick");
    const seen = body.dataset.countdowns;
    body.dataset.countdowns = seen ? seen + "," + value : String(value);
  }

  function addShot(message) {
    if (!message.thumbnail) return;
    const item = document.createElement("li");
    const image = document.createElement("img");
    image.src = "data:image/jpeg;base64," + message.thumbnail;
    image.alt = "shot " + message.shot;
    item.appendChild(image);
    $("shots").appendChild(item);
  }

  async function stripReady(message) {
    running = false;
    $("countdown").hidden = true;
    show("result");
    const qr = $("qr");
    qr.hidden = !message.qr;
    $("qr-text").hidden = !message.qr;
    $("no-qr").hidden = !!message.qr;
    if (message.qr) qr.src = message.qr;
    body.dataset.shareUrl = message.share_url || "";
    try {
      const url = await FourcutAuth.blobURL(message.url);
      if (stripURL) URL.revokeObjectURL(stripURL);
      stripURL = url;
      $("strip").src = url;
    } catch (e) {
      $("strip").removeAttribute("src");
    }
    backAfter(settings.return_after);
  }

  function failed(text) {
    running = false;
    $("message").textContent = text;
    show("message");
    backAfter(8);
  }

  function backAfter(seconds) {
    clearInterval(backTimer);
    let left = Math.round(seconds);
    $("back-in").textContent = "(" + left + ")";
    backTimer = setInterval(() => {
      left -= 1;
      $("back-in").textContent = "(" + left + ")";
      if (left <= 0) back();
    }, 1000);
  }

  function back() {
    clearInterval(backTimer);
    backTimer = null;
    if (running) return;
    $("shots").textContent = "";
    body.dataset.countdowns = "";
    show("idle");
  }

  // Messages -------------------------------------------------------------

  const handlers = {
    connected(message) {
      if (message.auth_required && !message.authenticated) {
        const token = FourcutAuth.token();
        if (token) {
          send({type: "auth", token, requestId: "auth"});
        } else {
          FourcutAuth.ask().then((value) =>
            send({type: "auth", token: value, requestId: "auth"}));
        }
      } else {
        startPreview();
      }
    },
    authenticated() { startPreview(); },
    camera_status(message) { cameraState = message.state; checkWaiting(); },
    camera_info(message) {
      if (message.data) cameraState = message.data.state;
    },
    preview_started() { checkWaiting(); },
    sequence_started() {
      running = true;
      clearInterval(backTimer);
      $("shots").textContent = "";
      body.dataset.countdowns = "";
      show("running");
    },
    countdown(message) { running = true; show("running"); countdown(message.value); },
    capturing() { $("countdown").hidden = true; flash(); },
    photo_captured(message) { if (message.sequenceId) addShot(message); },
    strip_ready(message) { stripReady(message); },
    sequence_failed(message) { failed(message.error); },
    error(message) {
      if (message.requestId === "auth") {
        FourcutAuth.forget();
        FourcutAuth.ask("That token is wrong: type it again.").then(
          (value) => send({type: "auth", token: value, requestId: "auth"}));
      } else if (message.requestId === ownSequence) {
        if (message.code === 409) {
          running = false;            // another screen's sequence runs
          show("running");
        } else {
          failed(message.error);
        }
      } else if (String(message.requestId || "").startsWith("preview")) {
        // The camera is not there yet: try again.
        previewRetry = setTimeout(startPreview, 2000);
      }
    },
  };

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws");
    socket.binaryType = "blob";
    socket.onopen = () => { reconnectDelay = 500; };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") { showFrame(event.data); return; }
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      const handler = handlers[message.type];
      if (handler) handler(message);
    };
    socket.onclose = () => {
      socket = null;
      checkWaiting();
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 5000);
    };
  }

  // Input ----------------------------------------------------------------

  $("start").addEventListener("click", start);
  $("result").addEventListener("click", back);
  $("message").addEventListener("click", back);
  document.addEventListener("keydown", (event) => {
    if (!$("auth").hidden) return;
    if (event.code === "Space" || event.key === " ") {
      event.preventDefault();
      if (body.dataset.state === "idle") start();
      else if (body.dataset.state === "result" ||
               body.dataset.state === "message") back();
    }
  });

  fetch("/booth/config.json").then((r) => r.json()).then((value) => {
    settings = value;
    live.classList.toggle("mirror", !!settings.mirror);
  }).catch(() => {}).finally(() => {
    connect();
    setInterval(checkWaiting, 500);
  });
})();
