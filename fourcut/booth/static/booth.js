/* The booth page: live view, a start button, the server's countdown, a
 * flash at each shot and the photo shown after it, the strip with its QR
 * code, and back to the start; an attract screen when nobody is there.
 *
 * The server keeps the time (capture_sequence): this page only shows
 * the events it is sent, so a second screen shows the same countdown and
 * a slow screen cannot stretch it. Live view comes as binary WebSocket
 * messages, one JPEG each. <body data-state> says what the page shows:
 * connecting, attract, idle, running, processing, result, message.
 *
 * Guests never read a technical error: the server sends plain words
 * (sequence_failed's "guest"), and this page says "the camera is waking
 * up" rather than why.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const live = $("live");
  let settings = {mirror: true, return_after: 30, attract_after: 60};
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
  let lastStrip = null;          // the strip_ready on screen
  let lastActivity = Date.now();
  let printer = {mode: "off", guest_message: null};
  let slideTimer = null;
  let slideURLs = [];
  let startWhenReady = false;    // "Try again" while the camera wakes up

  function show(state) {
    body.dataset.state = state;
    $("start").hidden = state !== "idle";
    $("result").hidden = state !== "result";
    $("message").hidden = state !== "message";
    $("attract").hidden = state !== "attract";
    $("processing").hidden = state !== "processing";
    $("progress").hidden = state !== "running";
    if (state !== "running") {
      $("countdown").hidden = true;
      $("review").hidden = true;
    }
    if (state !== "attract") stopSlides();
    checkWaiting();
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

  /* fetch() with the token when this browser has one, never asking for
   * it (for what the page polls by itself). */
  function quietFetch(url, options) {
    const headers = Object.assign({}, (options || {}).headers);
    const token = FourcutAuth.token();
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(url, Object.assign({}, options, {headers}));
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
  // Start stays disabled until live view is back.
  function checkWaiting() {
    const socketDown = !socket || socket.readyState !== WebSocket.OPEN;
    const offline = cameraState === "offline" ||
      cameraState === "recovering";
    const stale = !running && Date.now() - lastFrameAt > 4000 &&
      cameraState !== "capturing" && cameraState !== "busy";
    const waiting = socketDown || offline || stale;
    // The offline placeholder is text: not mirrored.
    live.classList.toggle("mirror", !!settings.mirror && !offline);
    const state = body.dataset.state;
    $("waiting").hidden = !waiting ||
      !(state === "idle" || state === "connecting");
    $("waiting-text").textContent = socketDown ?
      "Connecting to the booth\u2026" : "The camera is waking up\u2026";
    $("start").disabled = waiting;
    $("start-hint").textContent = waiting ?
      "one moment, please" : "touch here or press the space bar";
    if (state === "connecting" && !socketDown) show("idle");
    body.dataset.waiting = waiting ? "yes" : "no";
    if (startWhenReady && !waiting && body.dataset.state === "idle") {
      startWhenReady = false;
      start();
    }
  }

  // The sequence ---------------------------------------------------------

  function start() {
    lastActivity = Date.now();
    if (body.dataset.state !== "idle" || running || $("start").disabled) {
      return;
    }
    ownSequence = nextId("sequence");
    if (send({type: "capture_sequence", requestId: ownSequence})) {
      running = true;
      $("progress").textContent = "Get ready!";
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

  function progress(message) {
    if (message.shot && message.count) {
      $("progress").textContent = "Photo " + message.shot + " of " +
        message.count;
    }
  }

  function countdown(message) {
    $("review").hidden = true;
    progress(message);
    const element = $("countdown");
    element.textContent = String(message.value);
    element.hidden = false;
    element.classList.remove("tick");
    void element.offsetWidth;
    element.classList.add("tick");
    const seen = body.dataset.countdowns;
    body.dataset.countdowns = seen ? seen + "," + message.value :
      String(message.value);
  }

  // Each photo is shown after its shot while the server waits
  // (booth.review); after the last one, "making your strip".
  function photoTaken(message) {
    const last = message.shot === message.count && !message.retake;
    if (message.thumbnail && message.review) {
      $("review-photo").src = "data:image/jpeg;base64," + message.thumbnail;
      $("review").hidden = false;
      $("retake").hidden = !message.retake;
      $("retake").disabled = false;
      $("retake").dataset.shot = String(message.shot);
    }
    if (last) {
      const wait = message.thumbnail && message.review ?
        Math.min(message.review, 1.5) * 1000 : 0;
      setTimeout(() => {
        if (running && body.dataset.state === "running") show("processing");
      }, wait);
    }
  }

  async function retake() {
    lastActivity = Date.now();
    const button = $("retake");
    button.disabled = true;
    try {
      await FourcutAuth.fetch("/sequence/retake?shot=" + button.dataset.shot,
                              {method: "POST"});
    } catch (e) { /* the next countdown comes anyway */ }
  }

  async function stripReady(message) {
    running = false;
    lastStrip = message;
    show("result");
    const qr = $("qr");
    qr.hidden = !message.qr;
    $("qr-text").hidden = !message.qr;
    $("no-qr").hidden = !!message.qr;
    if (message.qr) qr.src = message.qr;
    body.dataset.shareUrl = message.share_url || "";
    $("print").hidden = printer.mode !== "button";
    $("print").disabled = false;
    $("print-status").hidden = true;
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

  const FALLBACK = "That did not work. Let's try that again.";

  function failed(message) {
    running = false;
    $("flash").classList.remove("on");
    $("message-text").textContent = (message && message.guest) || FALLBACK;
    show("message");
    backAfter(20);
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
    startWhenReady = false;
    clearInterval(backTimer);
    backTimer = null;
    lastActivity = Date.now();
    if (running) return;
    body.dataset.countdowns = "";
    show("idle");
    freshTheme();
  }

  // The operator may choose another theme on /admin while a kiosk runs
  // for hours: after each guest, the page takes the theme chosen now.
  function freshTheme() {
    const link = document.querySelector('link[href^="/booth/theme.css"]');
    if (link) link.href = "/booth/theme.css?" + Date.now();
  }

  // Printing (the printer's side is /booth/printer and /booth/print) ----

  async function pollPrinter() {
    try {
      const response = await quietFetch("/booth/printer");
      if (response.ok) {
        printer = await response.json();
      } else {
        printer = {mode: "off", guest_message: null};
      }
    } catch (e) {
      // fourcut unreachable: the waiting banner says so.
    }
    const banner = $("printer");
    banner.hidden = !printer.guest_message;
    body.dataset.printer = printer.guest_message ? "message" : "";
    banner.textContent = printer.guest_message || "";
    if (body.dataset.state === "result") {
      $("print").hidden = printer.mode !== "button";
    }
  }

  async function print() {
    if (!lastStrip) return;
    lastActivity = Date.now();
    const button = $("print");
    const status = $("print-status");
    button.disabled = true;
    status.hidden = false;
    status.textContent = "Sending to the printer\u2026";
    try {
      const response = await FourcutAuth.fetch("/booth/print", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({strip: lastStrip.filename})});
      // With the printer's banner up (paper out, stopped...), the sheet
      // waits in the queue: say so, not "ready in a minute".
      status.textContent = !response.ok ?
        "The printer can't take it right now; your strip is saved." :
        printer.guest_message ?
        "Your strip is in the queue: it will print when the printer is " +
        "ready." : "Printing! Your strip will be ready in a minute.";
      if (!response.ok) button.disabled = false;
    } catch (e) {
      status.textContent =
        "The printer can't take it right now; your strip is saved.";
      button.disabled = false;
    }
  }

  // The attract screen ---------------------------------------------------

  function stopSlides() {
    clearInterval(slideTimer);
    slideTimer = null;
    slideURLs.forEach((url) => URL.revokeObjectURL(url));
    slideURLs = [];
    $("slides").textContent = "";
  }

  async function attract() {
    show("attract");
    try {
      const response = await quietFetch("/photos?kind=strip&limit=6",
                                        {headers: {Accept:
                                                   "application/json"}});
      if (!response.ok) return;
      const listing = await response.json();
      for (const photo of listing.photos) {
        const image = await quietFetch(photo.url);
        if (!image.ok || body.dataset.state !== "attract") return;
        const url = URL.createObjectURL(await image.blob());
        slideURLs.push(url);
        const element = document.createElement("img");
        element.src = url;
        element.alt = "";
        $("slides").appendChild(element);
      }
    } catch (e) {
      return;
    }
    const slides = $("slides").children;
    if (!slides.length) return;
    let index = 0;
    slides[0].classList.add("shown");
    clearInterval(slideTimer);
    slideTimer = setInterval(() => {
      slides[index].classList.remove("shown");
      index = (index + 1) % slides.length;
      slides[index].classList.add("shown");
    }, 4000);
  }

  function checkIdle() {
    const after = Number(settings.attract_after) || 0;
    if (after > 0 && body.dataset.state === "idle" && !running &&
        Date.now() - lastActivity > after * 1000) {
      attract();
    }
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
    sequence_started(message) {
      running = true;
      clearInterval(backTimer);
      body.dataset.countdowns = "";
      $("progress").textContent = "Get ready!";
      show("running");
      progress({shot: 1, count: message.count});
    },
    countdown(message) {
      running = true;
      if (body.dataset.state !== "running") show("running");
      countdown(message);
    },
    capturing() { $("countdown").hidden = true; flash(); },
    photo_captured(message) { if (message.sequenceId) photoTaken(message); },
    retake() { $("review").hidden = true; },
    strip_ready(message) { stripReady(message); },
    sequence_failed(message) { failed(message); },
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
          failed(message);
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
  $("done").addEventListener("click", back);
  $("message-done").addEventListener("click", back);
  $("try-again").addEventListener("click", () => {
    back();
    startWhenReady = true;
    checkWaiting();
  });
  $("print").addEventListener("click", print);
  $("retake").addEventListener("click", retake);
  $("attract").addEventListener("click", back);
  document.addEventListener("pointerdown", () => {
    lastActivity = Date.now();
  });
  document.addEventListener("keydown", (event) => {
    if (!$("auth").hidden) return;
    lastActivity = Date.now();
    if (event.code === "Space" || event.key === " ") {
      event.preventDefault();
      const state = body.dataset.state;
      if (state === "idle") start();
      else if (state === "result" || state === "message" ||
               state === "attract") back();
    }
  });

  function applyBranding() {
    const name = settings.event_name || "";
    $("event-name").textContent = name;
    $("attract-name").textContent = name || "Photo booth";
    if (name) document.title = name;
    for (const id of ["logo", "attract-logo"]) {
      $(id).hidden = !settings.logo;
      if (settings.logo) $(id).src = "/booth/theme/logo";
    }
    live.classList.toggle("mirror", !!settings.mirror);
  }

  // For the operator's console and the browser tests: show the attract
  // screen now, or change a setting of this page until it is reloaded.
  window.fourcutBooth = {
    attract,
    configure(values) { Object.assign(settings, values); },
  };

  fetch("/booth/config.json").then((r) => r.json()).then((value) => {
    settings = value;
    applyBranding();
  }).catch(() => {}).finally(() => {
    connect();
    setInterval(checkWaiting, 500);
    setInterval(checkIdle, 1000);
    pollPrinter();
    setInterval(pollPrinter, 5000);
  });
})();
