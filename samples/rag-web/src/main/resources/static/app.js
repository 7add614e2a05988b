// The chat page: questions go to /api/chat/stream as server-sent events (EventSource), the answer is appended
// piece by piece as "token" events arrive, and the engine's statistics come from /api/stats.
"use strict";

const messages = document.getElementById("messages");
const form = document.getElementById("ask");
const question = document.getElementById("question");
const send = document.getElementById("send");

// A random id; crypto.randomUUID exists only on https or localhost, getRandomValues everywhere.
function newConversationId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}

let conversationId = sessionStorage.getItem("conversationId") || newConversationId();
sessionStorage.setItem("conversationId", conversationId);

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function number(n, digits = 0) {
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return number(n, i === 0 ? 0 : 1) + " " + units[i];
}

function scrollDown() {
  window.scrollTo(0, document.body.scrollHeight);
}

function ask(text) {
  const user = element("li", "message user", text);
  const assistant = element("li", "message assistant");
  const answer = element("div", "answer");
  const sources = element("ul", "sources");
  const meta = element("div", "meta", "retrieving…");
  assistant.dataset.state = "streaming";
  assistant.append(answer, meta, sources);
  messages.append(user, assistant);
  scrollDown();
  send.disabled = true;

  const url = "api/chat/stream?" + new URLSearchParams({ message: text, conversationId });
  const events = new EventSource(url);
  const finish = state => {
    events.close();
    assistant.dataset.state = state;
    send.disabled = false;
    question.focus();
    refreshStats();
  };

  events.addEventListener("sources", e => {
    for (const s of JSON.parse(e.data)) {
      const item = element("li", null, s.title + " (" + s.document + ", score " + number(s.score, 2) + ")");
      item.title = s.text;
      sources.append(item);
    }
    meta.textContent = "generating…";
  });
  events.addEventListener("token", e => {
    answer.append(JSON.parse(e.data).text); // a text node per piece: never parsed as HTML
    scrollDown();
  });
  events.addEventListener("done", e => {
    const a = JSON.parse(e.data);
    const parts = [number(a.usage.outputTokens) + " tokens", number(a.usage.inputTokens) + " prompt tokens"];
    if (a.timings) {
      parts.push(number(a.timings.decodeTokensPerSecond, 1) + " tok/s");
      parts.push("first token after " + number(a.timings.queueMillis + a.timings.prefillMillis) + " ms");
      if (a.timings.cachedPromptTokens > 0) parts.push(number(a.timings.cachedPromptTokens) + " prompt tokens from cache");
      document.getElementById("stat-last").textContent = number(a.timings.decodeTokensPerSecond, 1) + " tok/s";
    }
    if (a.finishReason && a.finishReason !== "STOP") parts.push("stopped: " + a.finishReason.toLowerCase());
    meta.textContent = parts.join(" · ");
    finish("done");
  });
  events.addEventListener("failure", e => {
    assistant.classList.add("error");
    meta.textContent = "";
    answer.textContent = JSON.parse(e.data).message;
    finish("error");
  });
  events.onerror = () => { // the connection failed or dropped (a "failure" event has data and is handled above)
    if (assistant.dataset.state !== "streaming") return;
    assistant.classList.add("error");
    meta.textContent = "The connection to the server was lost.";
    finish("error");
  };
}

form.addEventListener("submit", e => {
  e.preventDefault();
  const text = question.value.trim();
  if (!text || send.disabled) return;
  question.value = "";
  ask(text);
});

question.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    form.requestSubmit();
  }
});

document.getElementById("new-conversation").addEventListener("click", () => {
  conversationId = newConversationId();
  sessionStorage.setItem("conversationId", conversationId);
  messages.replaceChildren();
  question.focus();
});

function show(id, text) {
  document.getElementById(id).textContent = text;
}

async function refreshStats() {
  let s;
  try {
    const response = await fetch("api/stats");
    if (!response.ok) return;
    s = await response.json();
  } catch (err) {
    return; // the server is restarting or gone; the next refresh tries again
  }
  const k = s.knowledgeBase;
  show("stat-docs", k.documents + " (" + k.passages + " passages)");
  if (!s.loaded) {
    show("model", "The model loads with the first question.");
    return;
  }
  show("model", s.model + " on " + s.device + " · context " + number(s.contextLength) + " tokens");
  const e = s.engine;
  show("stat-decode", number(e.decodeTokensPerSecond, 1) + " tok/s");
  show("stat-prefill", number(e.prefillTokensPerSecond, 1) + " tok/s");
  show("stat-tokens", number(e.promptTokens) + " prompt, " + number(e.generatedTokens) + " generated");
  show("stat-requests", number(e.completed) + " done, " + e.running + " running, " + e.queued + " queued");
  show("stat-prefix", number(e.prefixHits) + " / " + number(e.prefixMisses));
  show("stat-reused", number(e.reusedPromptTokens));
  show("stat-kept", number(e.prefixCacheEntries) + " (" + bytes(e.prefixCacheBytes) + ")");
  const o = s.offload;
  show("stat-blocks", o.residentBlocks + " resident, " + o.streamedBlocks + " streamed, " + o.cpuBlocks + " CPU");
  show("stat-gpu-cache", number(o.hitRate * 100, 1) + " % hits (" + number(o.cacheHits) + " / "
      + number(o.cacheMisses) + ")");
  show("stat-streamed", bytes(o.bytesStreamed) + " at " + number(o.streamedGigabytesPerSecond, 1) + " GB/s");
}

refreshStats();
setInterval(() => { if (!document.hidden) refreshStats(); }, 5000);
question.focus();
