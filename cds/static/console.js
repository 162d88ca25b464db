/* calf-cds card console: sends a request or Bundle to the real API and draws the cards.
 *
 * Safety contract: every string from a request, a sample or an API answer reaches the page
 * only as a DOM text node (textContent / createTextNode) or as a checked http(s) href. This
 * file never assigns innerHTML/outerHTML, never calls insertAdjacentHTML or document.write,
 * and never evaluates strings. A card is drawn from its structured extension
 * (extension["example.calf-cds"]), the way an EHR sidebar shows it; its markdown `detail` is
 * drawn, for testers only, inside the card's "Details for testers" disclosure by a small
 * renderer (headings, paragraphs, bold, italics, code, lists, tables, http(s) links) that
 * builds elements itself.
 *
 * Words: the script holds none of its own. Every label, status and error comes from the page
 * (`#console-messages`, rendered by cds/http/console_text.py in the page's language), and the
 * page's language goes with every request it makes, so the cards come back in it too.
 */
"use strict";

(function () {
  const EXTENSION_KEY = "example.calf-cds";
  // Long enough to notice a wrong click and undo it, short enough not to lose the choice.
  const UNDO_MS = 5000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const INDICATORS = ["critical", "warning", "info"];
  const WELLS_CLASSIFICATIONS = ["likely", "unlikely", "incomplete"];
  const PRIORITIES = ["routine", "urgent", "asap", "stat"];
  const SIDES = ["left", "right", "both"];

  const $ = (id) => document.getElementById(id);
  const TEXT = readJson("console-messages");
  const LANGUAGE =
    typeof TEXT.language === "string" ? TEXT.language : document.documentElement.lang || "en";
  const MESSAGES = isObject(TEXT.messages) ? TEXT.messages : {};
  const PLURALS = isObject(TEXT.plurals) ? TEXT.plurals : {};
  const DISPLAYS = isObject(TEXT.displays) ? TEXT.displays : {};
  const pluralRules = new Intl.PluralRules(LANGUAGE);
  const serviceSelect = $("service");
  const sampleSelect = $("sample");
  const upload = $("upload");
  const asOfInput = $("as-of");
  const asOfClear = $("as-of-clear");
  const body = $("request-body");
  const sendButton = $("send");
  const status = $("status");
  const evaluatedAt = $("evaluated-at");
  const cardsBox = $("cards");
  const raw = $("raw");
  const findingLabels = readFindingLabels();

  // Each request gets a number; an answer that is not the latest one's is dropped, so a slow
  // earlier answer can never replace the cards of a later request.
  let requestNumber = 0;
  let inFlight = null; // the AbortController of the request awaiting its answer
  // Accepts waiting out their undo delay: each entry sends its feedback now when called.
  const pendingAccepts = new Set();
  // Whether the tester changed "as of" since it was filled from the request body.
  let asOfChanged = false;
  let cardCounter = 0;

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

  /* ---------------------------------------------------------------- words */

  const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

  function fill(template, values) {
    return String(template).replace(PLACEHOLDER, (whole, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole
    );
  }

  /* The page's text for `key`, its {placeholders} filled (the key itself if the page lacks it). */
  function t(key, values) {
    return fill(typeof MESSAGES[key] === "string" ? MESSAGES[key] : key, values || {});
  }

  /* The form for `n` of a plural message: the browser names n's CLDR category, the page gave
   * the catalog's form for each category. */
  function tn(key, n, values) {
    const forms = isObject(PLURALS[key]) ? PLURALS[key] : {};
    const template = forms[pluralRules.select(n)] || forms.other || forms.many || key;
    return fill(template, Object.assign({ n }, values || {}));
  }

  /* Like t(), for text around nodes (a link, a <code>): strings and nodes, in the language's
   * word order, to append. */
  function tParts(key, values) {
    const template = typeof MESSAGES[key] === "string" ? MESSAGES[key] : key;
    const has = (name) => Object.prototype.hasOwnProperty.call(values, name);
    return template
      .split(PLACEHOLDER) // text, name, text, name, ..., text
      .map((part, index) => (index % 2 === 0 ? part : has(part) ? values[part] : "{" + part + "}"))
      .filter((part) => part !== "");
  }

  /* A code's display as the console shows it: in the page's language when the page has it. */
  function display(text) {
    return typeof DISPLAYS[text] === "string" ? DISPLAYS[text] : text;
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

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
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
      return document.createTextNode(t("smart.noLauncher", { label: cardLink.label, url: cardLink.url }));
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

  function capitalise(text) {
    const value = String(text);
    return value.charAt(0).toUpperCase() + value.slice(1);
  }

  /* Markdown escapes in extension strings (the card builder escapes EHR-supplied text in the
   * strings it shares with the markdown detail): shown as the characters themselves. */
  function unescapeMarkdown(text) {
    return String(text).replace(/\\([\\`*_[\]{}()#+\-.!<>|~])/g, "$1");
  }

  /* ---------------------------------------------------------------- times */

  /* English cards write ISO dates; other languages their own (Russian 25.11.2026). */
  function utcText(iso) {
    const time = Date.parse(iso);
    if (Number.isNaN(time)) return String(iso);
    const text = new Date(time).toISOString();
    const seconds = text.slice(17, 19) !== "00";
    if (TEXT.isoDates !== false) return text.slice(0, seconds ? 19 : 16).replace("T", " ") + " UTC";
    const format = new Intl.DateTimeFormat(LANGUAGE, {
      timeZone: "UTC",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: seconds ? "2-digit" : undefined,
      hourCycle: "h23",
    });
    return format.format(new Date(time)) + " UTC";
  }

  function dayText(day) {
    const text = String(day).slice(0, 10);
    const time = Date.parse(text + "T00:00:00Z");
    if (TEXT.isoDates !== false || Number.isNaN(time)) return text;
    const format = new Intl.DateTimeFormat(LANGUAGE, {
      timeZone: "UTC",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    });
    return format.format(new Date(time));
  }

  /* The "as of" field holds UTC wall time ("2026-11-25T12:00[:00]"); the wire wants an
   * instant with an offset. */
  function asOfIso() {
    const value = asOfInput.value;
    if (!value) return "";
    return (value.length === 16 ? value + ":00" : value) + "Z";
  }

  function setAsOfFrom(iso) {
    const time = typeof iso === "string" ? Date.parse(iso) : NaN;
    asOfInput.value = Number.isNaN(time) ? "" : new Date(time).toISOString().slice(0, 19);
    asOfChanged = false;
  }

  function evaluationTimeOf(parsed) {
    const ours = isObject(parsed) && isObject(parsed.extension) ? parsed.extension[EXTENSION_KEY] : null;
    return isObject(ours) && typeof ours.evaluationTime === "string" ? ours.evaluationTime : "";
  }

  /* Fill "as of" from the request now in the text box (its documented reference time). */
  function syncAsOfFromBody() {
    let parsed = null;
    try {
      parsed = JSON.parse(body.value);
    } catch (_error) {
      parsed = null;
    }
    setAsOfFrom(evaluationTimeOf(parsed));
  }

  /* The hook request as sent: as pasted, plus in its extension the page's language when it
   * names none (so the cards come back in the console's language; a request that names one
   * keeps it), and the tester's "as of" when changed (set, or emptied: removed). An extension
   * that is not an object is sent as pasted: the tester may be testing that 400. */
  function hookPayload(parsed, text) {
    if (parsed.extension !== undefined && !isObject(parsed.extension)) return text;
    const extension = parsed.extension || {};
    if (extension[EXTENSION_KEY] !== undefined && !isObject(extension[EXTENSION_KEY])) return text;
    const ours = extension[EXTENSION_KEY] || {};
    if (ours.language === undefined) ours.language = LANGUAGE;
    if (asOfChanged) {
      const asOf = asOfIso();
      if (asOf) ours.evaluationTime = asOf;
      else delete ours.evaluationTime;
    }
    extension[EXTENSION_KEY] = ours;
    parsed.extension = extension;
    return JSON.stringify(parsed);
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
        const level = Math.min(heading[1].length + 4, 6);
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

  /* ---------------------------------------------------------------- card parts */

  /* The indicator drawn as an SVG shape (octagon, triangle, circle) with its mark as paths:
   * no icon font or emoji, which Debian's Chromium may lack a glyph for. */
  function indicatorIcon(kind) {
    const icon = svg("svg", {
      class: "card-icon",
      viewBox: "0 0 20 20",
      width: 20,
      height: 20,
      "aria-hidden": "true",
      focusable: "false",
    });
    if (kind === "critical") {
      icon.append(svg("polygon", { class: "icon-shape", points: "6,1 14,1 19,6 19,14 14,19 6,19 1,14 1,6" }));
    } else if (kind === "warning") {
      icon.append(svg("polygon", { class: "icon-shape", points: "10,1.5 19,18 1,18" }));
    } else {
      icon.append(svg("circle", { class: "icon-shape", cx: 10, cy: 10, r: 9 }));
    }
    if (kind === "info") {
      icon.append(svg("circle", { class: "icon-mark", cx: 10, cy: 5.8, r: 1.4 }));
      icon.append(svg("rect", { class: "icon-mark", x: 8.9, y: 8.5, width: 2.2, height: 7, rx: 0.6 }));
    } else {
      const top = kind === "warning" ? 7 : 4.8;
      icon.append(svg("rect", { class: "icon-mark", x: 8.9, y: top, width: 2.2, height: 6.4, rx: 0.6 }));
      icon.append(svg("circle", { class: "icon-mark", cx: 10, cy: top + 9, r: 1.3 }));
    }
    return icon;
  }

  function section(title, className, testid, children) {
    return el("section", { className: "card-section " + className, testid }, [
      el("h4", { text: title }),
      ...children,
    ]);
  }

  function evidenceText(item) {
    const parts = [String(item.name || item.finding || t("evidence.finding")) + (item.value ? " " + item.value : "")];
    if (item.present === false) parts.push(t("evidence.recordedAbsent"));
    if (item.side) parts.push(SIDES.includes(item.side) ? t("side." + item.side) : String(item.side));
    parts.push(item.date ? dayText(item.date) : t("evidence.undated"));
    return parts.join(", ");
  }

  function evidenceSection(own) {
    const list = el("ul", { className: "evidence" });
    for (const item of own.evidence) {
      const line = el("li", { testid: "evidence-item" });
      if (item.reference) {
        // The record behind the finding, one click away (an id, for whoever checks the EHR).
        line.append(
          el("details", { className: "evidence-source" }, [
            el("summary", { text: evidenceText(item) }),
            el(
              "span",
              { className: "evidence-reference" },
              tParts("evidence.record", { reference: el("code", { text: item.reference, testid: "evidence-reference" }) })
            ),
          ])
        );
      } else {
        line.append(el("span", { className: "evidence-line", text: evidenceText(item) }));
      }
      list.append(line);
    }
    const total = Number(own.evidenceTotal);
    if (total > own.evidence.length) {
      list.append(
        el("li", {
          className: "evidence-more",
          testid: "evidence-more",
          text: tn("evidence.more", total - own.evidence.length, { shown: own.evidence.length }),
        })
      );
    }
    return section(t("section.why"), "card-evidence", "evidence", [list]);
  }

  /* A Wells item's name: its label in the card's language, else the page's catalog name. */
  function wellsLabel(item) {
    const label = typeof item.label === "string" && item.label ? item.label : findingLabels[item.finding];
    return capitalise(label || item.finding);
  }

  function wellsSection(wells) {
    const known = WELLS_CLASSIFICATIONS.includes(wells.classification);
    const classification = known ? t("wells." + wells.classification) : String(wells.classification || "");
    const title = classification
      ? t("wells.titleClassified", { score: wells.score, classification })
      : t("wells.title", { score: wells.score });
    const recorded = (wells.items || []).filter((item) => item.status === "present" || item.status === "absent");
    const table = el("table", { className: "wells-table" }, [
      el("thead", {}, [
        el("tr", {}, [
          el("th", { text: t("wells.item"), attrs: { scope: "col" } }),
          el("th", { text: t("wells.recorded"), attrs: { scope: "col" } }),
          el("th", { className: "num", text: t("wells.points"), attrs: { scope: "col" } }),
        ]),
      ]),
    ]);
    const rows = el("tbody");
    for (const item of recorded) {
      const present = item.status === "present";
      const points = present ? Number(item.points) : 0;
      rows.append(
        el("tr", { className: "wells-" + item.status, testid: "wells-item" }, [
          el("th", { text: wellsLabel(item), attrs: { scope: "row" } }),
          el("td", { text: present ? t("wells.present") : t("wells.absent") }),
          el("td", { className: "num", text: (points > 0 ? "+" : "") + points }),
        ])
      );
    }
    rows.append(
      el("tr", { className: "wells-total" }, [
        el("th", { text: t("wells.total"), attrs: { scope: "row" } }),
        el("td", { text: recorded.length ? "" : t("wells.noItem") }),
        el("td", { className: "num", text: String(wells.score) }),
      ])
    );
    table.append(rows);
    const children = [table];
    if (Array.isArray(wells.range) && wells.range[0] !== wells.range[1]) {
      children.push(
        el("p", {
          className: "wells-range",
          text: t("wells.range", { low: wells.range[0], high: wells.range[1] }),
        })
      );
    }
    return section(title, "wells", "wells", children);
  }

  // "(Observation/id)" or "(urn:uuid:...)" inside a line of text: the record, not for the reader.
  const RECORD_IN_TEXT = / \(([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}|urn:uuid:[0-9a-fA-F-]{36})\)/g;

  /* Lines that may cite records (Also noted, caveats): each record behind its line's disclosure,
     as in the evidence list; a line without one is plain text. */
  function recordSection(title, className, testid, lines) {
    const list = el("ul", { className: "evidence" });
    for (const line of lines) {
      const references = Array.from(line.matchAll(RECORD_IN_TEXT), (match) => match[1]);
      if (!references.length) {
        list.append(el("li", {}, [el("span", { className: "evidence-line", text: line })]));
        continue;
      }
      const records = references.map((reference) =>
        el("span", { className: "evidence-reference" }, tParts("evidence.record", { reference: el("code", { text: reference, testid: "record-reference" }) }))
      );
      list.append(
        el("li", {}, [
          el("details", { className: "evidence-source" }, [el("summary", { text: line.replace(RECORD_IN_TEXT, "") }), ...records]),
        ])
      );
    }
    return section(title, className, testid, [list]);
  }

  function textSection(title, className, testid, lines, asList) {
    if (asList) {
      return section(title, className, testid, [
        el("ul", {}, lines.map((line) => el("li", { text: line }))),
      ]);
    }
    return section(title, className, testid, lines.map((line) => el("p", { text: line })));
  }

  /* What the draft ServiceRequest orders, as a clinician reads it: code, priority, performer. */
  function orderOf(suggestion) {
    const action = (suggestion.actions || []).find((a) => isObject(a) && isObject(a.resource));
    const resource = action ? action.resource : {};
    const coding = (concept) => {
      if (!isObject(concept)) return null;
      const first = Array.isArray(concept.coding) ? concept.coding.find(isObject) : null;
      return first || null;
    };
    const code = coding(resource.code);
    const performer = coding(resource.performerType);
    return {
      key: code ? String(code.system) + "|" + String(code.code) : null,
      service: (code && (code.display ? display(code.display) : code.code)) || (isObject(resource.code) && resource.code.text) || suggestion.label,
      priority: resource.priority ? String(resource.priority) : "",
      performer: performer ? (performer.display ? display(performer.display) : String(performer.code)) : "",
    };
  }

  function orderText(order) {
    const parts = [order.service];
    if (order.priority) {
      const known = PRIORITIES.includes(order.priority);
      parts.push(known ? t("order.priority." + order.priority) : t("order.priority", { priority: order.priority }));
    }
    if (order.performer) parts.push(t("order.performer", { performer: order.performer }));
    return parts.join(", ");
  }

  function testerDetails(cardData, own) {
    const rows = [
      [t("tester.rule"), own.ruleId],
      [t("tester.variant"), own.variant],
      [t("tester.tier"), own.tier],
      [t("tester.route"), own.route],
      [t("tester.coveredBy"), own.coveredBy],
      [t("tester.mergedInto"), own.mergedInto],
      [t("tester.card"), cardData.uuid],
      [t("tester.suggestions"), (cardData.suggestions || []).map((s) => s.uuid).filter(Boolean).join(", ")],
      [t("tester.evaluatedAt"), own.evaluatedAt],
      [t("tester.language"), own.language],
      [t("tester.missingItems"), (own.missingItems || []).join(", ")],
      [t("tester.sourceTopic"), cardData.source && cardData.source.topic ? cardData.source.topic.code : ""],
      [t("tester.appLinks"), (cardData.links || []).filter((l) => l.type === "smart").map((l) => l.label + " " + l.url).join("; ")],
    ];
    const list = el("dl", { className: "tester-facts" });
    for (const [name, value] of rows) {
      if (value === undefined || value === null || value === "") continue;
      list.append(el("dt", { text: name }), el("dd", {}, [el("code", { text: value })]));
    }
    const box = el("details", { className: "tester", testid: "tester-details" }, [
      el("summary", { text: t("tester.title") }),
      list,
    ]);
    if (cardData.detail) {
      const detail = markdown(cardData.detail);
      detail.classList.add("card-detail");
      detail.dataset.testid = "card-detail";
      box.append(el("h5", { text: t("tester.detail") }), detail);
    }
    return box;
  }

  /* ---------------------------------------------------------------- a card */

  function card(cardData, serviceId) {
    const kind = INDICATORS.includes(cardData.indicator) ? cardData.indicator : "info";
    const own = (cardData.extension && cardData.extension[EXTENSION_KEY]) || {};
    cardCounter += 1;
    const summaryId = "card-summary-" + cardCounter;
    const article = el("article", {
      className: "card card-" + kind,
      testid: "card",
      attrs: { "data-indicator": String(cardData.indicator), "aria-labelledby": summaryId },
    });
    article.append(
      el("header", { className: "card-header" }, [
        indicatorIcon(kind),
        el("span", { className: "card-indicator", text: t("indicator." + kind) }),
        el("h3", { className: "card-summary", text: cardData.summary, testid: "card-summary", attrs: { id: summaryId } }),
      ])
    );
    const conflict = el("p", { className: "conflict", testid: "conflict", attrs: { hidden: "" } });
    article.append(conflict);

    // The step a suggestion drafts is shown once: by its Accept button, not also in this list.
    const drafted = Array.isArray(cardData.suggestions) && cardData.suggestions.length ? own.referralLine : null;
    const steps = (Array.isArray(own.nextSteps) ? own.nextSteps : []).filter((step) => !drafted || step !== drafted);
    if (steps.length) {
      article.append(textSection(t("section.nextSteps"), "next-steps", "next-steps", steps, true));
    }
    if (own.transfer) article.append(textSection(t("section.transfer"), "transfer", "transfer", [own.transfer], false));
    if (Array.isArray(own.evidence) && own.evidence.length) article.append(evidenceSection(own));
    if (isObject(own.wells)) article.append(wellsSection(own.wells));
    if (Array.isArray(own.ddimer) && own.ddimer.length) {
      article.append(textSection(t("section.ddimer"), "ddimer", "ddimer", own.ddimer.map(unescapeMarkdown), false));
    }
    if (Array.isArray(own.notRecorded) && own.notRecorded.length) {
      article.append(
        textSection(t("section.notRecorded"), "not-recorded", "not-recorded", [own.notRecorded.join(", ") + "."], false)
      );
    }
    if (Array.isArray(own.alsoNoted) && own.alsoNoted.length) {
      article.append(recordSection(t("section.alsoNoted"), "also-noted", "also-noted", own.alsoNoted.map(unescapeMarkdown)));
    }
    if (Array.isArray(own.caveats) && own.caveats.length) {
      const caveats = own.caveats.map((line) => unescapeMarkdown(String(line).replace(/^- /, "")));
      article.append(recordSection(t("section.caveats"), "caveats", "caveats", caveats));
    }
    if (Array.isArray(own.safetyNet) && own.safetyNet.length) {
      article.append(textSection(t("section.safetyNet"), "safety-net", "safety-net", own.safetyNet, false));
    }
    const sourceLine = el("p", { className: "card-source" });
    if (cardData.source && cardData.source.label) {
      sourceLine.append(...tParts("source", { source: link(cardData.source.label, cardData.source.url) }));
    }
    const sourceUrl = cardData.source ? safeHref(cardData.source.url) : null;
    for (const cardLink of cardData.links || []) {
      // The guideline link usually repeats the source; an app link is drawn below.
      if (cardLink.type !== "absolute" || safeHref(cardLink.url) === sourceUrl) continue;
      sourceLine.append(sourceLine.childNodes.length ? " \u00B7 " : "", link(cardLink.label, cardLink.url));
    }
    if (sourceLine.childNodes.length) article.append(sourceLine);
    for (const cardLink of cardData.links || []) {
      if (cardLink.type === "smart") {
        article.append(el("p", { className: "card-link", testid: "smart-link" }, [smartLink(cardLink)]));
      }
    }

    const state = { article, conflict, conflictText: "", serviceId, cardData, controls: [], accepts: [], locked: false };
    article.append(actions(state));
    article.append(testerDetails(cardData, own));
    return state;
  }

  /* ---------------------------------------------------------------- feedback */

  function setDisabled(controls, disabled) {
    for (const control of controls) control.disabled = disabled;
  }

  function actions(state) {
    const { cardData } = state;
    const box = el("div", { className: "card-actions", testid: "actions" });
    const feedback = el("p", { className: "card-feedback", testid: "feedback", attrs: { role: "status" } });
    state.feedback = feedback;
    const suggestions = Array.isArray(cardData.suggestions) ? cardData.suggestions : [];
    if (suggestions.length) {
      for (const suggestion of suggestions) box.append(proposal(state, suggestion));
      const reasons = Array.isArray(cardData.overrideReasons) ? cardData.overrideReasons : [];
      if (reasons.length && cardData.uuid) box.append(overrideControls(state, reasons));
    } else if (cardData.uuid) {
      // Nothing to override: the clinician can only say the card was not useful (no reason).
      const dismiss = el("button", { className: "dismiss", text: t("action.dismiss"), testid: "dismiss", attrs: { type: "button" } });
      dismiss.addEventListener("click", () =>
        sendFeedback(state, { outcome: "overridden" }, t("action.dismissed"))
      );
      state.controls.push(dismiss);
      box.append(el("div", { className: "dismiss-row" }, [dismiss]));
    }
    box.append(feedback);
    return box;
  }

  function proposal(state, suggestion) {
    const order = orderOf(suggestion);
    cardCounter += 1;
    const labelId = "proposal-" + cardCounter;
    const accept = el("button", {
      className: "accept",
      text: t("action.accept"),
      testid: "accept",
      attrs: { type: "button", "aria-describedby": labelId },
    });
    if (!suggestion.uuid || !state.cardData.uuid) accept.disabled = true;
    const pendingSlot = el("div", { className: "pending-slot" });
    const entry = { state, suggestion, order, accept, pendingSlot, claimedBy: null };
    state.accepts.push(entry);
    state.controls.push(accept);
    accept.addEventListener("click", () => startAccept(entry));
    return el("div", { className: "proposal", testid: "proposal" }, [
      el("div", { className: "proposal-text" }, [
        el("p", { className: "proposal-label", text: suggestion.label, attrs: { id: labelId } }),
        el("p", { className: "proposal-order", testid: "proposal-order", text: orderText(order) }),
      ]),
      accept,
      pendingSlot,
    ]);
  }

  function overrideControls(state, reasons) {
    cardCounter += 1;
    const selectId = "override-reason-" + cardCounter;
    const commentId = "override-comment-" + cardCounter;
    const select = el("select", { className: "override-reason", testid: "override-reason", attrs: { id: selectId } });
    // No reason is preselected: only what the clinician picks is recorded.
    select.append(el("option", { text: t("action.chooseReason"), attrs: { value: "" } }));
    reasons.forEach((reason, index) => {
      select.append(el("option", { text: reason.display || reason.code, attrs: { value: String(index) } }));
    });
    const comment = el("input", {
      className: "override-comment",
      testid: "override-comment",
      attrs: { id: commentId, type: "text", maxlength: "500", autocomplete: "off" },
    });
    const override = el("button", {
      className: "override",
      text: t("action.override"),
      testid: "override",
      attrs: { type: "button", disabled: "" },
    });
    select.addEventListener("change", () => {
      override.disabled = !select.value;
    });
    override.addEventListener("click", () => {
      if (!select.value) return;
      const reason = reasons[Number(select.value)];
      const overrideReason = { reason: { system: reason.system, code: reason.code, display: reason.display } };
      if (comment.value.trim()) overrideReason.userComment = comment.value.trim();
      sendFeedback(state, { outcome: "overridden", overrideReason }, t("action.overridden", { reason: reason.display || reason.code }));
    });
    state.controls.push(select, comment);
    state.overrideButton = override;
    state.overrideSelect = select;
    return el("div", { className: "override-box" }, [
      el("div", { className: "field" }, [el("label", { text: t("action.overrideReason"), attrs: { for: selectId } }), select]),
      el("div", { className: "field" }, [el("label", { text: t("action.comment"), attrs: { for: commentId } }), comment]),
      override,
    ]);
  }

  function lockCard(state, locked) {
    state.locked = locked;
    setDisabled(state.controls, locked);
    if (state.overrideButton) state.overrideButton.disabled = locked || !state.overrideSelect.value;
    refreshAccepts(state);
  }

  function refreshAccepts(state) {
    for (const entry of state.accepts) {
      entry.accept.disabled =
        state.locked || !entry.suggestion.uuid || !state.cardData.uuid || Boolean(entry.claimedBy);
    }
  }

  /* Accept: show the ServiceRequest and wait UNDO_MS before the feedback is sent. */
  function startAccept(entry) {
    const { state, order } = entry;
    lockCard(state, true);
    claimService(entry, "pending");
    const undo = el("button", { className: "undo", text: t("action.undo"), testid: "undo", attrs: { type: "button" } });
    const pending = el("div", { className: "pending", testid: "pending-accept" }, [
      el("p", { text: t("action.accepting", { order: orderText(order) }) }),
      el("p", { className: "hint small", text: tn("action.undoDelay", UNDO_MS / 1000) }),
      undo,
    ]);
    clear(entry.pendingSlot);
    entry.pendingSlot.append(pending);
    state.feedback.textContent = "";
    state.feedback.className = "card-feedback";
    let settled = false;
    const commit = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pendingAccepts.delete(commit);
      clear(entry.pendingSlot);
      sendFeedback(
        state,
        { outcome: "accepted", acceptedSuggestions: [{ id: entry.suggestion.uuid }] },
        t("action.accepted", { order: orderText(order) }),
        entry
      );
    };
    const timer = setTimeout(commit, UNDO_MS);
    pendingAccepts.add(commit);
    undo.addEventListener("click", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pendingAccepts.delete(commit);
      clear(entry.pendingSlot);
      claimService(entry, null);
      lockCard(state, false);
      state.feedback.textContent = t("action.undone");
      entry.accept.focus();
    });
    undo.focus();
  }

  function flushPendingAccepts() {
    for (const commit of Array.from(pendingAccepts)) commit();
  }

  async function sendFeedback(state, entry, verb, acceptEntry) {
    const { cardData, feedback } = state;
    const payload = {
      feedback: [Object.assign({ card: cardData.uuid }, entry, { outcomeTimestamp: new Date().toISOString() })],
    };
    lockCard(state, true);
    feedback.textContent = t("feedback.sending");
    feedback.className = "card-feedback";
    const answer = await post("/cds-services/" + encodeURIComponent(state.serviceId) + "/feedback", payload);
    if (answer.ok) {
      const result = answer.json || {};
      const stored = Number(result.stored);
      const outcome = t(stored ? "feedback.stored" : Number(result.duplicates) ? "feedback.duplicate" : "feedback.unknownCard");
      feedback.textContent = t("feedback.result", { verb, outcome });
      feedback.className = "card-feedback feedback-ok";
      feedback.dataset.stored = String(stored);
      feedback.dataset.outcome = entry.outcome;
      if (acceptEntry) claimService(acceptEntry, "accepted");
    } else {
      feedback.textContent = t("feedback.failed", { problem: problem(answer) });
      feedback.className = "card-feedback feedback-error";
      if (acceptEntry) claimService(acceptEntry, null);
      lockCard(state, false);
    }
  }

  /* ---------------------------------------------------------------- conflicts */

  // service key -> the proposals (across cards) that order it; filled as cards are drawn.
  let proposalsByService = new Map();

  function registerConflicts(states) {
    proposalsByService = new Map();
    for (const state of states) {
      for (const entry of state.accepts) {
        if (!entry.order.key) continue;
        const list = proposalsByService.get(entry.order.key) || [];
        list.push(entry);
        proposalsByService.set(entry.order.key, list);
      }
    }
    const conflicts = [];
    for (const entries of proposalsByService.values()) {
      const cards = new Set(entries.map((entry) => entry.state));
      if (cards.size < 2) continue;
      conflicts.push(entries);
      for (const entry of entries) {
        const others = entries.filter((other) => other.state !== entry.state);
        const names = others.map((other) => t("quoted", { text: other.state.cardData.summary })).join(", ");
        entry.state.conflictText = t("conflict.card", { cards: names, service: entry.order.service });
        entry.state.conflict.textContent = entry.state.conflictText;
        entry.state.conflict.hidden = false;
        entry.state.article.dataset.conflict = "true";
      }
    }
    return conflicts;
  }

  /* While one proposal of a service is accepted (or waiting out its undo), the other cards'
   * proposals of the same service cannot be accepted too. */
  function claimService(entry, phase) {
    const entries = proposalsByService.get(entry.order.key) || [];
    for (const other of entries) {
      if (other === entry || other.state === entry.state) continue;
      other.claimedBy = phase ? entry : null;
      if (!other.state.locked) refreshAccepts(other.state);
      other.state.conflict.textContent = phase
        ? t(phase === "pending" ? "conflict.pending" : "conflict.accepted", {
            service: entry.order.service,
            card: entry.state.cardData.summary,
          })
        : other.state.conflictText;
    }
  }

  /* ---------------------------------------------------------------- requests */

  async function post(url, payload, signal) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        // The page's language, for whatever text the answer holds (feedback diagnostics too).
        headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": LANGUAGE },
        body: typeof payload === "string" ? payload : JSON.stringify(payload),
        signal,
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
    const prefix = answer.status ? t("http.status", { status: answer.status }) : t("http.network");
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

  /* Everything the previous answer drew goes before a new request is sent. */
  function clearResults(message) {
    flushPendingAccepts(); // a chosen Accept is sent, not lost, when its card goes
    clear(cardsBox);
    raw.textContent = "";
    evaluatedAt.hidden = true;
    clear(evaluatedAt);
    proposalsByService = new Map();
    cardsBox.append(el("p", { className: "empty", text: message }));
  }

  function showError(message) {
    clear(cardsBox);
    cardsBox.append(el("p", { className: "error-box", testid: "error", text: message }));
  }

  function showEvaluationTime(cards, asOf) {
    const own = cards
      .map((c) => (c && c.extension && c.extension[EXTENSION_KEY]) || {})
      .find((ext) => typeof ext.evaluatedAt === "string");
    const iso = own ? own.evaluatedAt : asOf;
    clear(evaluatedAt);
    if (iso) {
      evaluatedAt.append(...tParts("evaluated.at", { time: el("time", { text: utcText(iso), attrs: { datetime: iso } }) }));
    } else {
      evaluatedAt.append(t("evaluated.serverClock"));
    }
    evaluatedAt.hidden = false;
  }

  async function send() {
    const number = ++requestNumber;
    if (inFlight) inFlight.abort(); // the tester asked again: the earlier answer is not wanted
    inFlight = null;
    clearResults(t("request.waiting"));
    let parsed;
    try {
      parsed = JSON.parse(body.value);
    } catch (error) {
      setStatus(t("json.invalid"), "error");
      showError(t("json.invalidBecause", { error: error.message }));
      return;
    }
    if (!isObject(parsed)) {
      setStatus(t("json.notObject"), "error");
      showError(t("json.pasteObject"));
      return;
    }
    let url;
    let payload;
    let asOf = "";
    if (parsed.resourceType === "Bundle") {
      asOf = asOfIso();
      url = "/evaluate?service=" + encodeURIComponent(serviceSelect.value) + "&lang=" + encodeURIComponent(LANGUAGE);
      if (asOf) url += "&now=" + encodeURIComponent(asOf);
      payload = body.value;
    } else {
      chooseServiceFor(typeof parsed.hook === "string" ? parsed.hook : "");
      url = "/cds-services/" + encodeURIComponent(serviceSelect.value);
      asOf = asOfChanged ? asOfIso() : evaluationTimeOf(parsed);
      payload = hookPayload(parsed, body.value);
    }
    const serviceId = serviceSelect.value;
    currentPatient = patientOf(parsed);
    setStatus(t("request.asking", { url }), "");
    const controller = new AbortController();
    inFlight = controller;
    const answer = await post(url, payload, controller.signal);
    if (number !== requestNumber) return; // a later request owns the panel now
    inFlight = null;
    raw.textContent = answer.json ? JSON.stringify(answer.json, null, 2) : answer.text;
    if (!answer.ok) {
      const why = answer.status ? t("http.status", { status: answer.status }) : t("http.network");
      setStatus(t("request.refused", { why }), "error");
      showError(t("request.noCards", { problem: problem(answer) }));
      return;
    }
    const cards = (answer.json && Array.isArray(answer.json.cards) && answer.json.cards) || [];
    clear(cardsBox);
    showEvaluationTime(cards, asOf);
    setStatus(tn("request.cards", cards.length, { url }), "ok");
    if (!cards.length) cardsBox.append(el("p", { className: "empty", text: t("request.nothingApplies") }));
    const states = cards.map((cardData) => card(cardData, serviceId));
    const conflicts = registerConflicts(states);
    if (conflicts.length) {
      const names = conflicts.map((entries) => entries[0].order.service).join(", ");
      cardsBox.append(
        el("p", {
          className: "conflict conflict-summary",
          testid: "conflicts",
          attrs: { role: "note" },
          text: t("conflict.summary", { services: names }),
        })
      );
    }
    for (const state of states) cardsBox.append(state.article);
  }

  async function loadSample() {
    const name = sampleSelect.value;
    if (!name) return;
    setStatus(t("sample.loading", { name }), "");
    const response = await fetch("/console/samples/" + encodeURIComponent(name), { headers: { "Accept-Language": LANGUAGE } });
    if (!response.ok) {
      setStatus(t("sample.failed", { name, status: response.status }), "error");
      return;
    }
    const text = await response.text();
    body.value = text;
    syncAsOfFromBody();
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.hook === "string") chooseServiceFor(parsed.hook);
    } catch (_error) {
      /* shown when sent */
    }
    setStatus(t("sample.loaded", { name }), "");
  }

  sampleSelect.addEventListener("change", loadSample);
  sendButton.addEventListener("click", send);
  asOfInput.addEventListener("input", () => {
    asOfChanged = true;
  });
  asOfClear.addEventListener("click", () => {
    asOfInput.value = "";
    asOfChanged = true;
  });
  body.addEventListener("change", syncAsOfFromBody);
  body.addEventListener("input", (event) => {
    if (event.inputType === "insertFromPaste" || event.inputType === "insertFromDrop") syncAsOfFromBody();
  });
  upload.addEventListener("change", () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    file.text().then((text) => {
      body.value = text;
      syncAsOfFromBody();
      setStatus(t("sample.loaded", { name: file.name }), "");
    });
  });
  /* The language links reload the page: the tester's service, sample, request and time go
   * along (this tab only), and cards that were shown are asked for again in the new language. */
  const KEPT = "calf-cds-console";
  for (const link of document.querySelectorAll("a[hreflang]")) {
    link.addEventListener("click", () => {
      const state = {
        service: serviceSelect.value,
        sample: sampleSelect.value,
        body: body.value,
        asOf: asOfInput.value,
        asOfChanged,
        shown: cardsBox.querySelector("[data-testid=card]") !== null,
      };
      sessionStorage.setItem(KEPT, JSON.stringify(state));
    });
  }
  const kept = sessionStorage.getItem(KEPT);
  sessionStorage.removeItem(KEPT);
  let restored = null;
  try {
    restored = kept ? JSON.parse(kept) : null;
  } catch (_error) {
    /* a fresh page */
  }
  if (restored) {
    serviceSelect.value = restored.service;
    sampleSelect.value = restored.sample;
    body.value = restored.body;
    asOfInput.value = restored.asOf;
    asOfChanged = restored.asOfChanged === true;
    if (restored.shown && body.value.trim()) send();
  }
  document.documentElement.dataset.consoleReady = "true";
})();
