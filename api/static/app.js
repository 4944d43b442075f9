/* rag-lines chat page. Plain ES2020, no dependencies.
 *
 * SECURITY: every piece of text that comes from the server (answers, document
 * lines, error details, file names) is inserted with textContent /
 * createTextNode only. Never use innerHTML with data in this file.
 */
(() => {
  "use strict";

  const KEY_STORAGE = "rag_api_key";
  const NOT_ANSWERED = new Set(["not_found", "declined", "unverified"]);

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

  function lineLabel(source, start, end) {
    return start === end || end == null ? `${source}:${start}` : `${source}:${start}-${end}`;
  }

  function citeKey(source, start, end) {
    return `${source}\u0000${start}\u0000${end == null ? start : end}`;
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
    constructor(status, detail, retryAfter) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.retryAfter = retryAfter;
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
    try {
      const text = await res.text();
      try {
        const j = JSON.parse(text);
        detail = describeDetail(j.detail) || text;
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
    return new HttpError(res.status, detail, retryAfter);
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

  function makeChip(source, start, end, { className = "citation-chip", quote } = {}) {
    const label = lineLabel(source, start, end);
    const btn = el("button", {
      className,
      title: quote ? `${label}\n\n${quote.length > 300 ? quote.slice(0, 300) + "…" : quote}` : label,
      attrs: {
        type: "button",
        "data-source": source,
        "data-start": start,
        "data-end": end == null ? start : end,
        "aria-label": `Open source ${label}`,
      },
    });
    // name and line numbers separately so CSS can ellipsize the name only
    btn.append(
      el("span", { className: "chip-name", text: source }),
      el("span", { className: "chip-lines", text: `:${start === end || end == null ? start : `${start}-${end}`}` }),
    );
    btn.addEventListener("click", () => openSource(source, start, end == null ? start : end, btn));
    return btn;
  }

  // A bracket group: "[a.txt:6]", "[dir/b.md:10-14]", "[a.txt:6, b.txt:7-8]".
  const BRACKET_RE = /\[([^\[\]\n]{1,500})\]/g;
  // source = everything up to the LAST ":<digits>[-<digits>]"
  const REF_RE = /^\s*(.+):\s*(\d+)(?:\s*[-\u2013\u2014]\s*(\d+))?\s*$/;

  function parseRefs(inner) {
    // several refs in one bracket: "[a.txt:6, b.txt:7-8]" (all parts must parse)
    const parts = inner.split(/\s*[;,]\s*/);
    if (parts.length > 1) {
      const refs = parts.map((p) => REF_RE.exec(p));
      if (refs.every(Boolean)) return refs.map(refOf);
    }
    const one = REF_RE.exec(inner);
    return one ? [refOf(one)] : null;
  }
  function refOf(m) {
    const start = parseInt(m[2], 10);
    const end = m[3] != null ? parseInt(m[3], 10) : start;
    return { source: m[1].trim(), start, end };
  }

  /** Split text into [{type:"text", text}, {type:"cite", raw, refs}] segments. */
  function tokenize(text) {
    const out = [];
    let last = 0;
    BRACKET_RE.lastIndex = 0;
    let m;
    while ((m = BRACKET_RE.exec(text))) {
      const refs = parseRefs(m[1]);
      if (!refs) continue;
      if (m.index > last) out.push({ type: "text", text: text.slice(last, m.index), start: last, end: m.index });
      out.push({ type: "cite", raw: m[0], refs, start: m.index, end: m.index + m[0].length });
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push({ type: "text", text: text.slice(last), start: last, end: text.length });
    return out;
  }

  function stripMarkers(s) {
    return tokenize(s).filter((t) => t.type === "text").map((t) => t.text).join("");
  }

  /**
   * Locate each checked sentence in the answer text. Matching ignores
   * whitespace and citation markers, so it tolerates small differences.
   * Returns [{start, end, supported}] ranges over the original text.
   */
  function sentenceRanges(text, sentences) {
    if (!Array.isArray(sentences) || !sentences.length) return [];
    // compact representation: non-space characters outside markers + their index
    const chars = [];
    const idx = [];
    for (const tok of tokenize(text)) {
      if (tok.type !== "text") continue;
      for (let i = 0; i < tok.text.length; i++) {
        const ch = tok.text[i];
        if (/\s/.test(ch)) continue;
        chars.push(ch);
        idx.push(tok.start + i);
      }
    }
    const compact = chars.join("");
    const ranges = [];
    let cursor = 0;
    for (const s of sentences) {
      if (!s || typeof s.text !== "string") continue;
      const needle = stripMarkers(s.text).replace(/\s+/g, "");
      if (!needle) continue;
      let pos = compact.indexOf(needle, cursor);
      if (pos < 0) pos = compact.indexOf(needle);
      if (pos < 0) continue;
      const start = idx[pos];
      let end = idx[pos + needle.length - 1] + 1;
      // absorb citation markers and closing punctuation that follow the sentence
      const rest = text.slice(end);
      const tail = /^(?:\s*\[[^\[\]\n]{1,500}\])*[.!?;:,)\]"'\u201d\u2019]*/.exec(rest);
      if (tail) end += tail[0].length;
      ranges.push({ start, end, supported: s.supported !== false });
      cursor = pos + needle.length;
    }
    ranges.sort((a, b) => a.start - b.start);
    // drop overlaps
    const clean = [];
    for (const r of ranges) {
      if (clean.length && r.start < clean[clean.length - 1].end) continue;
      clean.push(r);
    }
    return clean;
  }

  /** Render answer text with verified citation chips and dimmed unsupported sentences. */
  function renderAnswerText(answer) {
    const text = typeof answer.answer === "string" ? answer.answer : "";
    const verified = new Map();
    const known = new Map();
    for (const c of answer.citations || []) {
      if (!c || c.source == null) continue;
      const k = citeKey(c.source, c.start_line, c.end_line);
      known.set(k, c);
      if (c.verified) verified.set(k, c);
    }

    const container = el("div", { className: "answer-text" });
    const ranges = sentenceRanges(text, answer.sentences);

    // Build the sentence wrappers: walk text positions, choose current parent.
    const tokens = tokenize(text);
    let ri = 0;
    let current = null; // {range, node}

    const parentFor = (pos) => {
      while (ri < ranges.length && ranges[ri].end <= pos) ri++;
      const r = ranges[ri];
      if (r && r.start <= pos && pos < r.end) {
        if (!current || current.range !== r) {
          if (current) finishSentence(current);
          const span = el("span", {
            className: r.supported ? "sentence" : "sentence unsupported",
            attrs: { "data-supported": r.supported ? "true" : "false" },
          });
          if (!r.supported) span.title = "This sentence could not be verified against the documents";
          container.append(span);
          current = { range: r, node: span };
        }
        return current.node;
      }
      if (current) {
        // closing an unsupported sentence: add the marker once
        finishSentence(current);
        current = null;
      }
      return container;
    };
    const finishSentence = (cur) => {
      if (!cur.range.supported && !cur.node.dataset.marked) {
        cur.node.dataset.marked = "1";
        cur.node.append(el("span", { className: "unverified-mark", text: "unverified" }));
      }
    };

    const appendText = (s, start) => {
      // split text at sentence boundaries
      let i = 0;
      while (i < s.length) {
        const pos = start + i;
        const parent = parentFor(pos);
        let stop = s.length;
        const r = ranges[ri];
        if (r) {
          if (pos < r.start) stop = Math.min(stop, r.start - start);
          else if (pos < r.end) stop = Math.min(stop, r.end - start);
        }
        if (stop <= i) stop = i + 1;
        parent.append(document.createTextNode(s.slice(i, stop)));
        i = stop;
      }
    };

    for (const tok of tokens) {
      if (tok.type === "text") {
        appendText(tok.text, tok.start);
        continue;
      }
      const parent = parentFor(tok.start);
      const allVerified = tok.refs.every((r) => verified.has(citeKey(r.source, r.start, r.end)));
      if (allVerified) {
        const group = el("span", { className: "cite-group" });
        for (const r of tok.refs) {
          const c = verified.get(citeKey(r.source, r.start, r.end));
          group.append(makeChip(r.source, r.start, r.end, { quote: c.quote }));
        }
        parent.append(group);
      } else {
        // unverified or unknown citation: keep it as plain, muted text; chips only for verified parts
        const group = el("span", { className: "cite-group" });
        for (const r of tok.refs) {
          const k = citeKey(r.source, r.start, r.end);
          if (verified.has(k)) {
            group.append(makeChip(r.source, r.start, r.end, { quote: verified.get(k).quote }));
          } else {
            group.append(el("span", {
              className: "citation-raw",
              text: `[${lineLabel(r.source, r.start, r.end)}]`,
              title: known.has(k) ? "This citation could not be verified" : "Not a verified citation",
            }));
          }
        }
        parent.append(group);
      }
    }
    if (current) finishSentence(current);
    return container;
  }

  function renderSources(citations) {
    const seen = new Set();
    const list = el("ol", { className: "sources-list" });
    for (const c of citations || []) {
      if (!c || !c.verified) continue;
      const k = citeKey(c.source, c.start_line, c.end_line);
      if (seen.has(k)) continue;
      seen.add(k);
      const quote = typeof c.quote === "string" ? c.quote.replace(/\s+/g, " ").trim() : "";
      list.append(el("li", { className: "source-item" }, [
        makeChip(c.source, c.start_line, c.end_line, { quote: c.quote }),
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
      if (!p || p.source == null) continue;
      const text = typeof p.text === "string" ? p.text.replace(/\s+/g, " ").trim() : "";
      list.append(el("li", { className: "source-item passage-item" }, [
        makeChip(p.source, p.start_line, p.end_line, { className: "passage-chip", quote: p.text }),
        text ? el("span", { className: "source-quote", text, title: p.text }) : null,
      ]));
    }
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

    let textNode = null;
    return {
      node: msg,
      delta(t) {
        if (!t) return;
        const stick = nearBottom();
        if (!textNode) {
          textNode = document.createTextNode("");
          streamText.insertBefore(textNode, typing);
        }
        textNode.appendData(t);
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

  function renderFinal(ui, answer) {
    if (!answer || typeof answer !== "object") {
      renderError(ui, "The server sent an answer that could not be read.");
      return;
    }
    const status = typeof answer.status === "string"
      ? answer.status
      : answer.answerable === false ? "not_found" : "answered";
    const content = [];

    if (NOT_ANSWERED.has(status) || (answer.answerable === false && status !== "model_unavailable")) {
      ui.node.classList.add("not-found");
      const label = status === "unverified"
        ? "Found related passages, but could not verify an answer"
        : status === "declined"
          ? "The passages found do not answer this"
          : "Not in your documents";
      content.push(el("div", { className: "notice-head" }, [
        el("span", { className: "notice-icon", text: status === "unverified" ? "?" : "\u2205", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "notice-label", text: label }),
      ]));
      if (answer.answer) content.push(el("div", { className: "answer-text", text: answer.answer }));
      content.push(renderPassages(answer.passages, "Related passages", false));
      content.push(metaLine(answer));
      ui.finish(status, content);
      return;
    }

    if (status === "model_unavailable") {
      ui.node.classList.add("model-unavailable");
      content.push(el("div", { className: "notice-head warn" }, [
        el("span", { className: "notice-icon", text: "!", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "notice-label", text: "Model unavailable, here is what was found" }),
      ]));
      if (answer.answer) content.push(el("div", { className: "answer-text", text: answer.answer }));
      content.push(renderPassages(answer.passages, "Passages", true));
      content.push(metaLine(answer));
      ui.finish(status, content);
      return;
    }

    content.push(renderAnswerText(answer));
    const unsupported = (answer.sentences || []).filter((s) => s && s.supported === false).length;
    if (unsupported) {
      content.push(el("div", {
        className: "verify-note",
        text: `${unsupported} sentence${unsupported === 1 ? "" : "s"} could not be verified against the documents.`,
      }));
    }
    content.push(renderSources(answer.citations));
    content.push(metaLine(answer));
    ui.finish(status, content);
  }

  function renderError(ui, detail, { passages, status = "error", retry } = {}) {
    ui.node.classList.add("error");
    const content = [];
    if (Array.isArray(passages) && passages.length) {
      ui.node.classList.add("model-unavailable");
      content.push(el("div", { className: "notice-head warn" }, [
        el("span", { className: "notice-icon", text: "!", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "notice-label", text: "Model unavailable, here is what was found" }),
      ]));
      if (detail) content.push(el("div", { className: "error-detail", text: detail }));
      content.push(renderPassages(passages, "Passages", true));
      status = "model_unavailable";
    } else {
      content.push(el("div", { className: "notice-head error" }, [
        el("span", { className: "notice-icon", text: "!", attrs: { "aria-hidden": "true" } }),
        el("span", { className: "notice-label error-detail", text: detail || "Something went wrong." }),
      ]));
    }
    if (retry) {
      const btn = el("button", { className: "btn ghost retry", text: "Retry", attrs: { type: "button" } });
      btn.addEventListener("click", () => {
        if (busy) return;
        ui.node.remove();
        retry();
      });
      content.push(btn);
    }
    ui.finish(status, content);
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
          const t = payload && typeof payload.text === "string" ? payload.text : typeof payload === "string" ? payload : "";
          ui.delta(t);
        } else if (name === "answer") {
          renderFinal(ui, payload);
          finished = true;
        } else if (name === "error") {
          const detail = (payload && describeDetail(payload.detail)) || "The service reported an error.";
          renderError(ui, detail, { passages: payload && payload.passages, retry });
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
          renderError(ui, err.detail, { retry });
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

  async function openSource(source, start, end, opener) {
    const req = ++panelReq;
    panelOpener = opener || null;
    const label = lineLabel(source, start, end);
    els.panelTitle.textContent = source;
    els.panelTitle.title = source;
    els.panelSub.textContent = start === end ? `line ${start}` : `lines ${start}–${end}`;
    els.panelLines.replaceChildren(el("div", { className: "panel-loading", text: "Loading…" }));
    els.panel.dataset.source = source;
    els.panel.dataset.start = String(start);
    els.panel.dataset.end = String(end);
    els.panel.dataset.loaded = "false";
    els.panel.hidden = false;
    document.body.classList.add("panel-open");
    els.panelClose.focus({ preventScroll: true });

    const s = Math.max(1, start - 3);
    const e = end + 3;
    const url = `/v1/sources/${encodeSourcePath(source)}?start=${s}&end=${e}`;
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
          el("span", { className: "line-text", text: line === "" ? "\u200b" : String(line) }),
        ]);
        if (cited && !firstCited) firstCited = row;
        frag.append(row);
      });
      if (!lines.length) frag.append(el("div", { className: "panel-empty", text: "No lines in this range." }));
      els.panelLines.replaceChildren(frag);
      els.panel.dataset.loaded = "true";
      if (firstCited) {
        requestAnimationFrame(() => firstCited.scrollIntoView({ block: "center", behavior: "auto" }));
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
