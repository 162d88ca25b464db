/* calf-cds card console: sends a request or Bundle to the real API and draws the cards.
 *
 * Safety contract: every string from a request, a sample or an API answer reaches the page
 * only as a DOM text node (textContent / createTextNode) or as a checked http(s) href. This
 * file never assigns innerHTML/outerHTML, never calls insertAdjacentHTML or document.write,
 * and never evaluates strings. Card detail markdown is drawn by a small renderer (headings,
 * paragraphs, bold, italics, code, lists, tables, http(s) links) that builds elements itself.
 */
"use strict";

(function () {
  const INDICATORS = {
    critical: { icon: "\u26D4", label: "Critical" },
    warning: { icon: "\u26A0\uFE0F", label: "Warning" },
    info: { icon: "\u2139\uFE0F", label: "Info" },
  };

  const $ = (id) => document.getElementById(id);
  const serviceSelect = $("service");
  const sampleSelect = $("sample");
  const upload = $("upload");
  const body = $("request-body");
  const sendButton = $("send");
  const status = $("status");
  const cardsBox = $("cards");
  const raw = $("raw");
  const findingLabels = readFindingLabels();

  function readFindingLabels() {
    const node = $("finding-labels");
    if (!node) return {};
    try {
      const parsed = JSON.parse(node.textContent || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (_error) {
      return {};
    }
  }

  /* ---------------------------------------------------------------- small DOM helpers */

  function el(tag, options, children) {
    const node = document.createElement(tag);
    const opts = options || {};
    if (opts.className) node.className = opts.className;
    if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
    if (opts.testid) node.dataset.testid = opts.testid;
    if (opts.attrs) {
      for (const [name, value] of Object.entries(opts.attrs)) node.setAttribute(name, value);
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function safeHref(url) {
    if (typeof url !== "string") return null;
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_error) {
      return null;
    }
  }

  function link(label, url) {
    const href = safeHref(url);
    if (!href) return document.createTextNode(String(label));
    return el("a", { text: label, attrs: { href, rel: "noopener noreferrer", target: "_blank" } });
  }

  /* A SMART link is launched by an EHR (iss + launch). The console is no EHR: with a
     development EHR configured (`calf-cds dev-ehr`, CDS_SMART_DEV_EHR_URL) it asks that EHR to
     launch the app for the request's patient; otherwise it shows the link as text. */
  const smartLauncher = readJson("smart-launcher");
  let currentPatient = null;

  function readJson(id) {
    const node = $(id);
    if (!node) return {};
    try {
      const parsed = JSON.parse(node.textContent || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (_error) {
      return {};
    }
  }

  function patientOf(request) {
    if (request && request.context && typeof request.context.patientId === "string") {
      return request.context.patientId;
    }
    for (const entry of (request && request.entry) || []) {
      const resource = entry && entry.resource;
      if (resource && resource.resourceType === "Patient" && typeof resource.id === "string") {
        return resource.id;
      }
    }
    return null;
  }

  function smartLink(cardLink) {
    const launcher = safeHref(smartLauncher.devEhr ? smartLauncher.devEhr + "/launch" : null);
    if (!launcher || !currentPatient || !safeHref(cardLink.url)) {
      return document.createTextNode(cardLink.label + " (an EHR launches it: " + cardLink.url + ")");
    }
    const url = new URL(launcher);
    url.searchParams.set("patient", currentPatient);
    url.searchParams.set("url", cardLink.url);
    if (typeof cardLink.appContext === "string") url.searchParams.set("appContext", cardLink.appContext);
    return el("a", {
      text: cardLink.label,
      attrs: { href: url.href, rel: "noopener noreferrer", target: "_blank" },
    });
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = kind ? "status-" + kind : "";
  }

  /* ---------------------------------------------------------------- markdown (safe subset) */

  const INLINE = /\\([\\`*_[\]{}()#+\-.!<>|~])|`([^`]+)`|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|(?<!\w)_([^_\s][^_]*)_(?!\w)|\[([^\]]+)\]\(([^)\s]+)\)/g;

  function inline(text) {
    const fragment = document.createDocumentFragment();
    let last = 0;
    let plain = "";
    const flush = () => {
      if (plain) fragment.append(document.createTextNode(plain));
      plain = "";
    };
    for (const match of text.matchAll(INLINE)) {
      plain += text.slice(last, match.index);
      last = match.index + match[0].length;
      if (match[1] !== undefined) {
        plain += match[1]; // a backslash escape: the character itself, as text
        continue;
      }
      flush();
      if (match[2] !== undefined) fragment.append(el("code", { text: match[2] }));
      else if (match[3] !== undefined) fragment.append(el("strong", {}, [inline(match[3])]));
      else if (match[4] !== undefined) fragment.append(el("strong", {}, [inline(match[4])]));
      else if (match[5] !== undefined) fragment.append(el("em", {}, [inline(match[5])]));
      else if (match[6] !== undefined) fragment.append(el("em", {}, [inline(match[6])]));
      else if (match[7] !== undefined) {
        const href = safeHref(match[8]) && /^https?:/i.test(match[8]) ? match[8] : null;
        fragment.append(href ? link(match[7], href) : document.createTextNode(match[7]));
      }
    }
    plain += text.slice(last);
    flush();
    return fragment;
  }

  function splitRow(line) {
    const trimmed = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    const cells = [];
    let current = "";
    for (let i = 0; i < trimmed.length; i += 1) {
      const ch = trimmed[i];
      if (ch === "\\" && i + 1 < trimmed.length) {
        current += ch + trimmed[i + 1];
        i += 1;
      } else if (ch === "|") {
        cells.push(current.trim());
        current = "";
      } else {
        current += ch;
      }
    }
    cells.push(current.trim());
    return cells;
  }

  function markdown(source) {
    const root = el("div", { className: "md" });
    const lines = String(source).split(/\r?\n/);
    let paragraph = [];
    let list = null;
    const endParagraph = () => {
      if (paragraph.length) {
        const p = el("p");
        paragraph.forEach((line, index) => {
          if (index) p.append(el("br"));
          p.append(inline(line));
        });
        root.append(p);
      }
      paragraph = [];
    };
    const endList = () => {
      list = null;
    };
    for (let i = 0; i < lines.length; i += 1) {
      const line = lines[i];
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) {
        endParagraph();
        endList();
      } else if (heading) {
        endParagraph();
        endList();
        const level = Math.min(heading[1].length + 3, 6);
        root.append(el("h" + level, {}, [inline(heading[2])]));
      } else if (bullet || numbered) {
        endParagraph();
        const tag = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = el(tag);
          root.append(list);
        }
        list.append(el("li", {}, [inline((bullet || numbered)[1])]));
      } else if (/^\s*\|/.test(line)) {
        endParagraph();
        endList();
        const rows = [];
        while (i < lines.length && /^\s*\|/.test(lines[i])) {
          rows.push(lines[i]);
          i += 1;
        }
        i -= 1;
        const table = el("table", { className: "md-table" });
        rows
          .filter((row) => !/^\s*\|?\s*:?-{2,}/.test(row))
          .forEach((row, index) => {
            const tr = el("tr");
            for (const cell of splitRow(row)) {
              tr.append(el(index === 0 ? "th" : "td", {}, [inline(cell)]));
            }
            table.append(tr);
          });
        root.append(table);
      } else {
        endList();
        paragraph.push(line.trim());
      }
    }
    endParagraph();
    return root;
  }

  /* ---------------------------------------------------------------- cards */

  function findingLabel(id) {
    return findingLabels[id] ? findingLabels[id] + " (" + id + ")" : String(id);
  }

  function evidenceList(evidence) {
    const list = el("ul", { className: "evidence" });
    for (const item of evidence) {
      const parts = [];
      if (item.reference) parts.push(String(item.reference));
      if (item.date) parts.push(String(item.date).slice(0, 10));
      if (item.value) parts.push(String(item.value));
      if (item.side && item.side !== "unknown") parts.push(String(item.side));
      if (item.present === false) parts.push("recorded absent");
      list.append(
        el("li", {}, [el("strong", { text: findingLabel(item.finding) }), ": " + parts.join(", ")])
      );
    }
    return list;
  }

  function wellsBox(wells) {
    const box = el("section", { className: "wells", testid: "wells" });
    const range =
      Array.isArray(wells.range) && wells.range[0] !== wells.range[1]
        ? " (could be " + wells.range[0] + " to " + wells.range[1] + ")"
        : "";
    box.append(el("h4", { text: "Wells score: " + wells.score + range }));
    if (wells.statement) box.append(el("p", { text: wells.statement }));
    const table = el("table", { className: "wells-table" }, [
      el("tr", {}, [
        el("th", { text: "Item" }),
        el("th", { text: "Points" }),
        el("th", { text: "Status" }),
      ]),
    ]);
    for (const item of wells.items || []) {
      const points = Number(item.points);
      table.append(
        el("tr", { className: "wells-" + String(item.status) }, [
          el("td", { text: findingLabel(item.finding) }),
          el("td", { text: (points > 0 ? "+" : "") + points }),
          el("td", { text: String(item.status).replace("-", " ") }),
        ])
      );
    }
    box.append(table);
    return box;
  }

  function card(cardData, serviceId) {
    const indicator = INDICATORS[cardData.indicator] || INDICATORS.info;
    const own = (cardData.extension && cardData.extension["example.calf-cds"]) || {};
    const article = el("article", {
      className: "card card-" + (INDICATORS[cardData.indicator] ? cardData.indicator : "info"),
      testid: "card",
      attrs: { "data-indicator": String(cardData.indicator), "aria-label": String(cardData.summary) },
    });
    const header = el("header", { className: "card-header" }, [
      el("span", { className: "card-icon", text: indicator.icon, attrs: { "aria-hidden": "true" } }),
      el("span", { className: "card-indicator", text: indicator.label }),
      el("h3", { className: "card-summary", text: cardData.summary, testid: "card-summary" }),
    ]);
    article.append(header);
    const meta = [own.ruleId, own.tier, own.route].filter(Boolean).map(String);
    if (meta.length) article.append(el("p", { className: "card-meta", text: meta.join(" \u00B7 ") }));

    if (cardData.detail) {
      const detail = markdown(cardData.detail);
      detail.classList.add("card-detail");
      detail.dataset.testid = "card-detail";
      article.append(detail);
    }
    if (own.wells && typeof own.wells === "object") article.append(wellsBox(own.wells));
    if (Array.isArray(own.evidence) && own.evidence.length) {
      article.append(
        el("section", { className: "card-evidence", testid: "evidence" }, [
          el("h4", { text: "Evidence" }),
          evidenceList(own.evidence),
        ])
      );
    }
    if (Array.isArray(own.notRecorded) && own.notRecorded.length) {
      article.append(
        el("p", { className: "not-recorded", text: "Not recorded: " + own.notRecorded.join(", ") })
      );
    }
    if (cardData.source && cardData.source.label) {
      article.append(
        el("p", { className: "card-source" }, [
          "Source: ",
          link(cardData.source.label, cardData.source.url),
        ])
      );
    }
    for (const cardLink of cardData.links || []) {
      if (cardLink.type === "absolute") {
        article.append(el("p", { className: "card-link" }, [link(cardLink.label, cardLink.url)]));
      } else if (cardLink.type === "smart") {
        article.append(el("p", { className: "card-link", testid: "smart-link" }, [smartLink(cardLink)]));
      }
    }
    const feedback = el("p", { className: "card-feedback", testid: "feedback", attrs: { role: "status" } });
    const buttons = [];
    if (Array.isArray(cardData.suggestions) && cardData.suggestions.length) {
      const box = el("div", { className: "suggestions" });
      for (const suggestion of cardData.suggestions) {
        const accept = el("button", {
          className: "accept",
          text: "Accept",
          testid: "accept",
          attrs: { type: "button" },
        });
        accept.addEventListener("click", () =>
          sendFeedback(serviceId, cardData, feedback, buttons, {
            outcome: "accepted",
            acceptedSuggestions: [{ id: suggestion.uuid }],
          })
        );
        if (!suggestion.uuid) accept.disabled = true;
        buttons.push(accept);
        box.append(
          el("div", { className: "suggestion" }, [
            el("span", {
              className: "suggestion-label",
              text: suggestion.label + (suggestion.isRecommended ? " (recommended)" : ""),
            }),
            accept,
          ])
        );
      }
      article.append(box);
    }
    if (Array.isArray(cardData.overrideReasons) && cardData.overrideReasons.length && cardData.uuid) {
      const select = el("select", { className: "override-reason", testid: "override-reason" });
      cardData.overrideReasons.forEach((reason, index) => {
        select.append(el("option", { text: reason.display || reason.code, attrs: { value: String(index) } }));
      });
      const comment = el("input", {
        className: "override-comment",
        attrs: { type: "text", placeholder: "comment (optional)", maxlength: "500" },
      });
      const override = el("button", {
        className: "override",
        text: "Override",
        testid: "override",
        attrs: { type: "button" },
      });
      override.addEventListener("click", () => {
        const reason = cardData.overrideReasons[Number(select.value)];
        const overrideReason = { reason: { system: reason.system, code: reason.code, display: reason.display } };
        if (comment.value.trim()) overrideReason.userComment = comment.value.trim();
        sendFeedback(serviceId, cardData, feedback, buttons, { outcome: "overridden", overrideReason });
      });
      buttons.push(override, select, comment);
      article.append(
        el("div", { className: "override-box" }, [
          el("label", {}, ["Override reason ", select]),
          comment,
          override,
        ])
      );
    }
    article.append(feedback);
    return article;
  }

  async function sendFeedback(serviceId, cardData, feedback, buttons, entry) {
    const payload = {
      feedback: [
        Object.assign({ card: cardData.uuid }, entry, { outcomeTimestamp: new Date().toISOString() }),
      ],
    };
    buttons.forEach((button) => (button.disabled = true));
    feedback.textContent = "Sending feedback\u2026";
    feedback.className = "card-feedback";
    const answer = await post("/cds-services/" + encodeURIComponent(serviceId) + "/feedback", payload);
    if (answer.ok) {
      const result = answer.json || {};
      const verb = entry.outcome === "accepted" ? "Accepted" : "Overridden";
      feedback.textContent =
        verb +
        ": feedback stored (stored " + Number(result.stored) +
        ", duplicates " + Number(result.duplicates) +
        ", unmatched " + Number(result.unmatched) + ")";
      feedback.className = "card-feedback feedback-ok";
      feedback.dataset.stored = String(Number(result.stored));
    } else {
      feedback.textContent = "Feedback not stored: " + problem(answer);
      feedback.className = "card-feedback feedback-error";
      buttons.forEach((button) => (button.disabled = false));
    }
  }

  /* ---------------------------------------------------------------- requests */

  async function post(url, payload) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: typeof payload === "string" ? payload : JSON.stringify(payload),
      });
    } catch (error) {
      return { ok: false, status: 0, json: null, text: String(error) };
    }
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_error) {
      json = null;
    }
    return { ok: response.ok, status: response.status, json, text };
  }

  function problem(answer) {
    const issues = answer.json && Array.isArray(answer.json.issue) ? answer.json.issue : [];
    const messages = issues.map((issue) => issue.diagnostics || issue.code).filter(Boolean);
    const prefix = answer.status ? "HTTP " + answer.status : "network error";
    return prefix + (messages.length ? ": " + messages.join("; ") : answer.text ? ": " + answer.text : "");
  }

  function chooseServiceFor(hook) {
    const current = serviceSelect.selectedOptions[0];
    if (!hook || (current && current.dataset.hook === hook)) return true;
    for (const option of serviceSelect.options) {
      if (option.dataset.hook === hook) {
        serviceSelect.value = option.value;
        return true;
      }
    }
    return false;
  }

  async function send() {
    let parsed;
    try {
      parsed = JSON.parse(body.value);
    } catch (error) {
      setStatus("Not valid JSON: " + error.message, "error");
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      setStatus("Paste a JSON object: a CDS Hooks request or a FHIR Bundle.", "error");
      return;
    }
    let url;
    if (parsed.resourceType === "Bundle") {
      url = "/evaluate?service=" + encodeURIComponent(serviceSelect.value);
    } else {
      chooseServiceFor(typeof parsed.hook === "string" ? parsed.hook : "");
      url = "/cds-services/" + encodeURIComponent(serviceSelect.value);
    }
    const serviceId = serviceSelect.value;
    currentPatient = patientOf(parsed);
    sendButton.disabled = true;
    setStatus("Asking " + url + "\u2026", "");
    const answer = await post(url, body.value);
    sendButton.disabled = false;
    raw.textContent = answer.json ? JSON.stringify(answer.json, null, 2) : answer.text;
    clear(cardsBox);
    if (!answer.ok) {
      setStatus(problem(answer), "error");
      cardsBox.append(el("p", { className: "empty", text: "No cards: the service refused the request." }));
      return;
    }
    const cards = (answer.json && answer.json.cards) || [];
    setStatus(cards.length + (cards.length === 1 ? " card" : " cards") + " from " + url, "ok");
    if (!cards.length) cardsBox.append(el("p", { className: "empty", text: "No cards: nothing applies." }));
    for (const cardData of cards) cardsBox.append(card(cardData, serviceId));
  }

  async function loadSample() {
    const name = sampleSelect.value;
    if (!name) return;
    setStatus("Loading " + name + "\u2026", "");
    const response = await fetch("/console/samples/" + encodeURIComponent(name));
    if (!response.ok) {
      setStatus("Sample " + name + " could not be loaded (HTTP " + response.status + ")", "error");
      return;
    }
    const text = await response.text();
    body.value = text;
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.hook === "string") chooseServiceFor(parsed.hook);
    } catch (_error) {
      /* shown when sent */
    }
    setStatus("Loaded " + name + "; press \u201CGet cards\u201D.", "");
  }

  sampleSelect.addEventListener("change", loadSample);
  sendButton.addEventListener("click", send);
  upload.addEventListener("change", () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    file.text().then((text) => {
      body.value = text;
      setStatus("Loaded " + file.name + "; press \u201CGet cards\u201D.", "");
    });
  });
  document.documentElement.dataset.consoleReady = "true";
})();
