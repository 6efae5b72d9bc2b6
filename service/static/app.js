/* policyqa chat page.
 *
 * Safety rule for this file: every piece of text that comes from the user, the API or a
 * document is put into the page with textContent / text nodes (Node.append with a string),
 * never with innerHTML, insertAdjacentHTML or document.write.
 */
"use strict";

(() => {
  const MAX_QUERY_CHARS = 2000;
  const REQUEST_TIMEOUT_MS = 60000;
  const IDLE_TIMEOUT_MS = 90000; // a streamed answer may take long, but not silently
  const MAX_HISTORY = 12; // messages sent back for follow-ups (the server uses the last 6)
  const NOT_FOUND = "未在文档中找到答案 / Not found in the documents";

  const byId = (id) => document.getElementById(id);
  const els = {
    form: byId("ask-form"),
    question: byId("question"),
    send: byId("send"),
    validation: byId("validation"),
    mode: byId("mode"),
    topk: byId("topk"),
    newChat: byId("new-chat"),
    stop: byId("stop"),
    scroller: byId("scroller"),
    welcome: byId("welcome"),
    conversation: byId("conversation"),
    panel: byId("doc-panel"),
    docTitle: byId("doc-title"),
    docMeta: byId("doc-meta"),
    docBody: byId("doc-body"),
    docClose: byId("doc-close"),
  };
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  /* ---------- small DOM helpers (text only) ---------- */

  function el(tag, options = {}, children = []) {
    const node = document.createElement(tag);
    if (options.className) node.className = options.className;
    if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
    if (options.attrs) {
      for (const [name, value] of Object.entries(options.attrs)) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child); // strings become text nodes
    }
    return node;
  }

  /** "中文 English" label: the English part marked lang=en. */
  function bilingual(zh, en, className) {
    return el("span", { className }, [zh + " ", el("span", { text: en, attrs: { lang: "en" } })]);
  }

  /* ---------- query-term highlighting ---------- */

  const CJK_RUN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g;
  const LATIN_WORD = /[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*/g;
  const CJK_STOP = new Set([
    "哪些", "什么", "怎么", "怎样", "如何", "是否", "可以", "能否", "能够", "为什么", "多少", "哪里",
    "是什", "么时", "时候", "的是", "我们", "有哪", "有什", "请问",
  ]);
  const LATIN_STOP = new Set([
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "of", "for", "to", "in", "on", "at", "by",
    "and", "or", "what", "which", "who", "whom", "how", "why", "when", "where", "does", "do", "did", "can",
    "could", "should", "would", "will", "i", "it", "its", "this", "that", "with", "as", "from", "there",
    "any", "my", "me", "we", "you", "if", "about", "into", "than", "then",
  ]);

  /** Terms of a query to highlight: CJK bigrams (single characters only for one-character runs
   *  when nothing else is found) and Latin words, lower-cased, without stop words. */
  function queryTerms(query) {
    const terms = new Set();
    const singles = new Set();
    for (const [run] of query.matchAll(CJK_RUN)) {
      if (run.length === 1) {
        singles.add(run);
        continue;
      }
      for (let i = 0; i + 2 <= run.length; i++) {
        const bigram = run.slice(i, i + 2);
        if (!CJK_STOP.has(bigram)) terms.add(bigram);
      }
    }
    for (const [word] of query.matchAll(LATIN_WORD)) {
      const w = asciiLower(word);
      if (!LATIN_STOP.has(w) && (w.length > 1 || /\d/.test(w))) terms.add(w);
    }
    if (terms.size === 0) for (const s of singles) terms.add(s);
    return [...terms];
  }

  /** Lower-cases ASCII letters only, so that string offsets stay the same. */
  function asciiLower(s) {
    return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }

  const isWordChar = (ch) => ch !== undefined && /[A-Za-z0-9]/.test(ch);

  /** Merged [start, end) ranges of `text` where any term occurs. */
  function termRanges(text, terms) {
    const hay = asciiLower(text);
    const ranges = [];
    for (const term of terms) {
      const latin = /^[a-z0-9]/.test(term);
      let from = 0;
      for (;;) {
        const at = hay.indexOf(term, from);
        if (at < 0) break;
        const end = at + term.length;
        // Latin words match at word starts (so "land" finds "land" and "lands", not "island").
        if (!latin || !isWordChar(hay[at - 1])) ranges.push([at, end]);
        from = at + 1;
      }
    }
    ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    return merged;
  }

  /** A fragment of text nodes and <mark> elements for `text` with the terms highlighted. */
  function highlighted(text, terms) {
    const frag = document.createDocumentFragment();
    let pos = 0;
    for (const [start, end] of termRanges(text, terms)) {
      if (start > pos) frag.append(document.createTextNode(text.slice(pos, start)));
      const mark = document.createElement("mark");
      mark.className = "term";
      mark.textContent = text.slice(start, end);
      frag.append(mark);
      pos = end;
    }
    if (pos < text.length) frag.append(document.createTextNode(text.slice(pos)));
    return frag;
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function detailOf(body, response) {
    if (body && typeof body.detail === "string" && body.detail.trim()) return body.detail;
    if (body && Array.isArray(body.detail)) {
      const parts = body.detail.map((d) => (d && typeof d.msg === "string" ? d.msg : "")).filter(Boolean);
      if (parts.length) return parts.join("; ");
    }
    return `HTTP ${response.status} ${response.statusText || ""}`.trim();
  }

  async function apiFetch(url, options = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await window.policyqaKey.fetch(url, { ...options, signal: controller.signal, headers: { Accept: "application/json", ...(options.headers || {}) } });
    } catch (err) {
      if (err && err.name === "AbortError") {
        throw new ApiError("请求超时，请稍后重试。 The request timed out; please try again.", 0);
      }
      throw new ApiError("无法连接到服务，请检查网络后重试。 Could not reach the service; check the connection and try again.", 0);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) throw new ApiError(detailOf(body, response), response.status);
    if (body === null) throw new ApiError("服务返回了无法解析的响应。 The service sent a response that is not JSON.", response.status);
    return body;
  }

  /* ---------- chat stream (POST /api/chat, Server-Sent Events) ---------- */

  /** Posts the conversation and calls onEvent(name, data) for each Server-Sent Event.
   *  Aborts when `signal` fires (the stop button) or after IDLE_TIMEOUT_MS without data. */
  async function streamChat(messages, topK, mode, signal, onEvent) {
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
    const stopAll = () => idle.abort();
    signal.addEventListener("abort", stopAll);
    let response;
    try {
      response = await window.policyqaKey.fetch("/api/chat", { // asks for the API key on a 401 (key.js)
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ messages, top_k: topK, mode, stream: true }),
        signal: idle.signal,
      });
      if (!response.ok) {
        let body = null;
        try {
          body = await response.json();
        } catch {
          body = null;
        }
        throw new ApiError(detailOf(body, response), response.status);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        }
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err && err.name === "AbortError") {
        if (signal.aborted) throw new ApiError("STOPPED", 0);
        throw new ApiError("请求超时，请稍后重试。 The request timed out; please try again.", 0);
      }
      if (err instanceof SyntaxError) {
        throw new ApiError("服务返回了无法解析的响应。 The service sent a response that could not be read.", 0);
      }
      throw new ApiError("无法连接到服务，请检查网络后重试。 Could not reach the service; check the connection and try again.", 0);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stopAll);
    }
  }

  const documentCache = new Map(); // source -> Promise<document>

  function getDocument(source) {
    if (!documentCache.has(source)) {
      const promise = apiFetch(`/api/documents/${encodeURIComponent(source)}`).catch((err) => {
        documentCache.delete(source); // do not cache failures
        throw err;
      });
      documentCache.set(source, promise);
    }
    return documentCache.get(source);
  }

  // The library view (library.js) drops cached documents after an upload or delete.
  window.policyqa = { forgetDocuments: () => documentCache.clear() };

  /* ---------- validation ---------- */

  function showValidation(message, field) {
    els.validation.textContent = message;
    els.validation.hidden = false;
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }

  function clearValidation() {
    els.validation.hidden = true;
    els.validation.textContent = "";
    els.question.removeAttribute("aria-invalid");
    els.topk.removeAttribute("aria-invalid");
  }

  /* ---------- conversation ---------- */

  let pending = false;
  let controller = null; // aborts the answer being streamed (the stop button)
  const history = []; // the conversation so far, sent with each question for follow-ups

  function setPending(on) {
    pending = on;
    els.send.disabled = on;
    els.stop.hidden = !on;
    els.form.setAttribute("aria-busy", on ? "true" : "false");
  }

  async function ask(raw) {
    if (pending) return;
    const query = raw.trim();
    if (!query) {
      showValidation("请输入问题后再发送。 Please type a question first.", els.question);
      return;
    }
    if (query.length > MAX_QUERY_CHARS) {
      showValidation(`问题太长（${query.length} 字），上限为 ${MAX_QUERY_CHARS} 字。 The question is ${query.length} characters long; the limit is ${MAX_QUERY_CHARS}.`, els.question);
      return;
    }
    const topK = Number(els.topk.value);
    if (!Number.isInteger(topK) || topK < 1 || topK > 50) {
      showValidation("段落数须为 1 到 50 的整数。 Passages must be a whole number from 1 to 50.", els.topk);
      return;
    }
    clearValidation();
    const mode = els.mode.value;

    els.welcome.hidden = true;
    els.newChat.hidden = false;
    const turn = el("article", { className: "turn", attrs: { "aria-label": "问答 Question and answer" } });
    const userMsg = el("div", { className: "msg user" }, [
      el("p", { className: "sr-only", text: "你的问题 Your question:" }),
      el("p", { className: "bubble", text: query }),
    ]);
    const reply = el("div", { className: "msg bot loading", attrs: { "aria-busy": "true" } }, [
      el("span", { className: "spinner", attrs: { "aria-hidden": "true" } }),
      bilingual("正在检索…", "Searching…"),
    ]);
    turn.append(userMsg, reply);
    els.conversation.append(turn);
    scrollToTurn(turn);
    els.question.value = "";
    controller = new AbortController();
    setPending(true);
    const messages = [...history.slice(-MAX_HISTORY), { role: "user", content: query }];
    const view = { reply, query, mode, passages: [], answer: null, streamed: "", answerText: null, meta: null };
    try {
      await streamChat(messages, topK, mode, controller.signal, (name, data) => onChatEvent(view, name, data));
      if (view.answer) {
        history.push({ role: "user", content: query }, { role: "assistant", content: view.answer.text });
      } else if (!view.failed) {
        throw new ApiError("回答不完整。 The answer was cut off.", 0);
      }
    } catch (err) {
      if (err instanceof ApiError && err.message === "STOPPED") {
        markStopped(view);
      } else if (view.answerText) {
        markFailed(view, err); // passages are shown; keep them and say what went wrong
      } else {
        renderError(reply, err);
        if (!els.question.value) els.question.value = query; // keep the question for a retry
      }
    } finally {
      controller = null;
      setPending(false);
      scrollToTurn(turn);
    }
  }

  function onChatEvent(view, name, data) {
    if (name === "passages") {
      view.passages = Array.isArray(data.passages) ? data.passages : [];
      renderSkeleton(view, data.rewritten_query);
    } else if (name === "delta" && view.answerText) {
      view.streamed += String(data.text || "");
      view.answerText.textContent = view.streamed;
      view.answerText.classList.add("streaming");
    } else if (name === "answer" && view.answerText) {
      view.answer = data;
      renderAnswer(view, data);
    } else if (name === "done" && view.meta) {
      const total = data.timings_ms && data.timings_ms.total;
      if (typeof total === "number") view.meta.append(` · ${Math.round(total)} ms`);
    } else if (name === "error") {
      view.failed = true;
      const err = new ApiError(String(data.detail || "error"), data.status || 0);
      if (view.answerText) markFailed(view, err);
      else renderError(view.reply, err);
    }
  }

  function scrollToTurn(turn) {
    // Show the new turn from its top (the question), without jumping past the answer.
    const offset = turn.getBoundingClientRect().top - els.scroller.getBoundingClientRect().top;
    const top = Math.max(0, els.scroller.scrollTop + offset - 12);
    els.scroller.scrollTo({ top, behavior: reducedMotion.matches ? "auto" : "smooth" });
  }

  function renderError(reply, err) {
    reply.className = "msg bot error";
    reply.removeAttribute("aria-busy");
    const status = err instanceof ApiError && err.status ? ` (HTTP ${err.status})` : "";
    reply.replaceChildren(
      el("p", { className: "error-title" }, [bilingual("出错了", "Error"), status]),
      el("p", { className: "error-detail", text: err && err.message ? err.message : String(err) }),
    );
  }

  function markStopped(view) {
    if (!view.answerText) {
      view.reply.className = "msg bot stopped";
      view.reply.removeAttribute("aria-busy");
      view.reply.replaceChildren(el("p", { className: "stopped-note" }, [bilingual("已停止。", "Stopped.")]));
      return;
    }
    view.answerText.classList.remove("streaming");
    view.answerText.after(el("p", { className: "stopped-note" }, [bilingual("已停止，回答不完整。", "Stopped; the answer is incomplete.")]));
  }

  function markFailed(view, err) {
    view.answerText.classList.remove("streaming");
    view.answerText.after(el("p", { className: "error-detail", text: err && err.message ? err.message : String(err) }));
  }

  /** After retrieval: the answer box (filled as the answer streams in) and the passage cards. */
  function renderSkeleton(view, rewritten) {
    const reply = view.reply;
    reply.className = "msg bot";
    reply.removeAttribute("aria-busy");
    const terms = queryTerms(rewritten || view.query);
    const passages = view.passages;

    const answerBox = el("section", { className: "answer", attrs: { "aria-label": "回答 Answer" } });
    answerBox.append(el("p", { className: "section-label" }, [bilingual("回答", "Answer")]));
    if (rewritten && rewritten !== view.query) {
      answerBox.append(el("p", { className: "rewritten" }, [bilingual("按此检索：", "Searched as:"), " ", el("q", { text: rewritten })]));
    }
    view.answerText = el("p", { className: "answer-text streaming", attrs: { "aria-live": "off" } }, [bilingual("正在回答…", "Answering…")]);
    answerBox.append(view.answerText);
    view.sources = el("p", { className: "sources" });
    answerBox.append(view.sources);
    view.meta = el("p", { className: "reply-meta", text: `${modeLabel(view.mode)} · ${passages.length} 段 passages` });
    answerBox.append(view.meta);
    view.terms = terms;

    const children = [answerBox];
    if (passages.length) {
      const list = el("ol", { className: "passages", attrs: { "aria-label": "检索到的段落 Retrieved passages" } });
      for (const p of passages) list.append(passageCard(p, terms));
      children.push(el("p", { className: "section-label passages-label" }, [bilingual("相关段落", "Passages")]), list);
    } else {
      children.push(el("p", { className: "empty-passages" }, [bilingual("没有检索到相关段落。", "No passages were found.")]));
    }
    reply.replaceChildren(...children);
  }

  /** The checked answer: each sentence with its own citations; unsupported ones marked. */
  function renderAnswer(view, answer) {
    const byRank = new Map(view.passages.map((p) => [p.rank, p]));
    const box = view.answerText;
    box.classList.remove("streaming");
    box.replaceChildren();
    const sentences = Array.isArray(answer.sentences) ? answer.sentences : [];
    if (!sentences.length) {
      box.classList.add("not-found");
      box.append(NOT_FOUND);
      if (answer.abstain_reason) box.append(el("span", { className: "abstain-reason", text: ` — ${answer.abstain_reason}` }));
    }
    sentences.forEach((s, i) => {
      const node = el("span", { className: s.supported ? "sentence" : "sentence unsupported" });
      const text = String(s.text || "");
      const span = i === 0 && answer.span ? answer.span : null;
      const at = span && s.char_start !== null ? span.char_start - s.char_start : -1;
      if (span && at >= 0 && text.slice(at, at + span.text.length) === span.text) {
        node.append(highlighted(text.slice(0, at), view.terms), el("strong", { className: "answer-span", text: span.text }),
          highlighted(text.slice(at + span.text.length), view.terms));
      } else {
        node.append(highlighted(text, view.terms));
      }
      const evidence = new Map((s.evidence || []).map((e) => [e.n, e]));
      for (const n of s.citations || []) {
        const passage = byRank.get(n);
        const ev = evidence.get(n);
        if (passage) node.append(citeButton(passage, ev ? { start: ev.char_start, end: ev.char_end } : null, true));
        else node.append(el("span", { className: "cite-missing", text: `[${n}]` }));
      }
      if (!s.supported) {
        const why = s.problem || "not supported by the cited passage";
        node.setAttribute("title", `未经原文证实 Not supported: ${why}`);
        node.append(el("span", { className: "unsupported-tag", text: `未经原文证实 Unsupported: ${why}` }));
      }
      box.append(node);
    });
    if (answer.table && Array.isArray(answer.table.header) && Array.isArray(answer.table.row)) {
      box.append(answerTable(answer.table));
    }
    if (view.passages.length) {
      view.sources.replaceChildren(bilingual("引用", "Sources", "sources-label"));
      for (const p of view.passages) view.sources.append(" ", citeButton(p, null));
    }
    const who = answer.llm ? bilingual(`由 ${answer.llm} 生成`, `Written by ${answer.llm}`, "answered-by llm")
      : bilingual("抽取式回答", "Extractive answer", "answered-by extractive");
    view.meta.prepend(who, " · ");
    if (answer.llm_error) {
      box.after(el("p", { className: "llm-error", text: `LLM 未能回答，以下为抽取式回答 · The LLM failed (${answer.llm_error}); this is the extractive answer.` }));
    }
  }

  /** A cell answer's row under its header, the answer's column marked (textContent only). */
  function answerTable(table) {
    const node = el("table", { className: "doc-table answer-table" });
    if (table.caption) node.append(el("caption", { text: String(table.caption) }));
    const head = el("tr"), row = el("tr");
    table.header.forEach((name, i) => {
      const asked = name === table.column;
      head.append(el("th", { text: String(name), attrs: { scope: "col" } }));
      const cell = String(table.row[i] === undefined ? "" : table.row[i]);
      row.append(el("td", { className: asked ? "answer-cell" : "" }, [asked ? el("strong", { text: cell }) : cell]));
    });
    node.append(el("thead", {}, [head]), el("tbody", {}, [row]));
    return node;
  }

  function modeLabel(mode) {
    return { hybrid: "混合 Hybrid", bm25: "关键词 BM25", dense: "语义 Dense" }[mode] || String(mode || "");
  }

  function citeButton(passage, answerSpan, inSentence = false) {
    const button = el("button", {
      className: answerSpan || inSentence ? "cite cite-answer" : "cite",
      text: `[${passage.rank}]`,
      attrs: {
        type: "button",
        "aria-label": `引用 ${passage.rank}：${passage.title || passage.source} · Citation ${passage.rank}`,
        title: `${passage.title || passage.source}${passage.section ? " · " + passage.section : ""}`,
        "data-rank": passage.rank,
      },
    });
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      openDocument(passage, answerSpan, button);
    });
    return button;
  }

  function formatScore(value) {
    return typeof value === "number" && Number.isFinite(value) ? value.toFixed(4) : "–";
  }

  function passageCard(p, terms) {
    const card = el("li", { className: "card", attrs: { "data-rank": p.rank, "data-source": p.source } });
    const titleButton = el("button", {
      className: "card-title-btn",
      text: p.title || p.source,
      attrs: { type: "button", "aria-label": `打开原文：${p.title || p.source} · Open the document` },
    });
    titleButton.addEventListener("click", (event) => {
      event.stopPropagation();
      openDocument(p, null, titleButton);
    });
    const head = el("div", { className: "card-head" }, [
      citeButton(p, null),
      el("h3", { className: "card-title" }, [titleButton]),
    ]);
    const scores = p.scores || {};
    const meta = el("dl", { className: "card-meta" }, [
      el("div", {}, [el("dt", { text: "章节 Section" }), el("dd", { text: p.section || "—" })]),
      el("div", {}, [el("dt", { text: "文件 File" }), el("dd", { className: "mono", text: p.source })]),
      el("div", { attrs: { title: `BM25 ${formatScore(scores.bm25)} · Dense ${formatScore(scores.dense)}`
        + (scores.rerank == null ? "" : ` · Rerank ${formatScore(scores.rerank)}`) } }, [
        el("dt", { text: "得分 Score" }),
        el("dd", { className: "mono", text: formatScore(p.score) }),
      ]),
    ]);
    const text = el("p", { className: "card-text" });
    text.append(highlighted(String(p.text || ""), terms));
    card.append(head, meta, text);
    card.addEventListener("click", () => {
      const selection = window.getSelection();
      if (selection && selection.toString()) return; // let people select text without opening
      openDocument(p, null, titleButton);
    });
    return card;
  }

  /* ---------- document panel ---------- */

  let panelToken = 0;
  let lastOpener = null;

  async function openDocument(passage, answerSpan, opener) {
    const token = ++panelToken;
    lastOpener = opener || null;
    for (const c of els.conversation.querySelectorAll(".card.active")) c.classList.remove("active");
    const card = opener && opener.closest(".card");
    if (card) card.classList.add("active");

    els.docTitle.textContent = passage.title || passage.source;
    els.docMeta.textContent = passage.source;
    els.docBody.replaceChildren(el("p", { className: "doc-loading" }, [
      el("span", { className: "spinner", attrs: { "aria-hidden": "true" } }),
      bilingual("正在加载原文…", "Loading the document…"),
    ]));
    els.panel.hidden = false;
    document.body.classList.add("panel-open");
    els.docTitle.focus({ preventScroll: true });

    try {
      const doc = await getDocument(passage.source);
      if (token !== panelToken) return; // another citation was opened meanwhile
      renderDocument(doc, passage, answerSpan);
    } catch (err) {
      if (token !== panelToken) return;
      els.docBody.replaceChildren(el("div", { className: "msg bot error" }, [
        el("p", { className: "error-title" }, [bilingual("无法加载原文", "Could not load the document")]),
        el("p", { className: "error-detail", text: err && err.message ? err.message : String(err) }),
      ]));
    }
  }

  function clamp(n, lo, hi) {
    return Math.min(Math.max(Number.isFinite(n) ? n : lo, lo), hi);
  }

  /** [start, end) of each heading line (from the heading's offset to the end of its line). */
  function headingRanges(text, headings) {
    const ranges = [];
    for (const h of Array.isArray(headings) ? headings : []) {
      const start = Number(h && h.char_start);
      if (!Number.isInteger(start) || start < 0 || start >= text.length) continue;
      const newline = text.indexOf("\n", start);
      ranges.push([start, newline < 0 ? text.length : newline]);
    }
    return ranges.sort((x, y) => x[0] - y[0]);
  }

  /** Appends text[from, to) to parent, with heading lines in <strong> (text nodes only). */
  function appendText(parent, text, from, to, headings) {
    let pos = from;
    for (const [hs, he] of headings) {
      const s = Math.max(hs, pos);
      const e = Math.min(he, to);
      if (e <= s) continue;
      if (s > pos) parent.append(text.slice(pos, s));
      parent.append(el("strong", { className: "doc-heading-line", text: text.slice(s, e) }));
      pos = e;
    }
    if (pos < to) parent.append(text.slice(pos, to));
  }

  /** 1-based page of the original (PDF, image) that clean-text `offset` came from; null without pages. */
  function pageAt(pageStarts, offset) {
    if (!Array.isArray(pageStarts) || !pageStarts.length) return null;
    let page = 1;
    pageStarts.forEach((s, i) => { if (s <= offset) page = i + 1; });
    return page;
  }

  function renderDocument(doc, passage, answerSpan) {
    const text = String(doc.text || "");
    const start = clamp(passage.char_start, 0, text.length);
    const end = clamp(passage.char_end, start, text.length);
    const headings = headingRanges(text, doc.headings);
    els.docTitle.textContent = doc.title || doc.source;
    const parts = [`文件 File: ${doc.source}`];
    if (passage.section) parts.push(`章节 Section: ${passage.section}`);
    parts.push(`引用 Citation [${passage.rank}] · 字符 chars ${start}–${end}`);
    const page = pageAt(doc.page_starts, answerSpan ? answerSpan.start : start);
    if (page) parts.push(`第${page}页 Page ${page}`);
    els.docMeta.textContent = parts.join(" · ");
    els.docMeta.dataset.page = page || "";

    const body = el("div", { className: "doc-text", attrs: { lang: "zh-CN" } });
    const marks = { cited: null, answer: null };
    const span = answerSpan && answerSpan.end > answerSpan.start ? answerSpan : null;
    // Text up to each table, then the table as a table (its rows cover its span of the text).
    let pos = 0;
    for (const table of shownTables(doc.tables, text.length)) {
      appendCited(body, text, pos, table.char_start, start, end, span, headings, marks);
      body.append(tableNode(table, start, end, span, marks));
      pos = table.char_end;
    }
    appendCited(body, text, pos, text.length, start, end, span, headings, marks);
    const cited = marks.cited || body;
    const answerMark = marks.answer;
    els.docBody.replaceChildren(body);
    // Center the cited span (or the answer sentence in it) in the panel, after layout.
    requestAnimationFrame(() => {
      const tall = cited.getBoundingClientRect().height > els.docBody.clientHeight * 0.8;
      const target = tall && answerMark ? answerMark : cited;
      target.scrollIntoView({ block: tall && !answerMark ? "start" : "center", inline: "nearest", behavior: "auto" });
    });
  }

  /** Tables of the document that can stand for their text: well-formed spans, in order, not overlapping;
   * a flattened table with rows left out (ones that did not read cleanly) stays text, so nothing is lost. */
  function shownTables(tables, length) {
    const out = [];
    let last = 0;
    for (const t of Array.isArray(tables) ? tables : []) {
      const s = Number(t && t.char_start), e = Number(t && t.char_end);
      if (!Number.isInteger(s) || !Number.isInteger(e) || s < last || e <= s || e > length) continue;
      if (!Array.isArray(t.header) || !Array.isArray(t.rows)) continue;
      if (t.kind === "flat" && t.rows.some((r, i) => String(r.cells && r.cells[0]) !== String(i + 1))) continue;
      out.push(t);
      last = e;
    }
    return out;
  }

  /** text[from, to) with the part inside the citation [start, end) in <mark class="cited"> (the answer
   * span inside it marked too); the first such mark is the one scrolled to. */
  function appendCited(parent, text, from, to, start, end, span, headings, marks) {
    const s = Math.max(from, start), e = Math.min(to, end);
    if (e <= s) {
      appendText(parent, text, from, to, headings);
      return;
    }
    appendText(parent, text, from, s, headings);
    const mark = el("mark", { className: "cited" });
    if (!marks.cited) {
      marks.cited = mark;
      mark.id = "cited-span";
      mark.dataset.start = start;
      mark.dataset.end = end;
    }
    if (span && span.start >= s && span.end <= e) {
      marks.answer = el("mark", { className: "cited-answer" });
      appendText(mark, text, s, span.start, headings);
      appendText(marks.answer, text, span.start, span.end, headings);
      mark.append(marks.answer);
      appendText(mark, text, span.end, e, headings);
    } else {
      appendText(mark, text, s, e, headings);
    }
    parent.append(mark);
    appendText(parent, text, e, to, headings);
  }

  /** A recovered table as a <table> (textContent only); rows inside the citation highlighted, the answer's cell marked. */
  function tableNode(table, start, end, span, marks) {
    const node = el("table", { className: "doc-table" });
    if (table.caption) node.append(el("caption", { text: String(table.caption) }));
    const head = el("tr");
    for (const name of table.header) head.append(el("th", { text: String(name), attrs: { scope: "col" } }));
    node.append(el("thead", {}, [head]));
    const rows = el("tbody");
    for (const row of table.rows) {
      const tr = el("tr");
      const rs = Number(row.char_start), re = Number(row.char_end);
      if (rs < end && start < re) {
        tr.className = "cited-row";
        if (!marks.cited) {
          marks.cited = tr;
          tr.id = "cited-span";
          tr.dataset.start = start;
          tr.dataset.end = end;
        }
      }
      (Array.isArray(row.cells) ? row.cells : []).forEach((cell, i) => {
        const td = el("td");
        const cs = row.cell_spans && row.cell_spans[i];
        if (span && cs && span.start >= cs[0] && span.end <= cs[1]) {
          marks.answer = el("mark", { className: "cited-answer", text: String(cell) });
          td.append(marks.answer);
        } else {
          td.textContent = String(cell);
        }
        tr.append(td);
      });
      rows.append(tr);
    }
    node.append(rows);
    return node;
  }

  function closeDocument() {
    if (els.panel.hidden) return;
    panelToken++;
    els.panel.hidden = true;
    document.body.classList.remove("panel-open");
    for (const c of els.conversation.querySelectorAll(".card.active")) c.classList.remove("active");
    if (lastOpener && lastOpener.isConnected) lastOpener.focus();
    else els.question.focus();
    lastOpener = null;
  }

  /* ---------- wiring ---------- */

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(els.question.value);
  });

  els.question.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a newline; Enter that confirms an IME candidate does nothing here.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    ask(els.question.value);
  });

  els.question.addEventListener("input", () => {
    if (!els.validation.hidden && els.question.value.trim()) clearValidation();
  });
  els.topk.addEventListener("input", () => {
    if (els.topk.getAttribute("aria-invalid")) clearValidation();
  });

  for (const button of document.querySelectorAll(".example")) {
    button.addEventListener("click", () => {
      els.question.value = button.textContent.trim();
      ask(els.question.value);
    });
  }

  els.stop.addEventListener("click", () => {
    if (controller) controller.abort();
  });

  els.newChat.addEventListener("click", () => {
    if (pending) return;
    closeDocument();
    history.length = 0;
    els.conversation.replaceChildren();
    els.welcome.hidden = false;
    els.newChat.hidden = true;
    clearValidation();
    els.question.focus();
  });

  els.docClose.addEventListener("click", closeDocument);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !els.panel.hidden) {
      event.preventDefault();
      closeDocument();
    }
  });

})();
