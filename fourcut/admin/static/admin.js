/* The operator page: /admin/state and /camera/info every few seconds,
 * the actions as the API offers them (GET /reset, POST /camera/restart,
 * POST /admin/test-print), and the gallery (/photos) with hide and, after
 * a confirm, delete. The token is asked for once (common.js). */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 24;
  const GOOD_CAMERA = ["idle", "previewing", "capturing", "standby"];
  const GOOD_PRINTER = ["idle", "printing", "off"];
  let shown = 0;
  let urls = [];

  function text(id, value) {
    $(id).textContent = value === null || value === undefined ? "\u2014"
                                                               : value;
  }

  function badge(id, value, good) {
    const element = $(id);
    element.textContent = String(value).replace(/_/g, " ");
    element.className = "state " + (good ? "good" : "bad");
  }

  function bytes(n) {
    if (n === null || n === undefined) return "unknown";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return n.toFixed(i ? 1 : 0) + " " + units[i];
  }

  async function json(url, options) {
    const response = await FourcutAuth.fetch(url, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      throw new Error((body && body.error) || url + ": " + response.status);
    }
    return body;
  }

  function showCamera(camera) {
    badge("camera-state", camera.state, GOOD_CAMERA.includes(camera.state));
    text("camera-model", camera.model);
    text("camera-battery", camera.battery);
    $("camera-error").hidden = !camera.last_error;
    $("camera-error").textContent = camera.last_error ?
      "Last error: " + camera.last_error : "";
  }

  function showPrinter(printer) {
    if (!printer) {
      badge("printer-state", "not set up", false);
      return;
    }
    badge("printer-state", printer.state,
          GOOD_PRINTER.includes(printer.state));
    text("printer-mode", printer.mode);
    text("printer-queue", printer.queue || "CUPS default");
    text("printer-waiting", printer.jobs_waiting + " here, " +
         (printer.cups_jobs_queued === null ? "?" : printer.cups_jobs_queued)
         + " in CUPS");
    text("printer-detail", printer.detail);
    const jobs = $("print-jobs");
    jobs.replaceChildren(...printer.jobs.slice(-5).reverse().map((job) => {
      const item = document.createElement("li");
      item.textContent = "print " + job.number + ", " +
        (job.strip || "test print") + ": " + job.state +
        (job.cups_id ? " (CUPS job " + job.cups_id + ")" : "") +
        (job.error ? " \u2014 " + job.error : "");
      // Waiting here (CUPS has not taken it): it may be cancelled;
      // failed: printed again.
      const action = {waiting: "cancel", failed: "retry"}[job.state];
      if (action) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "quiet";
        button.textContent = action === "cancel" ? "Cancel" : "Print again";
        button.addEventListener("click", () => act(button, "printer-result",
          async () => {
            const done = await json("/admin/prints/" + job.number + "/" +
                                    action, {method: "POST"});
            return action === "cancel" ? "Print " + job.number +
              " canceled." : "Printing again as print " + done.number + ".";
          }));
        item.append(" ", button);
      }
      return item;
    }));
    $("test-print").disabled = printer.mode === "off";
  }

  function when(time) {
    const element = document.createElement("time");
    element.dateTime = time;
    element.textContent = time.replace("T", " ").replace("+00:00", " UTC");
    return element;
  }

  function showErrors(errors, problems) {
    $("no-errors").hidden = errors.length + problems.length > 0;
    // The booth's own problems: what guests read, and the detail.
    $("problems").replaceChildren(...problems.map((entry) => {
      const item = document.createElement("li");
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = entry.detail ? " \u2014 " + entry.detail : "";
      item.append(when(entry.time), entry.source + ": " + entry.what,
                  detail);
      return item;
    }));
    $("errors").replaceChildren(...errors.map((entry) => {
      const item = document.createElement("li");
      item.append(when(entry.time), entry.text +
                  (entry.count > 1 ? " (\u00d7" + entry.count + ")" : ""));
      return item;
    }));
  }

  function showBooth(booth) {
    const list = $("booth-settings");
    const keys = Object.keys(booth).sort();
    list.replaceChildren(...keys.flatMap((key) => {
      const term = document.createElement("dt");
      term.textContent = key;
      const value = document.createElement("dd");
      const v = booth[key];
      value.textContent = v === null ? "\u2014" :
        (typeof v === "object" ? JSON.stringify(v) : String(v));
      return [term, value];
    }));
  }

  let choosing = false;

  function options(id, names, chosen, fromConfig) {
    const select = $(id);
    if (choosing || document.activeElement === select) return;
    const entries = [["", "As in the config file (" +
                      (fromConfig === null ? "none" : fromConfig) + ")"]]
      .concat(names.map((name) => [name, name]));
    select.replaceChildren(...entries.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }));
    select.value = chosen === null ? "" : chosen;
  }

  function showChoice(choice) {
    options("theme", choice.themes, choice.chosen.theme,
            choice.config.theme);
    options("template", choice.templates, choice.chosen.template,
            choice.config.template);
  }

  $("look").addEventListener("submit", (event) => {
    event.preventDefault();
    choosing = true;
    act($("choose"), "look-result", async () => {
      try {
        const body = await json("/admin/booth", {
          method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({theme: $("theme").value || null,
                                template: $("template").value || null})});
        return "Now: theme " + body.theme + ", template " +
          (body.template === null ? "none" : body.template) +
          (body.saved ? "." : " (until a restart: it could not be saved).");
      } finally {
        choosing = false;
      }
    });
  });

  async function refresh() {
    try {
      const state = await json("/admin/state");
      showCamera(state.camera);
      text("disk-free", bytes(state.disk.free_bytes));
      showPrinter(state.printer);
      showErrors(state.errors, state.problems);
      showChoice(state.choice);
      showBooth(state.booth);
      $("problem").hidden = true;
      document.body.dataset.state = "ready";
    } catch (e) {
      $("problem").hidden = false;
      $("problem").textContent = "fourcut does not answer: " + e.message;
    }
  }

  async function cameraInfo() {
    try { showCamera(await json("/camera/info")); } catch (e) { /* shown */ }
  }

  async function act(button, resultId, run) {
    button.disabled = true;
    $(resultId).textContent = "\u2026";
    try {
      $(resultId).textContent = await run();
    } catch (e) {
      $(resultId).textContent = e.message;
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  $("reset").addEventListener("click", () => act($("reset"), "camera-result",
    async () => {
      const response = await FourcutAuth.fetch("/reset");
      const body = (await response.text()).trim();
      if (!response.ok) throw new Error(body);
      return "Reset: " + body;
    }));
  $("restart").addEventListener("click", () => act($("restart"),
    "camera-result", async () => {
      await json("/camera/restart", {method: "POST"});
      return "The camera was restarted.";
    }));
  $("test-print").addEventListener("click", () => act($("test-print"),
    "printer-result", async () => {
      const body = await json("/admin/test-print", {method: "POST"});
      return "Test print queued (print " + body.number + ").";
    }));

  function card(photo) {
    const item = document.createElement("li");
    item.dataset.name = photo.name;
    const image = document.createElement("img");
    image.alt = photo.name;
    image.loading = "lazy";
    FourcutAuth.blobURL("/thumbnails/" + encodeURIComponent(photo.name))
      .then((url) => { urls.push(url); image.src = url; })
      .catch(() => { image.alt = photo.name + " (no preview)"; });
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = (photo.kind === "strip" ? "strip \u00b7 " : "") +
      photo.name;
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    const hide = document.createElement("button");
    hide.type = "button";
    hide.className = "quiet";
    hide.textContent = "Hide";
    hide.addEventListener("click", () => change(item, photo, "hide"));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "danger";
    remove.textContent = "Delete";
    remove.addEventListener("click", () => {
      if (window.confirm("Delete " + photo.name + " for good?")) {
        change(item, photo, "delete");
      }
    });
    buttons.append(hide, remove);
    item.append(image, name, buttons);
    return item;
  }

  async function change(item, photo, action) {
    const url = "/admin/photos/" + encodeURIComponent(photo.name) + "/" +
      action;
    try {
      await json(url, {method: "POST",
                       headers: {"Content-Type": "application/json"},
                       body: JSON.stringify({confirm: action === "delete"})});
      item.remove();
    } catch (e) {
      item.querySelector(".name").textContent = e.message;
    }
  }

  async function photos(reset) {
    if (reset) {
      urls.forEach((url) => URL.revokeObjectURL(url));
      urls = [];
      shown = 0;
      $("photos").replaceChildren();
    }
    try {
      const page = await json("/photos?limit=" + PAGE + "&offset=" + shown);
      page.photos.forEach((photo) => $("photos").appendChild(card(photo)));
      shown += page.photos.length;
      $("more").hidden = !page.next;
    } catch (e) {
      $("problem").hidden = false;
      $("problem").textContent = "The gallery cannot be read: " + e.message;
    }
  }
  $("more").addEventListener("click", () => photos(false));

  refresh().then(cameraInfo).then(() => photos(true));
  setInterval(refresh, 5000);
  setInterval(cameraInfo, 30000);
})();
