/* policyqa API key (POLICYQA_API_KEY): asked for once, when the server first answers 401, and kept
 * in sessionStorage (gone when the tab closes), as the library's admin token is. app.js and
 * library.js send their API calls through window.policyqaKey.fetch, which adds
 * `Authorization: Bearer <key>` and, on a 401, asks for the key and tries once more.
 *
 * Same safety rule as app.js: text goes into the page as text nodes only.
 */
"use strict";

window.policyqaKey = (() => {
  const STORE = "policyqa-api-key";
  let waiting = null; // the promise of the key being typed, shared by every request that needs it

  const get = () => sessionStorage.getItem(STORE) || "";

  function headers(extra = {}) {
    const key = get();
    return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
  }

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    for (const child of children) node.append(child);
    return node;
  }

  /** Shows the key form; resolves with the key once it is saved. */
  function ask(reason) {
    if (waiting) return waiting;
    waiting = new Promise((resolve) => {
      const input = el("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "API key" });
      const save = el("button", { type: "submit", class: "primary", id: "api-key-save" }, ["保存 Save"]);
      const form = el("form", { class: "key-dialog", id: "api-key-form", role: "dialog", "aria-modal": "true",
        "aria-labelledby": "api-key-title" }, [
        el("p", { id: "api-key-title", class: "key-title" }, [
          reason || "此服务需要访问密钥 · This service needs an API key (POLICYQA_API_KEY)."]),
        el("label", { for: "api-key" }, ["访问密钥 API key"]), input, save,
      ]);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const value = input.value.trim();
        if (!value) { input.focus(); return; }
        sessionStorage.setItem(STORE, value);
        form.remove();
        waiting = null;
        resolve(value);
      });
      document.body.append(form);
      input.focus();
    });
    return waiting;
  }

  /** fetch with the key; a 401 asks for the key (once for all waiting requests) and retries. */
  async function keyedFetch(url, options = {}) {
    const response = await fetch(url, { ...options, headers: headers(options.headers || {}) });
    if (response.status !== 401) return response;
    const hadKey = Boolean(get());
    sessionStorage.removeItem(STORE);
    await ask(hadKey ? "密钥不正确，请重新输入 · The API key was not accepted; enter it again." : undefined);
    return fetch(url, { ...options, headers: headers(options.headers || {}) });
  }

  return { headers, ask, fetch: keyedFetch, forget: () => sessionStorage.removeItem(STORE) };
})();
