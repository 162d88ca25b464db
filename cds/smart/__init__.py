"""The red-flag check: a SMART on FHIR app where the clinician records what the cards list as
not recorded, written back to the EHR as Observations.

Modules, one concern each: `checklist` (what the form asks, generated from the finding catalog),
`prefill` (what the record already says, read by the hook's own reader), `answers` (what was
submitted and what changed), `questionnaire` and `writeback` (the FHIR resources, built and
validated with fhir.resources), `oauth` (SMART App Launch with authlib's OAuth 2 client),
`session` (the server-side session behind a signed cookie), `chart` (reading and writing the
patient's record on the EHR), `views` (the thin blueprint) and `dev_ehr` (a development EHR).
"""
