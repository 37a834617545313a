// The playground page: patient and chart from a FHIR server, the order form, the hook call (prefetch filled from
// discovery's templates, or fetch mode), the cards as an EHR shows them, and feedback. The composed case lives in
// the URL (#case=...), so a link reproduces it; a token never does.
"use strict";

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== undefined && c !== null));
    return node;
  };
  const pretty = (value) => JSON.stringify(value, null, 2);
  const page = { vocab: null, services: {}, discovery: {}, conditions: [], fetchOnly: false };
  const state = {
    fhir: "",
    patient: "",
    encounter: "",
    hook: "order-sign",
    mode: "prefetch",
    sign: false,
    orders: [],
  };
  const FIELDS = ["code", "text", "nerve", "side", "agent", "concentration", "volume", "guidance", "reason", "note"];
  const USER = "Practitioner/playground-user";

  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context; this does not
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- the case in the URL -------------------------------------------------------------------------------
  function save() {
    history.replaceState(null, "", `#case=${encodeURIComponent(JSON.stringify(state))}`);
  }

  function restore() {
    const match = location.hash.match(/^#case=(.*)$/);
    if (!match) return false;
    try {
      const saved = JSON.parse(decodeURIComponent(match[1]));
      for (const key of Object.keys(state)) if (key in saved) state[key] = saved[key];
      state.orders = (Array.isArray(state.orders) ? state.orders : []).map(normalised);
      return true;
    } catch {
      return false;
    }
  }

  const normalised = (item) => {
    const clean = { kind: item && item.kind === "performed" ? "performed" : "order" };
    for (const field of FIELDS) clean[field] = item && typeof item[field] === "string" ? item[field] : "";
    return clean;
  };

  // --- FHIR ------------------------------------------------------------------------------------------------
  async function fhirGet(query) {
    const base = state.fhir.replace(/\/+$/, "");
    const answer = await fetch(`${base}/${query}`, { headers: { Accept: "application/fhir+json" } });
    if (!answer.ok) throw new Error(`${answer.status} from the FHIR server for ${query.split("?")[0]}`);
    return answer.json();
  }
  const entries = (bundle) => (bundle.entry || []).map((e) => e.resource).filter(Boolean);
  const conceptText = (c) => (c && (c.text || (c.coding || []).map((x) => x.display || x.code).find(Boolean))) || "";
  const personName = (p) => {
    const name = (p.name || [])[0] || {};
    return name.text || [...(name.given || []), name.family].filter(Boolean).join(" ") || p.id;
  };

  function fill(select, options, selected) {
    select.replaceChildren(...options.map(([value, label]) => el("option", { value, textContent: label })));
    if (options.some(([value]) => value === selected)) select.value = selected;
  }

  async function loadPatients() {
    const status = $("#fhir-status");
    if (!state.fhir) {
      status.textContent = "Name a FHIR server first.";
      return;
    }
    status.textContent = "Loading patients…";
    try {
      const patients = entries(await fhirGet("Patient?_count=200"));
      fill(
        $("#patient"),
        patients.map((p) => [p.id, `${personName(p)}${p.birthDate ? ` (${p.birthDate})` : ""} · ${p.id}`]),
        state.patient,
      );
      status.textContent = `${patients.length} patients.`;
      state.patient = $("#patient").value;
      await loadChart();
    } catch (error) {
      status.textContent = `Could not read patients: ${error.message}`;
    }
  }

  async function loadChart() {
    save();
    if (!state.patient) return;
    const patient = encodeURIComponent(state.patient);
    const [conditions, procedures, encounters] = await Promise.all(
      [
        `Condition?patient=${patient}`,
        `Procedure?patient=${patient}&_sort=-date&_count=10`,
        `Encounter?patient=${patient}&_sort=-date&_count=50`,
      ].map((query) => fhirGet(query).then(entries, () => [])),
    );
    page.conditions = conditions;
    const codes = (c) => (c.code && c.code.coding ? c.code.coding.map((x) => x.code).join(", ") : "");
    $("#conditions").replaceChildren(
      ...conditions.map((c) => el("li", { textContent: `${conceptText(c.code)} ${codes(c) ? `(${codes(c)})` : ""}` })),
    );
    $("#procedures").replaceChildren(
      ...procedures.map((p) =>
        el("li", { textContent: `${p.performedDateTime || ""} ${conceptText(p.code)} · ${p.status}`.trim() }),
      ),
    );
    fill(
      $("#encounter"),
      [["", "(none)"], ...encounters.map((e) => [e.id, `${e.id} ${(e.period && e.period.start) || ""}`.trim()])],
      // The case's encounter when it is this patient's (a shared link), else the patient's latest.
      encounters.some((e) => e.id === state.encounter) ? state.encounter : encounters[0] && encounters[0].id,
    );
    state.encounter = $("#encounter").value;
    renderOrders();
    save();
  }

  // --- the order form --------------------------------------------------------------------------------------
  function options(name) {
    const v = page.vocab;
    const none = ["", "(none)"];
    switch (name) {
      case "code":
        return [["", "Free text only"], ...v.procedures.flatMap((g) => g.codes.map((c) => [c.code, `${c.code} ${c.display}`]))];
      case "nerve":
        return [none, ...v.nerves.map((n) => [n.id, n.name])];
      case "side":
        return [none, ...v.sides.map((s) => [s.side, s.side])];
      case "agent":
        return [none, ...v.agents.map((a) => [a.id, `${a.name} (${a.class})`])];
      case "guidance":
        return [none, ...v.guidance.map((g) => [g.id, g.name])];
      case "reason":
        return [none, ...page.conditions.map((c) => [c.id, conceptText(c.code) || c.id])];
      default:
        return [];
    }
  }

  function renderOrders() {
    const holder = $("#orders");
    holder.replaceChildren();
    state.orders.forEach((item, index) => {
      const form = $("#order-template").content.firstElementChild.cloneNode(true);
      form.dataset.index = String(index);
      $(".order-kind", form).textContent =
        item.kind === "performed" ? `Performed procedure ${index + 1} (this encounter)` : `Order ${index + 1}`;
      for (const field of FIELDS) {
        const input = form.querySelector(`[name="${field}"]`);
        if (input.tagName === "SELECT") fill(input, options(field), item[field]);
        input.value = item[field];
        input.addEventListener("change", () => {
          item[field] = input.value;
          save();
        });
      }
      $(".remove", form).addEventListener("click", () => {
        state.orders.splice(index, 1);
        renderOrders();
        save();
      });
      holder.append(form);
    });
  }

  function addItem(kind) {
    const item = normalised({ kind });
    item.code = "64640";
    state.orders.push(item);
    renderOrders();
    save();
  }

  // --- the call --------------------------------------------------------------------------------------------
  const serviceFor = (hook) => Object.keys(page.services).find((id) => page.services[id] === hook);

  async function prefetchFor(serviceId, ctx, built) {
    const templates = (page.discovery[serviceId] || {}).prefetch || {};
    const values = {
      "context.patientId": ctx.patientId,
      "context.encounterId": ctx.encounterId,
      "context.userId": USER,
      userPractitionerId: USER.split("/")[1],
      "context.userPractitionerId": USER.split("/")[1],
    };
    const wanted = Object.entries(templates).filter(([key]) => {
      if (state.mode === "prefetch") return true;
      // Fetch mode: the service fetches; only the keys the page adds performed resources to are sent.
      return (key === "procedures" && built.procedures.length) || (key === "medicationAdministrations" && built.administrations.length);
    });
    const prefetch = {};
    await Promise.all(
      wanted.map(async ([key, template]) => {
        const query = template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, name) => encodeURIComponent(values[name] || ""));
        try {
          prefetch[key] = await fhirGet(query);
        } catch {
          // left out: the service fetches it itself or says what it could not read
        }
      }),
    );
    const add = (key, resources) => {
      if (!resources.length) return;
      const bundle = prefetch[key] || { resourceType: "Bundle", type: "searchset", entry: [] };
      bundle.entry = [...resources.map((resource) => ({ resource })), ...(bundle.entry || [])];
      bundle.total = bundle.entry.length;
      prefetch[key] = bundle;
    };
    add("procedures", built.procedures);
    add("medicationAdministrations", built.administrations);
    return prefetch;
  }

  async function authorization(serviceId) {
    if (state.sign) {
      const audience = `${location.origin}/cds-services/${serviceId}`;
      const answer = await fetch("/playground/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ audience }),
      });
      if (!answer.ok) throw new Error(`the development key could not sign (${answer.status})`);
      return `Bearer ${(await answer.json()).token}`;
    }
    // A pasted token is used once: the service refuses a token's second use (its jti is remembered).
    const pasted = $("#token").value.trim();
    $("#token").value = "";
    return pasted ? `Bearer ${pasted.replace(/^Bearer\s+/i, "")}` : undefined;
  }

  async function send() {
    const status = $("#send-status");
    const serviceId = serviceFor(state.hook);
    if (!state.patient) {
      status.textContent = "Choose a patient first.";
      return;
    }
    const discharge = state.hook === "encounter-discharge";
    if ((discharge || state.orders.some((o) => o.kind === "performed")) && !state.encounter) {
      status.textContent = discharge
        ? "A discharge review is of one encounter: choose one."
        : "A performed procedure belongs to an encounter: choose one.";
      return;
    }
    status.textContent = "Sending…";
    const ctx = {
      patientId: state.patient,
      encounterId: state.encounter,
      userId: USER,
      today: new Date().toISOString().slice(0, 10),
    };
    const built = Orders.build(state.orders, ctx, page.vocab);
    // A discharge review sends no orders: the encounter's performed procedures (the chart's, and any composed
    // here, which go into the prefetch) are held to what was billed for it.
    const orders = { resourceType: "Bundle", type: "collection", entry: built.drafts.map((resource) => ({ resource })) };
    const context = {
      userId: USER,
      patientId: ctx.patientId,
      ...(ctx.encounterId ? { encounterId: ctx.encounterId } : {}),
      ...(state.hook === "order-select" ? { selections: built.selections } : {}),
      ...(discharge ? {} : { draftOrders: orders }),
    };
    const body = { hookInstance: uuid(), hook: state.hook, fhirServer: state.fhir.replace(/\/+$/, ""), context };
    const prefetch = await prefetchFor(serviceId, ctx, built);
    if (Object.keys(prefetch).length) body.prefetch = prefetch;
    try {
      const headers = { "Content-Type": "application/json" };
      const auth = await authorization(serviceId);
      if (auth) headers.Authorization = auth;
      const shownHeaders = auth ? { ...headers, Authorization: `${auth.slice(0, 20)}… (${auth.length} characters)` } : headers;
      $("#raw-request").textContent = `POST /cds-services/${serviceId}\n${pretty(shownHeaders)}\n\n${pretty(body)}`;
      const started = performance.now();
      const answer = await fetch(`/cds-services/${serviceId}`, { method: "POST", headers, body: JSON.stringify(body) });
      const elapsed = performance.now() - started;
      const text = await answer.text();
      let payload;
      try {
        payload = JSON.parse(text);
      } catch {
        payload = text;
      }
      $("#raw-response").textContent = `${answer.status} ${answer.statusText}\n\n${typeof payload === "string" ? payload : pretty(payload)}`;
      showTiming(answer.headers.get("Server-Timing") || "", elapsed);
      status.textContent = `${answer.status} in ${elapsed.toFixed(0)} ms.`;
      renderCards(serviceId, answer.ok && payload && Array.isArray(payload.cards) ? payload.cards : null, payload);
    } catch (error) {
      status.textContent = `Not sent: ${error.message}`;
    }
  }

  function showTiming(header, elapsed) {
    const rows = header
      .split(",")
      .map((part) => part.trim().match(/^([\w-]+);dur=([\d.]+)/))
      .filter(Boolean)
      .map((m) => el("tr", {}, el("th", { textContent: m[1] }), el("td", { textContent: m[2] })));
    rows.push(el("tr", {}, el("th", { textContent: "browser, whole call" }), el("td", { textContent: elapsed.toFixed(2) })));
    $("#timing tbody").replaceChildren(...rows);
  }

  // --- cards, as an EHR shows them -------------------------------------------------------------------------
  function renderCards(serviceId, cards, payload) {
    const panel = $("#cards");
    if (!cards) {
      const issues = payload && payload.issue ? payload.issue.map((i) => i.diagnostics).join("; ") : "no cards";
      panel.replaceChildren(el("p", { className: "error", textContent: `The service refused the call: ${issues}` }));
      return;
    }
    if (!cards.length) {
      panel.replaceChildren(el("p", { className: "muted", textContent: "No cards: nothing to say about these orders." }));
      return;
    }
    panel.replaceChildren(...cards.map((card) => cardView(serviceId, card)));
  }

  function cardView(serviceId, card) {
    const view = el("article", { className: `card ${card.indicator}` });
    view.dataset.uuid = card.uuid || "";
    view.dataset.rule = ((card.source || {}).topic || {}).code || "";
    const detail = el("div", { className: "detail" });
    detail.innerHTML = Markdown.render(card.detail); // escaped by the renderer
    const source = card.source || {};
    const sourceLine = el("p", { className: "source muted" }, "Source: ");
    sourceLine.append(
      source.url
        ? el("a", { href: source.url, target: "_blank", rel: "noopener noreferrer", textContent: source.label })
        : source.label || "",
    );
    const outcome = el("p", { className: "outcome", role: "status" });
    view.append(
      el("header", {}, el("span", { className: "indicator", textContent: card.indicator }), el("h3", { textContent: card.summary })),
      detail,
      sourceLine,
    );
    for (const suggestion of card.suggestions || []) {
      const accept = el("button", { type: "button", className: "accept", textContent: suggestion.label });
      if (suggestion.isRecommended) accept.classList.add("recommended");
      accept.addEventListener("click", () =>
        feedback(serviceId, card, view, outcome, { outcome: "accepted", acceptedSuggestions: [{ id: suggestion.uuid }] }, suggestion),
      );
      view.append(el("div", { className: "suggestion" }, accept, actionList(suggestion.actions || [])));
    }
    for (const link of card.links || []) {
      view.append(el("p", {}, el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer", textContent: link.label })));
    }
    const reasons = el("select", { className: "override-reason" });
    fill(reasons, [["", "Dismiss without a reason"], ...(card.overrideReasons || []).map((r) => [r.code, r.display])], "");
    const comment = el("input", { type: "text", className: "override-comment", placeholder: "Comment (optional)" });
    const dismiss = el("button", { type: "button", className: "dismiss", textContent: "Dismiss" });
    dismiss.addEventListener("click", () => {
      const reason = (card.overrideReasons || []).find((r) => r.code === reasons.value);
      const item = { outcome: "overridden" };
      if (reason || comment.value) item.overrideReason = { ...(reason ? { reason } : {}), ...(comment.value ? { userComment: comment.value } : {}) };
      feedback(serviceId, card, view, outcome, item);
    });
    view.append(el("div", { className: "override" }, reasons, comment, dismiss), outcome);
    return view;
  }

  function actionList(actions) {
    const list = el("ul", { className: "actions" });
    for (const action of actions) {
      const what = action.resource ? `${action.type} ${action.resource.resourceType}` : `${action.type} ${action.resourceId || ""}`;
      const item = el("li", {}, el("strong", { textContent: what }), `: ${action.description || ""}`);
      if (action.resource) {
        item.append(el("details", {}, el("summary", { textContent: "resource" }), el("pre", { textContent: pretty(action.resource) })));
      }
      list.append(item);
    }
    return list;
  }

  async function feedback(serviceId, card, view, outcome, item, suggestion) {
    for (const button of view.querySelectorAll("button")) button.disabled = true;
    const body = { feedback: [{ card: card.uuid, ...item, outcomeTimestamp: new Date().toISOString() }] };
    const headers = { "Content-Type": "application/json" };
    try {
      const auth = await authorization(serviceId);
      if (auth) headers.Authorization = auth;
      const answer = await fetch(`/cds-services/${serviceId}/feedback`, { method: "POST", headers, body: JSON.stringify(body) });
      const result = await answer.json();
      $("#raw-request").textContent = `POST /cds-services/${serviceId}/feedback\n\n${pretty(body)}`;
      $("#raw-response").textContent = `${answer.status}\n\n${pretty(result)}`;
      if (!answer.ok) throw new Error(`${answer.status}`);
      view.classList.add(item.outcome);
      if (suggestion) applyUpdates(suggestion.actions || []);
      const applied = suggestion ? ` An EHR now applies: ${(suggestion.actions || []).map((a) => a.description).join("; ")}.` : "";
      outcome.textContent = `Feedback ${item.outcome}: the service received ${result.received}, stored ${result.stored}.${applied}`;
      await showStored(card.uuid, outcome);
    } catch (error) {
      outcome.textContent = `Feedback not stored: ${error.message}`;
      for (const button of view.querySelectorAll("button")) button.disabled = false;
    }
  }

  // An accepted "update" of one of the page's own orders changes the order form, as an EHR changes the order.
  function applyUpdates(actions) {
    for (const action of actions) {
      const match = action.type === "update" && action.resource && String(action.resource.id).match(/^pg-order-(\d+)$/);
      const item = match && state.orders[Number(match[1]) - 1];
      const coding = item && ((action.resource.code || {}).coding || []).find((c) => c.system === page.vocab.systems.cpt);
      if (coding) item.code = coding.code;
    }
    renderOrders();
    save();
  }

  async function showStored(cardUuid, outcome) {
    if (document.body.dataset.development !== "yes") return;
    const answer = await fetch(`/playground/feedback/${encodeURIComponent(cardUuid)}`);
    if (!answer.ok) return;
    const rows = (await answer.json()).feedback;
    const stored = el("ul", { className: "stored" });
    for (const row of rows) {
      const reason = row.override_code ? `, reason ${row.override_code}` : "";
      stored.append(el("li", { textContent: `Stored: ${row.outcome}, rule ${row.rule_id || "unknown"}${reason}, at ${row.received_at}` }));
    }
    outcome.after(stored);
  }

  // --- start -----------------------------------------------------------------------------------------------
  function bind() {
    const inputs = { fhir: "#fhir-url", patient: "#patient", encounter: "#encounter", hook: "#hook", mode: "#mode" };
    for (const [key, selector] of Object.entries(inputs)) {
      $(selector).value = state[key];
      $(selector).addEventListener("change", () => {
        state[key] = $(selector).value;
        save();
        if (key === "patient") loadChart();
      });
    }
    $("#sign").checked = state.sign;
    $("#sign").disabled = document.body.dataset.development !== "yes";
    $("#sign").addEventListener("change", () => {
      state.sign = $("#sign").checked;
      save();
    });
    $("#load-patients").addEventListener("click", () => {
      state.fhir = $("#fhir-url").value.trim();
      loadPatients();
    });
    $("#add-order").addEventListener("click", () => addItem("order"));
    $("#add-performed").addEventListener("click", () => addItem("performed"));
    $("#send").addEventListener("click", send);
    $("#share").addEventListener("click", async () => {
      save();
      try {
        await navigator.clipboard.writeText(location.href);
        $("#send-status").textContent = "Link copied.";
      } catch {
        $("#send-status").textContent = `Link: ${location.href}`;
      }
    });
  }

  async function start() {
    page.vocab = await (await fetch("/playground/vocabulary.json")).json();
    page.services = page.vocab.services;
    try {
      const answer = await fetch("/cds-services");
      if (!answer.ok) throw new Error(String(answer.status));
      for (const service of (await answer.json()).services) page.discovery[service.id] = service;
    } catch {
      // Discovery needs a token when authentication is required: without its templates, the service fetches.
      page.fetchOnly = true;
      $("#send-status").textContent = "Discovery needs a token here: fetch mode only. Paste a fresh token for each call.";
    }
    if (!restore()) {
      state.fhir = document.body.dataset.fhirUrl || "";
      state.orders = [normalised({ kind: "order", code: "64640" })];
    }
    if (page.fetchOnly) state.mode = "fetch";
    bind();
    $("#mode").disabled = Boolean(page.fetchOnly);
    renderOrders();
    if (state.fhir) await loadPatients();
    document.body.dataset.ready = "yes";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
