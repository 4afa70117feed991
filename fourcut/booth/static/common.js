/* fourcut's pages: the access token, asked for once and kept.
 *
 * A page served by fourcut holds no secret: when the server needs the
 * token (access.token), the page asks for it once, keeps it in this
 * browser's localStorage and sends it as "Authorization: Bearer" (HTTP)
 * or in the WebSocket "auth" message, never in a URL.
 */
"use strict";

const FourcutAuth = (() => {
  const KEY = "fourcut.token";
  let asking = null;

  function token() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function forget() {
    try { localStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  }

  function keep(value) {
    try { localStorage.setItem(KEY, value); } catch (e) { /* private mode */ }
  }

  /* Show the token form; resolves with what was typed (and keeps it). */
  function ask(why) {
    if (asking) return asking;
    const form = document.getElementById("auth");
    const input = document.getElementById("auth-token");
    const reason = document.getElementById("auth-reason");
    reason.textContent = why || "This booth needs its access token.";
    form.hidden = false;
    input.value = "";
    input.focus();
    asking = new Promise((resolve) => {
      form.onsubmit = (event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        keep(value);
        form.hidden = true;
        asking = null;
        resolve(value);
      };
    });
    return asking;
  }

  /* fetch() with the token; a 401 asks for it again and retries. */
  async function fetchWithToken(url, options) {
    for (;;) {
      const headers = Object.assign({}, (options || {}).headers);
      const value = token();
      if (value) headers.Authorization = "Bearer " + value;
      const response = await fetch(url, Object.assign({}, options,
                                                      {headers}));
      if (response.status !== 401) return response;
      forget();
      await ask(value ? "That token is wrong: type it again."
                      : "This booth needs its access token.");
    }
  }

  /* An object URL of what url answers (for <img>, which cannot send
   * the token). */
  async function blobURL(url) {
    const response = await fetchWithToken(url);
    if (!response.ok) throw new Error(url + ": " + response.status);
    return URL.createObjectURL(await response.blob());
  }

  return {token, forget, keep, ask, fetch: fetchWithToken, blobURL};
})();
