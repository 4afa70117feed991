/* The gallery: /photos, newest first, a page at a time; each card a
 * thumbnail (/thumbnails/NAME) and a download of the photo itself.
 * Images are fetched with the token and shown from object URLs, since
 * an <img> cannot send it. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 24;
  let offset = 0;
  let urls = [];

  function card(photo) {
    const item = document.createElement("li");
    item.dataset.name = photo.name;
    item.dataset.kind = photo.kind || "photo";
    const image = document.createElement("img");
    image.alt = photo.name;
    image.loading = "lazy";
    FourcutAuth.blobURL("/thumbnails/" + encodeURIComponent(photo.name))
      .then((url) => { urls.push(url); image.src = url; })
      .catch(() => { image.alt = photo.name + " (no preview)"; });
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = photo.kind === "strip" ?
      "strip (" + photo.layout + ")" : "photo";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = photo.name + " \u00b7 " +
      new Date(photo.time).toLocaleString();
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
    item.append(image, kind, name);
    if (photo.kind === "strip") {
      const shots = document.createElement("span");
      shots.className = "shots";
      shots.textContent = "shots: " + photo.shots.join(", ");
      item.appendChild(shots);
    }
    item.appendChild(download);
    return item;
  }

  async function load() {
    document.body.dataset.state = "loading";
    urls.forEach((url) => URL.revokeObjectURL(url));
    urls = [];
    const stripsOnly = $("strips-only").checked;
    // Strips only: a larger page, filtered here (/photos lists both).
    const limit = stripsOnly ? 500 : PAGE;
    let listing;
    try {
      const response = await FourcutAuth.fetch(
        "/photos?limit=" + limit + "&offset=" + offset,
        {headers: {Accept: "application/json"}});
      listing = await response.json();
      if (!response.ok) throw new Error(listing.error || response.status);
    } catch (e) {
      $("problem").textContent = "The photos cannot be listed: " + e.message;
      $("problem").hidden = false;
      document.body.dataset.state = "problem";
      return;
    }
    $("problem").hidden = true;
    let photos = listing.photos;
    if (stripsOnly) photos = photos.filter((p) => p.kind === "strip");
    const list = $("photos");
    list.textContent = "";
    photos.forEach((photo) => list.appendChild(card(photo)));
    $("empty").hidden = photos.length > 0;
    $("newer").disabled = offset === 0;
    $("older").disabled = offset + limit >= listing.total;
    $("page").textContent = listing.total ?
      (offset + 1) + "\u2013" + Math.min(offset + limit, listing.total) +
      " of " + listing.total : "";
    document.body.dataset.state = "ready";
  }

  $("newer").addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE); load();
  });
  $("older").addEventListener("click", () => { offset += PAGE; load(); });
  $("strips-only").addEventListener("change", () => { offset = 0; load(); });
  load();
})();
