/* rag-lines chat page. Plain ES2020, no dependencies.
 *
 * SECURITY: every piece of text that comes from the server (answers, document
 * lines, error details, file names) is inserted with textContent /
 * createTextNode only. Never use innerHTML with data in this file.
 */
(() => {
  "use strict";

  const KEY_STORAGE = "rag_api_key";
  const NO_ANSWER = new Set(["not_found", "declined"]);
  const STATUS_TEXT = {
    no_answer: "The documents do not contain an answer to this question.",
    unverified: "Related passages were found, but no answer could be checked against them.",
    model_unavailable: "The model is unavailable",
  };

  const $ = (sel) => document.querySelector(sel);
  const els = {
    conversation: $("#conversation"),
    empty: $("#empty-state"),
    composer: $("#composer"),
    question: $("#question"),
    send: $("#send"),
    status: $("#status"),
    statusText: $("#status-text"),
    keyForm: $("#key-form"),
    keyInput: $("#api-key"),
    keyLabel: $("#key-label"),
    keyCancel: $("#cancel-key"),
    panel: $("#source-panel"),
    panelTitle: $("#source-title"),
    panelSub: $("#source-sub"),
    panelBody: $("#source-body"),
    panelLines: $("#source-lines"),
    panelPage: $("#source-page"),
    panelClose: $("#source-close"),
  };

  // ---------------------------------------------------------------- helpers

  /** createElement with class, text and attributes (text via textContent). */
  function el(tag, opts = {}, children = []) {
    const node = document.createElement(tag);
    if (opts.className) node.className = opts.className;
    if (opts.text != null) node.textContent = String(opts.text);
    if (opts.title != null) node.title = String(opts.title);
    if (opts.attrs) {
      for (const [k, v] of Object.entries(opts.attrs)) {
        if (v != null) node.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c == null) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function lineLabel(source, start, end, page) {
    const lines = start === end || end == null ? `${start}` : `${start}-${end}`;
    return page != null ? `${source}:p${page}:${lines}` : `${source}:${lines}`;
  }

  function encodeSourcePath(source) {
    return String(source).split("/").map(encodeURIComponent).join("/");
  }

  function formatMs(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "";
    return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
  }

  // ----------------------------------------------------------------- API key

  function getKey() {
    try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
  }
  function setKey(k) {
    try { localStorage.setItem(KEY_STORAGE, k); } catch { /* private mode */ }
  }

  let keyPrompt = null; // pending Promise<string|null> while the inline form is shown

  /** Show the inline key form once; all concurrent 401s wait on the same prompt. */
  function askForKey(rejected) {
    if (keyPrompt) return keyPrompt;
    keyPrompt = new Promise((resolve) => {
      els.keyLabel.textContent = rejected
        ? "That API key was not accepted. Enter a valid key."
        : "This service needs an API key.";
      els.keyForm.hidden = false;
      els.keyForm.classList.toggle("rejected", !!rejected);
      els.keyInput.value = "";
      els.keyInput.focus();
      const done = (value) => {
        els.keyForm.hidden = true;
        els.keyForm.removeEventListener("submit", onSubmit);
        els.keyCancel.removeEventListener("click", onCancel);
        keyPrompt = null;
        resolve(value);
      };
      const onSubmit = (e) => {
        e.preventDefault();
        const v = els.keyInput.value.trim();
        if (!v) { els.keyInput.focus(); return; }
        setKey(v);
        done(v);
        els.question.focus();
      };
      const onCancel = () => done(null);
      els.keyForm.addEventListener("submit", onSubmit);
      els.keyCancel.addEventListener("click", onCancel);
    });
    return keyPrompt;
  }

  class HttpError extends Error {
    constructor(status, detail, retryAfter, body = null) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.retryAfter = retryAfter;
      this.body = body; // the parsed JSON body, when there was one (a 502 from /v1/ask carries the answer fields)
    }
  }

  /** FastAPI details are strings, or lists of {loc, msg} for validation errors. */
  function describeDetail(d) {
    if (d == null) return "";
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      const msgs = d.map((x) => (x && typeof x.msg === "string" ? x.msg : JSON.stringify(x)));
      return msgs.join("; ");
    }
    return JSON.stringify(d);
  }

  async function errorFromResponse(res) {
    let detail = "";
    let body = null;
    try {
      const text = await res.text();
      try {
        const j = JSON.parse(text);
        if (j && typeof j === "object" && !Array.isArray(j)) body = j;
        detail = describeDetail(j && j.detail) || text;
      } catch { detail = text; }
    } catch { /* ignore */ }
    if (!detail) detail = `${res.status} ${res.statusText || "error"}`;
    const ra = res.headers.get("Retry-After");
    let retryAfter = null;
    if (ra != null) {
      const n = Number(ra);
      if (isFinite(n)) retryAfter = Math.max(0, Math.ceil(n));
      else {
        const t = Date.parse(ra);
        if (!isNaN(t)) retryAfter = Math.max(0, Math.ceil((t - Date.now()) / 1000));
      }
    }
    return new HttpError(res.status, detail, retryAfter, body);
  }

  /**
   * fetch() that sends the stored API key, and on 401 shows the inline key
   * form and retries with the new key. Returns the Response when ok,
   * throws HttpError otherwise.
   */
  async function apiFetch(url, options = {}, { promptOn401 = true } = {}) {
    let rejectedKey = false;
    for (let attempt = 0; attempt < 4; attempt++) {
      const headers = new Headers(options.headers || {});
      const key = getKey();
      if (key) headers.set("Authorization", `Bearer ${key}`);
      const res = await fetch(url, { ...options, headers });
      if (res.status === 401 && promptOn401) {
        try { await res.body?.cancel(); } catch { /* ignore */ }
        const newKey = await askForKey(rejectedKey || !!key);
        if (!newKey) throw new HttpError(401, "An API key is required.", null);
        rejectedKey = true;
        continue;
      }
      if (!res.ok) throw await errorFromResponse(res);
      return res;
    }
    throw new HttpError(401, "The API key was not accepted.", null);
  }

  // ------------------------------------------------------------------ health

  let healthTimer = null;
  async function refreshHealth() {
    clearTimeout(healthTimer);
    let next = 30000;
    try {
      const res = await apiFetch("/health", { cache: "no-store" }, { promptOn401: true });
      const h = await res.json().catch(() => ({}));
      const state = typeof h.status === "string" ? h.status : "unknown";
      const parts = [state.replace(/_/g, " ")];
      if (typeof h.chunks === "number") parts.push(`${h.chunks.toLocaleString()} chunk${h.chunks === 1 ? "" : "s"}`);
      if (h.llm_model) parts.push(String(h.llm_model));
      els.statusText.textContent = parts.join(" · ");
      const tip = [];
      if (h.llm_model) tip.push(`model: ${h.llm_model}`);
      if (h.embedding_model) tip.push(`embeddings: ${h.embedding_model}`);
      if (typeof h.chunks === "number") tip.push(`chunks: ${h.chunks}`);
      els.status.title = tip.join("\n");
      els.status.dataset.state = state;
      if (state !== "ready") next = 4000;
    } catch (err) {
      els.status.dataset.state = "down";
      els.statusText.textContent = err instanceof HttpError ? `unavailable · ${err.detail}` : "offline";
      els.status.title = "";
      next = 8000;
    }
    healthTimer = setTimeout(refreshHealth, next);
  }

  // ---------------------------------------------------------------- scrolling

  function nearBottom() {
    const c = els.conversation;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
  }
  function scrollToBottom(force) {
    if (force || nearBottom()) {
      els.conversation.scrollTop = els.conversation.scrollHeight;
    }
  }

  // ----------------------------------------------------------- citation chips
  //
  // Answers are rendered from the API's structured fields: `sentences` (each checked
  // sentence with the labels of its citations) and `citations` (objects with source,
  // lines, page, quote and spans). Nothing is re-parsed out of the answer text.

  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);

  /** The label the service writes for a citation: "[a.txt:6]", "[b.pdf:p3:12-14]". */
  function citationLabel(c) {
    const start = c.start_line;
    const end = c.end_line == null ? start : c.end_line;
    const page = num(c.page);
    return `[${c.source}:${page != null ? `p${page}:` : ""}${start}${end !== start ? `-${end}` : ""}]`;
  }

  /** Map label -> citation object, for every well-formed citation in `list`. */
  function citationMap(list, into = new Map()) {
    for (const c of Array.isArray(list) ? list : []) {
      if (!c || typeof c.source !== "string" || !Number.isInteger(c.start_line)) continue;
      const label = citationLabel(c);
      if (!into.has(label)) into.set(label, c);
    }
    return into;
  }

  /** The sentence text without its own labels (the service may or may not include them). */
  function sentenceText(sentence) {
    let text = typeof sentence.text === "string" ? sentence.text : "";
    for (const label of Array.isArray(sentence.citations) ? sentence.citations : []) {
      if (typeof label !== "string" || !label) continue;
      let i;
      while ((i = text.indexOf(label)) >= 0) {
        let from = i;
        while (from > 0 && /\s/.test(text[from - 1])) from--;
        text = text.slice(0, from) + text.slice(i + label.length);
      }
    }
    return text.trim();
  }

  function makeChip(cite, { className = "citation-chip" } = {}) {
    const source = String(cite.source);
    const start = cite.start_line;
    const end = cite.end_line == null ? start : cite.end_line;
    const page = num(cite.page);
    const label = lineLabel(source, start, end, page);
    const quote = typeof cite.quote === "string" ? cite.quote : typeof cite.text === "string" ? cite.text : "";
    const btn = el("button", {
      className,
      title: quote ? `${label}\n\n${quote.length > 300 ? quote.slice(0, 300) + "…" : quote}` : label,
      attrs: {
        type: "button",
        "data-source": source,
        "data-start": start,
        "data-end": end,
        "data-page": page,
        "aria-label": `Open source ${label}`,
      },
    });
    // name and line numbers separately so CSS can ellipsize the name only
    btn.append(
      el("span", { className: "chip-name", text: source }),
      el("span", { className: "chip-lines", text: `:${page != null ? `p${page}:` : ""}${start === end ? start : `${start}-${end}`}` }),
    );
    btn.addEventListener("click", () => openSource({
      source, start, end, page,
      spans: Array.isArray(cite.spans) ? cite.spans : [],
    }, btn));
    return btn;
  }

  // The sentence's closing punctuation (and any closing quote or bracket after it), e.g. "." or ".)".
  const SENTENCE_END = /[.!?\u2026;:]+["'\u201d\u2019\u00bb)\]]*$/u;

  /** [body, end]: the sentence without and with only its closing punctuation. */
  function splitSentenceEnd(text) {
    const m = SENTENCE_END.exec(text);
    return m ? [text.slice(0, m.index).trimEnd(), m[0]] : [text, ""];
  }

  /**
   * One checked sentence with chips for its citations, written as the service writes it:
   * "body [chip]." The chips and the closing punctuation sit together in one no-wrap group,
   * so a chip that wraps takes its period along instead of leaving it alone on a line.
   */
  function renderSentence(sentence, cites) {
    const span = el("span", { className: "sentence", attrs: { "data-supported": "true" } });
    const text = sentenceText(sentence);
    const labels = [...new Set((Array.isArray(sentence.citations) ? sentence.citations : [])
      .filter((l) => typeof l === "string" && l))];
    if (!labels.length) {
      span.append(document.createTextNode(text));
      return span;
    }
    const [body, end] = splitSentenceEnd(text);
    const group = el("span", { className: "cite-group" });
    for (const label of labels) {
      const c = cites.get(label);
      if (c && c.verified !== false) {
        group.append(makeChip(c));
      } else {
        // a label without a (verified) citation object: plain, muted text, never a link
        group.append(el("span", {
          className: "citation-raw",
          text: label,
          title: c ? "This citation could not be verified" : "Not a verified citation",
        }));
      }
    }
    if (end) group.append(el("span", { className: "sentence-end", text: end }));
    if (body) span.append(document.createTextNode(body), document.createTextNode(" "));
    span.append(group);
    return span;
  }

  const isSupported = (s) => s && typeof s === "object" && s.supported === true && typeof s.text === "string";

  /** The supported sentences of an answer, each with its chips. */
  function renderAnswerText(sentences, cites) {
    const container = el("div", { className: "answer-text" });
    let first = true;
    for (const s of sentences) {
      if (!isSupported(s)) continue;
      if (!first) container.append(document.createTextNode(" "));
      container.append(renderSentence(s, cites));
      first = false;
    }
    return container;
  }

  /** Claims the check dropped, collapsed and clearly marked; never part of the answer text. */
  function renderDropped(sentences) {
    const dropped = (Array.isArray(sentences) ? sentences : [])
      .filter((s) => s && typeof s === "object" && s.supported === false && typeof s.text === "string" && s.text.trim());
    if (!dropped.length) return null;
    const list = el("ul", { className: "dropped-list" });
    for (const s of dropped) {
      list.append(el("li", { className: "dropped-item" }, [
        el("span", { className: "dropped-text", text: sentenceText(s) }),
        typeof s.reason === "string" && s.reason
          ? el("span", { className: "dropped-reason", text: ` (${s.reason})` })
          : null,
      ]));
    }
    const n = dropped.length;
    const details = el("details", { className: "dropped" });
    details.append(
      el("summary", { text: `${n} claim${n === 1 ? " was" : "s were"} dropped: not supported by the documents` }),
      list,
    );
    return details;
  }

  function renderSources(citations, labels) {
    const seen = new Set();
    const list = el("ol", { className: "sources-list" });
    for (const c of citations || []) {
      if (!c || typeof c.source !== "string" || c.verified === false) continue;
      const label = citationLabel(c);
      if (labels && !labels.has(label)) continue;
      if (seen.has(label)) continue;
      seen.add(label);
      const quote = typeof c.quote === "string" ? c.quote.replace(/\s+/g, " ").trim() : "";
      list.append(el("li", { className: "source-item" }, [
        makeChip(c),
        quote ? el("span", { className: "source-quote", text: quote, title: c.quote }) : null,
      ]));
    }
    if (!seen.size) return null;
    return el("section", { className: "sources", attrs: { "aria-label": "Sources" } }, [
      el("h3", { className: "sources-title", text: "Sources" }),
      list,
    ]);
  }

  function renderPassages(passages, title, open) {
    if (!Array.isArray(passages) || !passages.length) return null;
    const list = el("ol", { className: "sources-list passages-list" });
    for (const p of passages) {
      if (!p || typeof p.source !== "string" || !Number.isInteger(p.start_line)) continue;
      const text = typeof p.text === "string" ? p.text.replace(/\s+/g, " ").trim() : "";
      list.append(el("li", { className: "source-item passage-item" }, [
        makeChip(p, { className: "passage-chip" }),
        text ? el("span", { className: "source-quote", text, title: p.text }) : null,
      ]));
    }
    if (!list.childElementCount) return null;
    const details = el("details", { className: "passages" });
    if (open) details.open = true;
    details.append(el("summary", { text: `${title} (${list.childElementCount})` }), list);
    return details;
  }

  // --------------------------------------------------------------- messages

  function addUserMessage(q) {
    els.empty?.remove();
    const msg = el("div", { className: "message user" }, [el("div", { className: "bubble", text: q })]);
    els.conversation.append(msg);
    scrollToBottom(true);
  }

  function addAssistantMessage() {
    const bubble = el("div", { className: "bubble" });
    const streamText = el("div", { className: "answer-text streaming" });
    const typing = el("span", { className: "typing", attrs: { "aria-label": "Answering" } }, [
      el("span"), el("span"), el("span"),
    ]);
    streamText.append(typing);
    bubble.append(streamText);
    const msg = el("div", {
      className: "message assistant pending",
      attrs: { "data-status": "pending", "data-done": "false", "aria-busy": "true" },
    }, [bubble]);
    els.conversation.append(msg);
    scrollToBottom(true);

    const cites = new Map(); // label -> citation object, over every delta so far
    let count = 0;
    return {
      node: msg,
      /** One checked sentence (a `delta` event): append it with its chips. */
      sentence(sentence, citations) {
        if (!isSupported(sentence)) return; // deltas are checked sentences; never show anything else
        citationMap(citations, cites);
        const stick = nearBottom();
        if (count++) streamText.insertBefore(document.createTextNode(" "), typing);
        streamText.insertBefore(renderSentence(sentence, cites), typing);
        if (stick) scrollToBottom(true);
      },
      finish(status, content) {
        const stick = nearBottom();
        bubble.replaceChildren(...content.filter(Boolean));
        msg.classList.remove("pending");
        msg.dataset.status = status;
        msg.dataset.done = "true";
        msg.removeAttribute("aria-busy");
        if (stick) scrollToBottom(true);
      },
    };
  }

  function metaLine(answer) {
    const bits = [];
    if (answer.model) bits.push(String(answer.model));
    const total = answer.timings_ms && answer.timings_ms.total;
    if (typeof total === "number" && total > 0) bits.push(formatMs(total));
    if (!bits.length) return null;
    return el("div", { className: "meta", text: bits.join(" · ") });
  }

  function noticeHead(text, icon, kind) {
    return el("div", { className: kind ? `notice-head ${kind}` : "notice-head" }, [
      el("span", { className: "notice-icon", text: icon, attrs: { "aria-hidden": "true" } }),
      el("span", { className: kind === "error" ? "notice-label error-detail" : "notice-label", text }),
    ]);
  }

  function statusOf(answer) {
    const known = ["answered", "not_found", "declined", "unverified", "model_unavailable"];
    if (known.includes(answer.status)) return answer.status;
    return answer.answerable === false ? "not_found" : "answered";
  }

  function renderFinal(ui, answer) {
    if (!answer || typeof answer !== "object") {
      renderError(ui, "The server sent an answer that could not be read.");
      return;
    }
    const status = statusOf(answer);
    const sentences = Array.isArray(answer.sentences) ? answer.sentences : [];
    const supported = sentences.filter(isSupported);

    if (status === "model_unavailable") {
      renderUnavailable(ui, answer, typeof answer.answer === "string" ? answer.answer : "");
      return;
    }

    const content = [];
    if (NO_ANSWER.has(status)) {
      ui.node.classList.add("not-found");
      content.push(noticeHead(STATUS_TEXT.no_answer, "\u2205"));
      content.push(renderPassages(answer.passages, "Related passages", false));
      content.push(metaLine(answer));
      ui.finish(status, content);
      return;
    }

    if (status === "unverified" || !supported.length) {
      // nothing in the answer passed the check: show what was found, never the unchecked text
      ui.node.classList.add("not-found", "unverified");
      content.push(noticeHead(STATUS_TEXT.unverified, "?"));
      // the heading already says that related passages were found: the list is just "Passages"
      content.push(renderPassages(answer.passages, "Passages", true));
      content.push(renderDropped(sentences));
      content.push(metaLine(answer));
      ui.finish("unverified", content);
      return;
    }

    const cites = citationMap(answer.citations);
    const labels = new Set();
    for (const s of supported) {
      for (const l of Array.isArray(s.citations) ? s.citations : []) labels.add(l);
    }
    content.push(renderAnswerText(supported, cites));
    content.push(renderDropped(sentences));
    content.push(renderSources(answer.citations, labels));
    content.push(metaLine(answer));
    ui.finish(status, content);
  }

  /**
   * The detail under the "The model is unavailable" heading, without repeating it: the service
   * says "The model is unavailable (reason); here are the passages that were found.", and the
   * card shows the heading once, then "reason; here are ...".
   */
  function unavailableDetail(text) {
    const title = STATUS_TEXT.model_unavailable;
    let rest = String(text || "").trim();
    if (rest.toLowerCase().startsWith(title.toLowerCase())) {
      rest = rest.slice(title.length).trim();
      const m = /^\(([^]*?)\)\s*([;:,.]\s*)?([^]*)$/.exec(rest);
      if (m) rest = m[3] ? `${m[1]}; ${m[3]}` : m[1];
      rest = rest.replace(/^[;:,.\s]+/, "");
    }
    return rest;
  }

  /** The error card for model_unavailable: the answer text as detail, plus the passages. */
  function renderUnavailable(ui, answer, detail, retry) {
    ui.node.classList.add("error", "model-unavailable");
    const content = [noticeHead(STATUS_TEXT.model_unavailable, "!", "error")];
    const text = unavailableDetail(typeof answer.answer === "string" && answer.answer ? answer.answer : detail);
    if (text) content.push(el("div", { className: "error-detail unavailable-detail", text }));
    content.push(renderPassages(answer.passages, "Passages", true));
    content.push(metaLine(answer));
    content.push(retryButton(ui, retry));
    ui.finish("model_unavailable", content);
  }

  function retryButton(ui, retry) {
    if (!retry) return null;
    const btn = el("button", { className: "btn ghost retry", text: "Retry", attrs: { type: "button" } });
    btn.addEventListener("click", () => {
      if (busy) return;
      ui.node.remove();
      retry();
    });
    return btn;
  }

  /**
   * An error. `answer` is the answer object an error may carry (HTTP 502 body, SSE
   * `error` event): with it, this is the model-unavailable card with its passages.
   */
  function renderError(ui, detail, { answer, status = "error", retry } = {}) {
    if (answer && typeof answer === "object"
        && (answer.status === "model_unavailable" || (Array.isArray(answer.passages) && answer.passages.length))) {
      renderUnavailable(ui, answer, detail, retry);
      return;
    }
    ui.node.classList.add("error");
    ui.finish(status, [noticeHead(detail || "Something went wrong.", "!", "error"), retryButton(ui, retry)]);
  }

  // ---------------------------------------------------------------- SSE + ask

  /** Parse an SSE byte stream; calls onEvent(name, dataString) per event. */
  async function readSSE(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    const flush = (block) => {
      let name = "message";
      const data = [];
      for (const rawLine of block.split(/\r\n|\r|\n/)) {
        if (!rawLine || rawLine.startsWith(":")) continue;
        const i = rawLine.indexOf(":");
        const field = i < 0 ? rawLine : rawLine.slice(0, i);
        let value = i < 0 ? "" : rawLine.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length || name !== "message") onEvent(name, data.join("\n"));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let m;
      while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buf))) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        flush(block);
      }
    }
    buf += decoder.decode();
    if (buf.trim()) flush(buf);
  }

  let busy = false;
  function setBusy(b) {
    busy = b;
    els.send.disabled = b;
    els.send.classList.toggle("busy", b);
    els.composer.classList.toggle("busy", b);
  }

  async function ask(question) {
    setBusy(true);
    const ui = addAssistantMessage();
    const retry = () => ask(question);
    let finished = false;
    try {
      const res = await apiFetch("/v1/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ question, stream: true }),
      });
      const ctype = (res.headers.get("Content-Type") || "").toLowerCase();
      if (!ctype.includes("text/event-stream") || !res.body) {
        // the server answered without streaming: a whole answer object
        const data = await res.json();
        renderFinal(ui, data);
        finished = true;
        return;
      }
      await readSSE(res.body, (name, data) => {
        if (finished) return;
        let payload = null;
        try { payload = data ? JSON.parse(data) : null; } catch { payload = null; }
        if (name === "delta") {
          // one whole sentence that passed the check, with the citation objects it cites
          if (payload && typeof payload === "object" && payload.sentence) {
            ui.sentence(payload.sentence, payload.citations);
          }
        } else if (name === "answer") {
          renderFinal(ui, payload);
          finished = true;
        } else if (name === "error") {
          const detail = (payload && describeDetail(payload.detail)) || "The service reported an error.";
          renderError(ui, detail, { answer: payload, retry });
          finished = true;
        }
      });
      if (!finished) {
        renderError(ui, "The connection closed before an answer arrived.", { retry });
        finished = true;
      }
    } catch (err) {
      if (finished) return;
      if (err instanceof HttpError) {
        if (err.status === 503 && err.retryAfter != null) {
          renderError(ui, `The service is busy, retry in ${err.retryAfter} s.`, { status: "busy", retry });
          ui.node.dataset.retryAfter = String(err.retryAfter);
        } else if (err.status === 401) {
          renderError(ui, "An API key is required to ask questions.", { retry });
        } else {
          renderError(ui, err.detail, { answer: err.body, retry });
        }
      } else {
        renderError(ui, `Could not reach the service${err && err.message ? ` (${err.message})` : ""}.`, { retry });
      }
      finished = true;
    } finally {
      setBusy(false);
    }
  }

  function submit() {
    if (busy) return;
    const q = els.question.value.trim();
    if (!q) { els.question.focus(); return; }
    els.question.value = "";
    autoGrow();
    addUserMessage(q);
    ask(q);
  }

  // ------------------------------------------------------------ source panel

  let panelReq = 0;
  let panelOpener = null;

  /** Merged [start, end) ranges of `spans` on line `n`, clamped to a line of `length` characters. */
  function spanRanges(spans, n, length) {
    const ranges = [];
    for (const sp of spans) {
      if (!sp || sp.line !== n) continue;
      const a = Math.max(0, Math.min(length, Number(sp.start_char)));
      const b = Math.max(0, Math.min(length, Number(sp.end_char)));
      if (!Number.isInteger(a) || !Number.isInteger(b) || b <= a) continue;
      ranges.push([a, b]);
    }
    ranges.sort((x, y) => x[0] - y[0]);
    const merged = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push(r);
    }
    return merged;
  }

  /**
   * The text of one line as DOM nodes, the `spans` on it wrapped in <mark class="span">.
   * Offsets count characters (code points, as the service counts them), not UTF-16 units.
   * Text goes in through text nodes only.
   */
  function lineContent(line, n, spans) {
    const text = String(line);
    if (text === "") return [document.createTextNode("\u200b")];
    const chars = /[\ud800-\udfff]/.test(text) ? Array.from(text) : null;
    const length = chars ? chars.length : text.length;
    const slice = (a, b) => (chars ? chars.slice(a, b).join("") : text.slice(a, b));
    const ranges = spans.length ? spanRanges(spans, n, length) : [];
    if (!ranges.length) return [document.createTextNode(text)];
    const out = [];
    let pos = 0;
    for (const [a, b] of ranges) {
      if (a > pos) out.push(document.createTextNode(slice(pos, a)));
      out.push(el("mark", {
        className: "span",
        text: slice(a, b),
        attrs: { "data-start-char": a, "data-end-char": b },
      }));
      pos = b;
    }
    if (pos < length) out.push(document.createTextNode(slice(pos, length)));
    return out;
  }

  // ------------------------------------------------------- PDF page view
  //
  // A paged source (PDF) shows its page as an image above the lines, with a box over each cited
  // line. The image needs the API key like every other API call, so it is fetched with apiFetch
  // and shown through an object URL (img-src allows blob:), revoked when the panel changes or
  // closes. The boxes are SVG rects in the page's own coordinates (PDF points from the top-left
  // corner): the SVG's viewBox is the page, stretched over the image, so they scale with it
  // (displayed width / page_width) and no element needs a style attribute.

  const SVG_NS = "http://www.w3.org/2000/svg";
  const MAX_PAGE_WIDTH = 2000;
  const MIN_PAGE_WIDTH = 100;
  let pageObjectUrl = null;

  function svgEl(tag, attrs = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v != null) node.setAttribute(k, String(v));
    }
    return node;
  }

  /** Forget the page image shown in the panel (and free its object URL). */
  function clearPageView() {
    if (pageObjectUrl) URL.revokeObjectURL(pageObjectUrl);
    pageObjectUrl = null;
    els.panelPage.replaceChildren();
    els.panelPage.hidden = true;
    delete els.panelPage.dataset.loaded;
    delete els.panelPage.dataset.page;
  }

  /** A [x0, top, x1, bottom] box of finite numbers with a positive size, or null. */
  function validBox(b) {
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === "number" && isFinite(v))) return null;
    return b[2] > b[0] && b[3] > b[1] ? b : null;
  }

  function showPageError(detail) {
    const figure = els.panelPage;
    figure.replaceChildren(el("div", { className: "page-error", text: `The page image could not be shown: ${detail}` }));
    figure.dataset.loaded = "error";
  }

  /**
   * The page of a /v1/sources answer as an image with the cited lines (start..end, numbered
   * within the page; `first` is the number of data.lines[0]) boxed. Returns the first box.
   */
  function showPageView(req, source, data, first, start, end) {
    const pageNo = num(data.page);
    const width = num(data.page_width);
    const height = num(data.page_height);
    const figure = els.panelPage;
    figure.dataset.page = String(pageNo);
    figure.dataset.loaded = "false";
    const pages = num(data.pages);
    const view = el("div", { className: "page-view", attrs: { "data-page": pageNo } });
    const overlay = svgEl("svg", {
      class: "page-overlay",
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "none",
      "aria-hidden": "true",
    });
    let firstBox = null;
    data.boxes.forEach((b, i) => {
      const n = first + i;
      const box = n >= start && n <= end ? validBox(b) : null;
      if (!box) return;
      const rect = svgEl("rect", {
        class: "page-highlight",
        "data-line": n,
        x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1],
        rx: 1.5,
        "vector-effect": "non-scaling-stroke",
      });
      overlay.append(rect);
      if (!firstBox) firstBox = rect;
    });
    const img = el("img", {
      className: "page-image",
      attrs: { alt: `Page ${pageNo}${pages != null ? ` of ${pages}` : ""} of ${source}`, decoding: "async" },
    });
    view.append(overlay, img);
    figure.replaceChildren(view, el("figcaption", {
      className: "page-caption",
      text: `Page ${pageNo}${pages != null ? ` of ${pages}` : ""}${firstBox ? " · cited lines boxed" : ""}`,
    }));
    figure.hidden = false;

    // the image as wide as it is shown, in device pixels
    const shown = overlay.getBoundingClientRect().width || els.panelBody.clientWidth || 400;
    const dpr = window.devicePixelRatio || 1;
    const px = Math.max(MIN_PAGE_WIDTH, Math.min(MAX_PAGE_WIDTH, Math.round(shown * dpr)));
    const url = `/v1/pages/${encodeSourcePath(source)}?page=${encodeURIComponent(pageNo)}&width=${px}`;
    (async () => {
      try {
        const res = await apiFetch(url, { headers: { Accept: "image/png" } });
        const blob = await res.blob();
        if (req !== panelReq) return;
        if (pageObjectUrl) URL.revokeObjectURL(pageObjectUrl);
        pageObjectUrl = URL.createObjectURL(blob);
        img.addEventListener("load", () => {
          if (req === panelReq) figure.dataset.loaded = "true";
        }, { once: true });
        img.addEventListener("error", () => {
          if (req === panelReq) showPageError("the image could not be read.");
        }, { once: true });
        img.src = pageObjectUrl;
      } catch (err) {
        if (req !== panelReq) return;
        showPageError(err instanceof HttpError ? err.detail : "the page could not be loaded.");
      }
    })();
    return firstBox;
  }

  /** Open the side panel on a citation or passage: {source, start, end, page?, spans?}. */
  async function openSource(cite, opener) {
    const { source, start, end } = cite;
    const page = num(cite.page);
    const spans = Array.isArray(cite.spans) ? cite.spans : [];
    const req = ++panelReq;
    panelOpener = opener || null;
    const label = lineLabel(source, start, end, page);
    els.panelTitle.textContent = source;
    els.panelTitle.title = source;
    els.panelSub.textContent = (page != null ? `page ${page} · ` : "")
      + (start === end ? `line ${start}` : `lines ${start}–${end}`);
    clearPageView();
    els.panelLines.replaceChildren(el("div", { className: "panel-loading", text: "Loading…" }));
    els.panel.dataset.source = source;
    els.panel.dataset.start = String(start);
    els.panel.dataset.end = String(end);
    if (page != null) els.panel.dataset.page = String(page);
    else delete els.panel.dataset.page;
    els.panel.dataset.loaded = "false";
    els.panel.hidden = false;
    document.body.classList.add("panel-open");
    els.panelClose.focus({ preventScroll: true });

    const s = Math.max(1, start - 3);
    const e = end + 3;
    let url = `/v1/sources/${encodeSourcePath(source)}?start=${s}&end=${e}`;
    if (page != null) url += `&page=${encodeURIComponent(page)}`;
    try {
      const res = await apiFetch(url, { headers: { Accept: "application/json" } });
      const data = await res.json();
      if (req !== panelReq) return;
      const first = Number.isInteger(data.start_line) ? data.start_line : s;
      const lines = Array.isArray(data.lines) ? data.lines : [];
      const frag = document.createDocumentFragment();
      let firstCited = null;
      lines.forEach((line, i) => {
        const n = first + i;
        const cited = n >= start && n <= end;
        const row = el("div", {
          className: cited ? "source-line cited" : "source-line",
          attrs: { "data-line": n },
        }, [
          el("span", { className: "line-no", text: n, attrs: { "aria-hidden": "true" } }),
          el("span", { className: "line-text" }, lineContent(line == null ? "" : line, n, cited ? spans : [])),
        ]);
        if (cited && !firstCited) firstCited = row;
        frag.append(row);
      });
      if (!lines.length) frag.append(el("div", { className: "panel-empty", text: "No lines in this range." }));
      els.panelLines.replaceChildren(frag);
      // a PDF page: its image with the cited lines boxed, above the lines
      const paged = num(data.page) != null && num(data.page_width) > 0 && num(data.page_height) > 0
        && Array.isArray(data.boxes);
      const firstBox = paged ? showPageView(req, source, data, first, start, end) : null;
      els.panel.dataset.loaded = "true";
      const target = firstBox || (firstCited && (firstCited.querySelector("mark.span") || firstCited));
      if (target) {
        requestAnimationFrame(() => target.scrollIntoView({ block: "center", behavior: "auto" }));
      }
    } catch (err) {
      if (req !== panelReq) return;
      const msg = err instanceof HttpError ? err.detail : `Could not load ${label}.`;
      els.panelLines.replaceChildren(el("div", { className: "panel-error", text: msg }));
      els.panel.dataset.loaded = "error";
    }
  }

  function closeSource() {
    if (els.panel.hidden) return;
    panelReq++;
    clearPageView();
    els.panel.hidden = true;
    document.body.classList.remove("panel-open");
    if (panelOpener && document.contains(panelOpener)) panelOpener.focus({ preventScroll: true });
    panelOpener = null;
  }

  // ------------------------------------------------------------------ wiring

  function autoGrow() {
    const q = els.question;
    q.style.height = "auto";
    q.style.height = `${Math.min(q.scrollHeight, 200)}px`;
  }

  els.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  els.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  els.question.addEventListener("input", autoGrow);
  els.panelClose.addEventListener("click", closeSource);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !els.panel.hidden) {
      e.preventDefault();
      closeSource();
    }
  });

  setBusy(false);
  refreshHealth();
  els.question.focus();
})();
