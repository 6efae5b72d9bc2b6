/* policyqa document library ("文档库 Documents"): list, upload (button and drag-and-drop,
 * per-file progress: upload bytes, then the indexing job), delete with confirmation.
 *
 * Same safety rule as app.js: text from the API or the user goes in as text nodes only.
 * The admin token is asked for once and kept in sessionStorage (gone when the tab closes); so is
 * the API key, by key.js, whose fetch every call here goes through.
 */
"use strict";

(() => {
  const TOKEN_KEY = "policyqa-admin-token";
  const POLL_MS = 500;
  const FORMATS = { pdf: "PDF", image: "图片 Image", docx: "Word", html: "网页 HTML", markdown: "Markdown", text: "文本 Text" };

  function el(tag, options = {}, children = []) {
    const node = document.createElement(tag);
    if (options.className) node.className = options.className;
    if (options.text !== undefined) node.textContent = String(options.text);
    for (const [k, v] of Object.entries(options.attrs || {})) node.setAttribute(k, String(v));
    for (const child of children) node.append(child);
    return node;
  }

  const openButton = document.getElementById("library-open");
  if (!openButton) return;

  /* ---------- the view ---------- */

  const title = el("h2", { text: "文档库 Documents", attrs: { id: "library-title", tabindex: "-1" } });
  const closeButton = el("button", { className: "close", text: "关闭 Close", attrs: { type: "button", id: "library-close" } });
  const tokenInput = el("input", { attrs: { id: "library-token", type: "password", autocomplete: "off", placeholder: "X-Admin-Token" } });
  const tokenSave = el("button", { className: "primary", text: "保存 Save", attrs: { type: "button", id: "library-token-save" } });
  const tokenRow = el("div", { className: "lib-token", attrs: { id: "library-token-row", hidden: "" } }, [
    el("label", { text: "管理令牌 Admin token", attrs: { for: "library-token" } }), tokenInput, tokenSave,
  ]);
  const fileInput = el("input", { attrs: { id: "library-files", type: "file", multiple: "",
    accept: ".pdf,.png,.jpg,.jpeg,.docx,.html,.htm,.md,.markdown,.txt" } });
  const pickButton = el("button", { className: "primary", text: "上传文件 Upload files", attrs: { type: "button", id: "library-pick" } });
  const drop = el("div", { className: "lib-drop", attrs: { id: "library-drop", tabindex: "0" } }, [
    el("p", { text: "把文件拖到这里，或 · Drop files here, or" }), pickButton, fileInput,
    el("p", { className: "lib-hint", text: "PDF（含扫描件）、PNG/JPEG、Word (.docx)、网页 HTML、Markdown、文本 · scanned PDFs are read by OCR" }),
  ]);
  const uploads = el("ul", { className: "lib-uploads", attrs: { id: "library-uploads", "aria-live": "polite" } });
  const message = el("p", { className: "lib-message", attrs: { id: "library-message", role: "alert", hidden: "" } });
  const tbody = el("tbody", { attrs: { id: "library-rows" } });
  const table = el("table", { className: "lib-table" }, [
    el("thead", {}, [el("tr", {}, ["标题 Title", "格式 Format", "页数 Pages", "段落 Passages", "添加时间 Added", "状态 Status", ""]
      .map((h) => el("th", { text: h, attrs: { scope: "col" } })))]),
    tbody,
  ]);
  const view = el("section", { className: "library", attrs: { id: "library-view", role: "dialog", "aria-modal": "true",
    "aria-labelledby": "library-title", hidden: "" } }, [
    el("div", { className: "lib-box" }, [
      el("div", { className: "lib-head" }, [title, closeButton]), tokenRow, message, drop, uploads,
      el("div", { className: "lib-table-wrap" }, [table]),
    ]),
  ]);
  document.body.append(view);

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  /* ---------- token ---------- */

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  function askToken(reason) {
    tokenRow.hidden = false;
    show(reason || "请输入管理令牌 · Enter the admin token (POLICYQA_ADMIN_TOKEN) to change the library.");
    tokenInput.focus();
  }

  tokenSave.addEventListener("click", () => {
    const value = tokenInput.value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    tokenInput.value = "";
    tokenRow.hidden = true;
    show("");
    if (waiting.length) startUploads(waiting.splice(0));
  });
  tokenInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); tokenSave.click(); } });

  /* ---------- list ---------- */

  function formatAdded(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  async function refresh() {
    let body;
    try {
      const r = await window.policyqaKey.fetch("/api/documents", { headers: { Accept: "application/json" } });
      body = await r.json();
      if (!r.ok) throw new Error(body && body.detail ? body.detail : `HTTP ${r.status}`);
    } catch (err) {
      show(`无法加载文档列表 · Could not load the documents: ${err.message || err}`);
      return;
    }
    tbody.replaceChildren(...body.documents.map(row));
  }

  function row(d) {
    const cells = [
      el("td", { className: "lib-title", text: d.title || d.source, attrs: { title: d.source } }),
      el("td", { text: FORMATS[d.format] || d.format }),
      el("td", { text: d.pages == null ? "—" : d.pages }),
      el("td", { text: d.passages }),
      el("td", { text: d.origin === "seed" ? "内置 built-in" : formatAdded(d.added) }),
      el("td", { text: d.status === "ready" ? "可检索 Ready" : "处理中 Processing" }),
    ];
    const actions = el("td");
    if (d.origin === "library" && d.status === "ready") {
      const del = el("button", { className: "ghost lib-delete", text: "删除 Delete",
        attrs: { type: "button", "data-source": d.source, "aria-label": `删除 Delete ${d.source}` } });
      del.addEventListener("click", () => remove(d.source));
      actions.append(del);
    }
    cells.push(actions);
    return el("tr", { attrs: { "data-source": d.source } }, cells);
  }

  /* ---------- jobs ---------- */

  function pollJob(jobId, onUpdate) {
    return new Promise((resolve) => {
      const tick = async () => {
        try {
          const r = await window.policyqaKey.fetch(`/api/jobs/${encodeURIComponent(jobId)}`, { headers: { Accept: "application/json" } });
          const job = await r.json();
          onUpdate(job);
          if (job.status === "done" || job.status === "failed") return resolve(job);
        } catch (err) { /* a blip: try again */ }
        setTimeout(tick, POLL_MS);
      };
      tick();
    });
  }

  function jobText(job) {
    if (job.status === "queued") return "排队中 Queued";
    if (job.status === "done") return "完成，可检索 Done, searchable";
    if (job.status === "failed") return `失败 Failed: ${job.reason || ""}`;
    return `处理中 ${job.message || job.stage || ""}`;
  }

  function documentsChanged() {
    if (window.policyqa && window.policyqa.forgetDocuments) window.policyqa.forgetDocuments();
    refresh();
  }

  /* ---------- upload ---------- */

  const waiting = [];

  function startUploads(files) {
    if (!token()) {
      waiting.push(...files);
      askToken();
      return;
    }
    for (const file of files) uploadOne(file);
  }

  function uploadOne(file) {
    const status = el("span", { className: "lib-status", text: "等待 Waiting" });
    const bar = el("progress", { attrs: { max: "100", value: "0" } });
    const item = el("li", { className: "lib-upload", attrs: { "data-name": file.name } }, [
      el("span", { className: "lib-file", text: file.name }), bar, status,
    ]);
    uploads.prepend(item);
    const form = new FormData();
    form.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents");
    xhr.setRequestHeader("X-Admin-Token", token());
    for (const [name, value] of Object.entries(window.policyqaKey.headers())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      bar.value = pct / 2; // the upload is the first half; indexing the second
      status.textContent = `上传 Uploading ${pct}%`;
    });
    xhr.addEventListener("error", () => { item.dataset.state = "failed"; status.textContent = "上传失败 Upload failed: no connection"; });
    xhr.addEventListener("load", async () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status === 401) { // the API key (key.js): ask for it, then send this file again
        item.remove();
        window.policyqaKey.forget();
        window.policyqaKey.ask().then(() => uploadOne(file));
        return;
      }
      if (xhr.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        item.remove();
        waiting.push(file);
        askToken("令牌不正确 · The admin token was not accepted; enter it again.");
        return;
      }
      if (xhr.status !== 202 || !body || !body.job_id) {
        item.dataset.state = "failed";
        status.textContent = `失败 Failed: ${(body && body.detail) || "HTTP " + xhr.status}`;
        return;
      }
      item.dataset.job = body.job_id;
      const job = await pollJob(body.job_id, (j) => {
        status.textContent = jobText(j);
        if (j.progress && j.progress.total) bar.value = 50 + (50 * j.progress.done) / j.progress.total;
      });
      bar.value = 100;
      item.dataset.state = job.status;
      status.textContent = jobText(job);
      documentsChanged();
    });
    xhr.send(form);
  }

  pickButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    startUploads(Array.from(fileInput.files || []));
    fileInput.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    startUploads(Array.from((e.dataTransfer && e.dataTransfer.files) || []));
  });

  /* ---------- delete ---------- */

  async function remove(source) {
    if (!window.confirm(`删除《${source}》？它的段落将不再出现在回答中。\nDelete ${source}? Its passages will no longer be searched.`)) return;
    if (!token()) { askToken(); return; }
    const r = await window.policyqaKey.fetch(`/api/documents/${encodeURIComponent(source)}`, {
      method: "DELETE", headers: { "X-Admin-Token": token(), Accept: "application/json" } });
    let body = null;
    try { body = await r.json(); } catch { body = null; }
    if (r.status === 403) { sessionStorage.removeItem(TOKEN_KEY); askToken("令牌不正确 · The admin token was not accepted."); return; }
    if (!r.ok) { show(`删除失败 Delete failed: ${(body && body.detail) || r.status}`); return; }
    show(`正在删除 Deleting ${source}…`);
    const job = await pollJob(body.job_id, () => {});
    show(job.status === "done" ? `已删除 Deleted ${source}` : `删除失败 Delete failed: ${job.reason}`);
    documentsChanged();
  }

  /* ---------- open / close ---------- */

  function open() {
    view.hidden = false;
    document.body.classList.add("library-open");
    title.focus();
    refresh();
  }

  function close() {
    view.hidden = true;
    document.body.classList.remove("library-open");
    openButton.focus();
  }

  openButton.addEventListener("click", open);
  closeButton.addEventListener("click", close);
  view.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });
})();
