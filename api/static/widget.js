/* Helpdeck chat widget: <script src="{api}/widget.js" data-key="hd_pk_…" async></script> */
(function () {
  "use strict";
  var me = document.currentScript; if (!me || window.__helpdeck) return; window.__helpdeck = 1;
  var API = new URL(me.src).origin, KEY = me.getAttribute("data-key") || "";
  var T = {
    en: ["Chat with us", "Message", "Send", "Typing…", "Close", "Hi! How can we help?", "Sources", "A person from our team is here.", "Something went wrong. Please try again.", "Suggestions"],
    de: ["Chatten Sie mit uns", "Nachricht", "Senden", "Schreibt…", "Schließen", "Hallo! Wie können wir helfen?", "Quellen", "Eine Person aus unserem Team ist da.", "Etwas ist schiefgelaufen. Bitte erneut versuchen.", "Vorschläge"],
    fr: ["Discutez avec nous", "Message", "Envoyer", "En train d’écrire…", "Fermer", "Bonjour ! Comment pouvons-nous aider ?", "Sources", "Une personne de notre équipe est là.", "Une erreur est survenue. Veuillez réessayer.", "Suggestions"],
    it: ["Chatta con noi", "Messaggio", "Invia", "Sta scrivendo…", "Chiudi", "Ciao! Come possiamo aiutarti?", "Fonti", "Una persona del nostro team è qui.", "Qualcosa è andato storto. Riprova.", "Suggerimenti"],
    zh: ["与我们聊天", "消息", "发送", "正在输入…", "关闭", "您好！有什么可以帮您？", "来源", "我们的客服人员已接入。", "出错了，请重试。", "建议"]
  };
  var lang = (navigator.language || "en").slice(0, 2).toLowerCase(); if (!T[lang]) lang = "en";
  var t = T[lang], store = "hd_widget_" + KEY.slice(0, 18), state = {};
  try { state = JSON.parse(localStorage.getItem(store) || "{}"); } catch (e) { state = {}; }
  var seen = {}, liveOn = false, color = "#2563eb";
  function save() { try { localStorage.setItem(store, JSON.stringify(state)); } catch (e) {} }
  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text; return n;
  }
  function headers(json) {
    var h = { Authorization: "Bearer " + KEY };
    if (state.t) h["X-Visitor-Token"] = state.t;
    if (json) h["Content-Type"] = "application/json"; return h;
  }
  var css = ".hd-b{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;border:0;color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px #0004;z-index:2147483000}" +
    ".hd-p{position:fixed;bottom:88px;right:20px;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 8px 30px #0004;display:flex;flex-direction:column;font:14px/1.4 system-ui,sans-serif;color:#111;z-index:2147483000;overflow:hidden}" +
    ".hd-p[hidden]{display:none}.hd-h{color:#fff;padding:12px 14px;display:flex;justify-content:space-between;align-items:center;font-weight:600}" +
    ".hd-h button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer}.hd-l{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}" +
    ".hd-m{max-width:85%;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}.hd-u{align-self:flex-end;color:#fff}.hd-a{align-self:flex-start;background:#f1f3f5}.hd-s{align-self:center;font-size:12px;color:#555}" +
    ".hd-c{font-size:12px;margin-top:4px}.hd-c>*{margin-right:8px}.hd-g button{margin:4px 4px 0 0;border:1px solid #ccc;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer}" +
    ".hd-t{font-size:12px;color:#666;padding:0 12px 4px}.hd-f{display:flex;border-top:1px solid #e5e5e5}.hd-f input{flex:1;border:0;padding:12px;font:inherit;min-width:0}" +
    ".hd-f button{border:0;color:#fff;padding:0 16px;font:inherit;cursor:pointer}.hd-p :focus-visible,.hd-b:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}" +
    "@media (max-width:480px){.hd-p{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}";
  var root = el("div", { "class": "hd-root" }); root.appendChild(el("style", {}, css));
  var bubble = el("button", { "class": "hd-b", type: "button", "aria-label": t[0], "aria-expanded": "false" });
  bubble.innerHTML = '<svg width="26" height="26" viewBox="0 0 24 24" fill="#fff" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var panel = el("div", { "class": "hd-p", role: "dialog", "aria-label": t[0], hidden: "" });
  var head = el("div", { "class": "hd-h" }), title = el("span", {}, t[0]);
  var close = el("button", { type: "button", "aria-label": t[4] }, "×");
  head.appendChild(title); head.appendChild(close);
  var log = el("div", { "class": "hd-l", role: "log", "aria-live": "polite" });
  var typing = el("div", { "class": "hd-t", "aria-live": "polite" });
  var form = el("form", { "class": "hd-f" });
  var input = el("input", { type: "text", "aria-label": t[1], placeholder: t[1], maxlength: "4000", autocomplete: "off" });
  var send = el("button", { type: "submit" }, t[2]);
  form.appendChild(input); form.appendChild(send);
  [head, log, typing, form].forEach(function (n) { panel.appendChild(n); });
  root.appendChild(bubble); root.appendChild(panel); document.body.appendChild(root);
  function paint() { bubble.style.background = head.style.background = send.style.background = color;
    [].forEach.call(log.querySelectorAll(".hd-u"), function (n) { n.style.background = color; }); }
  function toggle(open) {
    panel.hidden = !open; bubble.setAttribute("aria-expanded", String(open));
    if (open) { input.focus(); start(); } else bubble.focus();
  }
  bubble.onclick = function () { toggle(panel.hidden); };
  close.onclick = function () { toggle(false); };
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  function add(role, text, msg) {
    if (msg && msg.seq != null) { if (seen[msg.seq]) return seen[msg.seq]; }
    var cls = role === "user" ? "hd-u" : role === "system" ? "hd-s" : "hd-a";
    var n = el("div", { "class": "hd-m " + cls }, text || "");
    if (role === "user") n.style.background = color;
    if (role === "agent") n.setAttribute("data-role", "agent");
    log.appendChild(n); if (msg) decorate(n, msg);
    log.scrollTop = log.scrollHeight; return n;
  }
  function unsuggest() { [].forEach.call(log.querySelectorAll(".hd-g"), function (g) { g.remove(); }); }
  function clicked(id, chunk) { // a visitor opened a cited source: the quality page counts it
    if (id && chunk) fetch(API + "/v1/messages/" + id + "/citation-clicks", { method: "POST", headers: headers(true),
      body: JSON.stringify({ chunk_id: chunk }), keepalive: true }).catch(function () {});
  }
  function decorate(n, msg) {
    if (msg.seq != null) seen[msg.seq] = n;
    var cites = msg.citations || [], sugg = msg.suggestions || (msg.metadata || {}).suggestions || [], shown = {};
    if (cites.length && !n.querySelector(".hd-c")) {
      var c = el("div", { "class": "hd-c" }, t[6] + ": ");
      cites.forEach(function (x, i) {
        var src = String(x.source || ""), url = /^https?:\/\/[^\s]+$/i.test(src),
          label = (src.replace(/^https?:\/\/(www\.)?/i, "").replace(/\/$/, "") || "[" + (i + 1) + "]") + (x.page ? ", p. " + x.page : "");
        if (label.length > 48) label = label.slice(0, 47) + "…";
        if (shown[label]) return; shown[label] = 1;
        var a = el(url ? "a" : "span", url ? { href: src, target: "_blank", rel: "noopener noreferrer" } : {}, label);
        if (x.section) a.title = x.section;
        if (url) a.onclick = a.onauxclick = function (e) { if (e.button < 2) clicked(msg.id, x.chunk_id); };
        c.appendChild(a);
      });
      n.appendChild(c);
    }
    if (sugg.length && !n.querySelector(".hd-g")) {
      unsuggest(); // only the latest reply offers follow-ups
      var g = el("div", { "class": "hd-g", role: "group", "aria-label": t[9] });
      sugg.slice(0, 3).forEach(function (s) {
        var b = el("button", { type: "button" }, String(s)); b.onclick = function () { ask(String(s)); }; g.appendChild(b);
      });
      n.appendChild(g);
    }
    log.scrollTop = log.scrollHeight;
  }
  async function sse(resp, onEvent) {
    var reader = resp.body.getReader(), dec = new TextDecoder(), buf = "";
    for (;;) {
      var r = await reader.read(); if (r.done) return;
      buf += dec.decode(r.value, { stream: true }).replace(/\r\n/g, "\n");
      var i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        var block = buf.slice(0, i), ev = { event: "message", data: "" }; buf = buf.slice(i + 2);
        block.split("\n").forEach(function (line) {
          var p = line.indexOf(":"); if (p <= 0) return;
          var f = line.slice(0, p), v = line.slice(p + 1).replace(/^ /, "");
          if (f === "data") ev.data += v; else ev[f] = v;
        });
        if (ev.data) { try { ev.data = JSON.parse(ev.data); } catch (e) {} onEvent(ev); }
      }
    }
  }
  async function ensure() {
    if (state.c && state.t) return;
    var r = await fetch(API + "/v1/widget/conversations", { method: "POST", headers: headers(true), body: "{}" });
    if (!r.ok) throw new Error(r.status);
    var b = await r.json(); state = { c: b.conversation.id, t: b.visitor_token }; save();
  }
  var started = false;
  async function start() {
    if (started || !state.c) return; started = true;
    try {
      var r = await fetch(API + "/v1/conversations/" + state.c + "/messages", { headers: headers() });
      if (r.status === 401 || r.status === 403 || r.status === 404) { state = {}; save(); started = false; return; }
      (await r.json()).items.forEach(function (m) { add(m.role, m.content, m); });
    } catch (e) { started = false; return; }
    live();
  }
  async function live() {
    if (liveOn) return; liveOn = true;
    for (;;) {
      try {
        var h = headers(); if (state.e) h["Last-Event-ID"] = state.e;
        var r = await fetch(API + "/v1/conversations/" + state.c + "/live", { headers: h });
        if (r.status === 422) { delete state.e; save(); continue; }
        if (!r.ok) throw new Error(r.status);
        await sse(r, function (ev) {
          if (ev.id) { state.e = ev.id; save(); }
          var d = ev.data || {};
          if (ev.event === "message" && d.message && d.message.role !== "user") {
            var m = d.message; if (m.role === "agent") typing.textContent = "";
            add(m.role, m.content, m);
          } else if (ev.event === "status" && d.status === "escalated" && d.change === "claimed") {
            add("system", t[7]);
          }
        });
      } catch (e) { /* reconnect below */ }
      await new Promise(function (ok) { setTimeout(ok, 1000); });
    }
  }
  async function ask(text) {
    text = (text || "").trim(); if (!text) return;
    input.value = ""; send.disabled = true; typing.textContent = t[3];
    unsuggest(); add("user", text);
    var bot = null;
    try {
      await ensure(); if (!liveOn) { started = true; live(); }
      var r = await fetch(API + "/v1/conversations/" + state.c + "/messages", {
        method: "POST", headers: headers(true), body: JSON.stringify({ content: text, stream: true })
      });
      if (!r.ok) throw new Error(r.status);
      await sse(r, function (ev) {
        var d = ev.data || {};
        if (ev.event === "delta") { if (!bot) bot = add("assistant", ""); bot.firstChild ? bot.firstChild.nodeValue += d.text : bot.textContent = d.text; log.scrollTop = log.scrollHeight; }
        else if (ev.event === "reset" && bot) bot.textContent = "";
        else if (ev.event === "message" && d.content) {
          if (d.seq != null && seen[d.seq] && seen[d.seq] !== bot) { if (bot) bot.remove(); return; }
          if (!bot) bot = add("assistant", d.content, d); else { bot.textContent = d.content; decorate(bot, d); }
        }
      });
    } catch (e) { add("system", t[8]); }
    typing.textContent = ""; send.disabled = false; input.focus();
  }
  form.onsubmit = function (e) { e.preventDefault(); ask(input.value); };
  add("assistant", t[5]).setAttribute("data-greeting", "1");
  fetch(API + "/v1/widget/config?key=" + encodeURIComponent(KEY)).then(function (r) { return r.ok ? r.json() : null; }).then(function (c) {
    if (!c) return; color = c.theme_color || color; title.textContent = c.company_name || t[0];
    var g = (c.greeting || {})[lang] || (c.greeting || {}).en; if (g) log.querySelector("[data-greeting]").textContent = g;
    paint();
  }).catch(function () {});
  paint();
  if (state.c) start();
})();
