/* The guests' gallery: the booth's strips only (/photos?kind=strip, so
 * captures made through the API stay out), newest first, a page at a
 * time; each card a picture (/photos/NAME, fetched with the token: an
 * <img> cannot send it), when it was taken as 2026-12-07 21:04 (the same
 * in every locale, and never broken in two), and a download button. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 12;
  let offset = 0;
  let urls = [];

  const two = (n) => String(n).padStart(2, "0");

  /* 2026-12-07 21:04, in this browser's time zone. */
  function when(iso) {
    const d = new Date(iso);
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" +
      two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
  }

  function card(photo) {
    const item = document.createElement("li");
    item.dataset.name = photo.name;
    item.dataset.kind = photo.kind || "photo";
    const image = document.createElement("img");
    image.alt = "a strip taken " + when(photo.time);
    FourcutAuth.blobURL(photo.url)
      .then((url) => { urls.push(url); image.src = url; })
      .catch(() => { image.alt = "(this strip cannot be shown)"; });
    const time = document.createElement("span");
    time.className = "when";
    time.textContent = when(photo.time);
    const download = document.createElement("a");
    download.className = "download";
    download.href = photo.url;
    download.textContent = "Download";
    download.addEventListener("click", async (event) => {
      event.preventDefault();
      const url = await FourcutAuth.blobURL(photo.url);
      const link = document.createElement("a");
      link.href = url;
      link.download = photo.name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
    item.append(image, time, download);
    return item;
  }

  async function load() {
    document.body.dataset.state = "loading";
    urls.forEach((url) => URL.revokeObjectURL(url));
    urls = [];
    let listing;
    try {
      const response = await FourcutAuth.fetch(
        "/photos?kind=strip&limit=" + PAGE + "&offset=" + offset,
        {headers: {Accept: "application/json"}});
      listing = await response.json();
      if (!response.ok) throw new Error(listing.error || response.status);
    } catch (e) {
      $("problem").textContent =
        "The gallery cannot be shown just now. Please try again later.";
      $("problem").hidden = false;
      document.body.dataset.state = "problem";
      return;
    }
    $("problem").hidden = true;
    const list = $("photos");
    list.textContent = "";
    listing.photos.forEach((photo) => list.appendChild(card(photo)));
    $("empty").hidden = listing.photos.length > 0;
    $("newer").disabled = offset === 0;
    $("older").disabled = offset + PAGE >= listing.total;
    const pages = Math.max(1, Math.ceil(listing.total / PAGE));
    $("page").textContent = "page " + (Math.floor(offset / PAGE) + 1) +
      " of " + pages;
    // One page: no greyed-out Newer and Older to puzzle a guest.
    document.querySelector("header nav").style.visibility =
      pages > 1 ? "" : "hidden";
    document.body.dataset.state = "ready";
  }

  fetch("/booth/config.json").then((r) => r.json()).then((settings) => {
    if (settings.event_name) {
      $("title").textContent = settings.event_name;
      document.title = settings.event_name + " \u00b7 gallery";
    }
  }).catch(() => {});
  $("newer").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE); load();
  });
  $("older").addEventListener("click", () => { offset += PAGE; load(); });
  load();
})();
