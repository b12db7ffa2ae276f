// The staff console's behaviour: live updates from the server's event stream (refetching the
// affected fragment with htmx), canned replies inserted into the reply box, the reply box
// enabled only for the conversation's owner, and read marks sent once messages are shown.
(function () {
  "use strict";

  const LIVE_KINDS = ["message.in", "message.out", "message.status", "conversation.state",
    "conversation.note"];
  const FALLBACK_POLL_MS = 10000;

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function say(text) {
    const status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  // --- canned replies ------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const chip = event.target.closest("[data-canned]");
    if (!chip) return;
    const box = document.getElementById("reply-body");
    if (!box || box.disabled) return;
    const text = chip.dataset.canned;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.selectionStart = box.selectionEnd = start + text.length;
    box.focus();
  });

  // --- who may reply, and read marks ---------------------------------------------------
  let markedUpTo = 0;

  function markRead(conversationId, newest) {
    if (!conversationId || !(newest > markedUpTo)) return;
    markedUpTo = newest;
    fetch("/console/conversations/" + conversationId + "/read", {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf(), "Content-Type": "application/x-www-form-urlencoded"},
      body: "up_to=" + encodeURIComponent(newest),
    }).catch(function () { markedUpTo = 0; });
  }

  function applyOwner() {
    const bar = document.getElementById("owner-bar");
    if (!bar) return;
    const mine = bar.dataset.mine === "yes";
    document.querySelectorAll("#reply-form textarea, #reply-form button").forEach(function (el) {
      el.disabled = !mine;
    });
    const box = document.getElementById("reply-body");
    if (box) {
      box.placeholder = mine ? "Type a reply…"
        : bar.dataset.owner ? bar.dataset.owner + " has this conversation: only they can reply"
        : "Take the conversation over to reply";
    }
    const transcript = document.getElementById("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;
    const holder = document.querySelector("[data-conversation]");
    markRead(holder && holder.dataset.conversation, Number(bar.dataset.newestId || 0));
  }

  document.addEventListener("htmx:afterSwap", applyOwner);

  // --- live updates --------------------------------------------------------------------
  function refresh(target) {
    if (target._pending || !window.htmx) return;
    // A burst of events (a message and its reply) is one refetch.
    target._pending = setTimeout(function () {
      target._pending = null;
      window.htmx.trigger(target, "live");
    }, 100);
  }

  function onEvent(event) {
    let data = {};
    try { data = JSON.parse(event.data); } catch (error) { /* refetch anyway */ }
    document.querySelectorAll("[data-live]").forEach(function (target) {
      const only = target.dataset.conversationId;
      if (only && data.conversation_id != null && String(data.conversation_id) !== only) return;
      refresh(target);
    });
  }

  function pollInstead() {
    say("Live updates are unavailable: refreshing every " + FALLBACK_POLL_MS / 1000 + " s.");
    setInterval(function () {
      document.querySelectorAll("[data-live]").forEach(refresh);
    }, FALLBACK_POLL_MS);
  }

  function connect() {
    const lastId = document.body.dataset.lastEventId;
    if (lastId === undefined || !document.querySelector("[data-live]")) return;
    if (!window.EventSource) { pollInstead(); return; }
    // After a dropped connection the browser reconnects by itself, sending Last-Event-ID:
    // the server then sends every event since, so nothing a colleague did is missed.
    const source = new EventSource("/api/v1/conversations/events?after=" +
      encodeURIComponent(lastId));
    LIVE_KINDS.forEach(function (kind) { source.addEventListener(kind, onEvent); });
    source.onmessage = onEvent;
    source.onopen = function () { say("Live: new messages appear by themselves."); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) pollInstead();
      else say("Reconnecting to live updates…");
    };
  }

  function start() {
    applyOwner();
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
