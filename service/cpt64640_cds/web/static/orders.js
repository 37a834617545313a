// From the order form to FHIR R4, the way EHR order forms record it: a draft ServiceRequest per order (code,
// body site with a laterality qualifier, guidance as an order detail, reason, note) with the agent as a draft
// MedicationRequest based on it; a performed procedure as a completed Procedure of the current encounter with
// the agent given as a MedicationAdministration part of it. Pure functions of the form's state.
"use strict";

const Orders = (() => {
  const UCUM = "http://unitsofmeasure.org";
  const DICOM = "http://dicom.nema.org/resources/ontology/DCM";
  const LATERALITY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier";

  const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
  const find = (list, key, value) => list.find((item) => item[key] === value);

  function procedureCode(item, vocab) {
    const coded = vocab.procedures.flatMap((group) => group.codes).find((c) => c.code === item.code);
    if (!coded) return { text: item.text || "Procedure" };
    return {
      coding: [{ system: vocab.systems.cpt, code: coded.code, display: coded.display }],
      text: item.text || coded.display,
    };
  }

  function bodySite(item, vocab) {
    const nerve = find(vocab.nerves, "id", item.nerve);
    const side = find(vocab.sides, "side", item.side);
    if (!nerve && !side) return undefined;
    const site = { text: [side ? capital(side.side) : "", nerve ? nerve.name : "nerve"].join(" ").trim() };
    if (side) {
      site.extension = [
        {
          url: LATERALITY,
          valueCodeableConcept: {
            coding: [{ system: vocab.systems.snomed, code: side.snomed, display: capital(side.side) }],
          },
        },
      ];
    }
    return [site];
  }

  function agentConcept(item, vocab) {
    const agent = find(vocab.agents, "id", item.agent);
    if (!agent) return undefined;
    const strength = item.concentration ? ` ${item.concentration}%` : "";
    const concept = { text: `${agent.name}${strength}` };
    if (agent.rxnorm.length) concept.coding = [{ system: vocab.systems.rxnorm, code: agent.rxnorm[0] }];
    return concept;
  }

  function dose(item, agentText) {
    const volume = item.volume ? `${item.volume} mL ` : "";
    const text = `${volume}${agentText}, perineural injection`;
    const quantity = item.volume ? { value: Number(item.volume), unit: "mL", system: UCUM, code: "mL" } : undefined;
    return { text, quantity };
  }

  function guidance(item, vocab) {
    const modality = find(vocab.guidance, "id", item.guidance);
    if (!modality) return undefined;
    return { coding: [{ system: DICOM, code: modality.dicom[0] }], text: `${capital(modality.name)} guidance` };
  }

  const reference = (type, id) => ({ reference: `${type}/${id}` });
  const compact = (resource) =>
    Object.fromEntries(Object.entries(resource).filter(([, value]) => value !== undefined && value !== ""));

  function order(item, index, ctx, vocab) {
    const id = `pg-order-${index + 1}`;
    const detail = guidance(item, vocab);
    const request = compact({
      resourceType: "ServiceRequest",
      id,
      status: "draft",
      intent: "order",
      code: procedureCode(item, vocab),
      subject: reference("Patient", ctx.patientId),
      encounter: ctx.encounterId ? reference("Encounter", ctx.encounterId) : undefined,
      occurrenceDateTime: ctx.today,
      authoredOn: ctx.today,
      requester: { reference: ctx.userId },
      bodySite: bodySite(item, vocab),
      orderDetail: detail ? [detail] : undefined,
      reasonReference: item.reason ? [reference("Condition", item.reason)] : undefined,
      note: item.note ? [{ text: item.note }] : undefined,
    });
    const concept = agentConcept(item, vocab);
    if (!concept) return [request];
    const { text, quantity } = dose(item, concept.text);
    const medication = compact({
      resourceType: "MedicationRequest",
      id: `pg-agent-${index + 1}`,
      status: "draft",
      intent: "order",
      medicationCodeableConcept: concept,
      subject: reference("Patient", ctx.patientId),
      encounter: ctx.encounterId ? reference("Encounter", ctx.encounterId) : undefined,
      authoredOn: ctx.today,
      requester: { reference: ctx.userId },
      basedOn: [reference("ServiceRequest", id)],
      dosageInstruction: [compact({ text, doseAndRate: quantity ? [{ doseQuantity: quantity }] : undefined })],
    });
    return [request, medication];
  }

  function performed(item, index, ctx, vocab) {
    const id = `pg-procedure-${index + 1}`;
    const modality = guidance(item, vocab);
    const notes = [modality ? `Performed under ${modality.text.toLowerCase()}.` : "", item.note || ""];
    const procedure = compact({
      resourceType: "Procedure",
      id,
      status: "completed",
      code: procedureCode(item, vocab),
      subject: reference("Patient", ctx.patientId),
      encounter: reference("Encounter", ctx.encounterId),
      performedDateTime: ctx.today,
      performer: [{ actor: { reference: ctx.userId } }],
      bodySite: bodySite(item, vocab),
      reasonReference: item.reason ? [reference("Condition", item.reason)] : undefined,
      note: notes.some(Boolean) ? [{ text: notes.filter(Boolean).join(" ") }] : undefined,
    });
    const concept = agentConcept(item, vocab);
    if (!concept) return { procedure, administration: undefined };
    const { text, quantity } = dose(item, concept.text);
    const administration = compact({
      resourceType: "MedicationAdministration",
      id: `pg-administration-${index + 1}`,
      status: "completed",
      medicationCodeableConcept: concept,
      subject: reference("Patient", ctx.patientId),
      context: reference("Encounter", ctx.encounterId),
      effectiveDateTime: ctx.today,
      partOf: [reference("Procedure", id)],
      dosage: compact({ text, dose: quantity }),
    });
    return { procedure, administration };
  }

  // ctx: patientId, encounterId, userId, today. Returns the draft orders, the ServiceRequests among them (for
  // order-select's selections), and the performed resources that go into the prefetch.
  function build(items, ctx, vocab) {
    const drafts = [];
    const procedures = [];
    const administrations = [];
    items.forEach((item, index) => {
      if (item.kind === "performed") {
        const done = performed(item, index, ctx, vocab);
        procedures.push(done.procedure);
        if (done.administration) administrations.push(done.administration);
      } else {
        drafts.push(...order(item, index, ctx, vocab));
      }
    });
    const selections = drafts.filter((r) => r.resourceType === "ServiceRequest").map((r) => `ServiceRequest/${r.id}`);
    return { drafts, selections, procedures, administrations };
  }

  return { build };
})();
