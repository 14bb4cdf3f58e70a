"""HL7 FHIR R4 out of the records: codes (codes.py), the Questionnaire and the question-by-
question map (questionnaire.py), one resident's resources (resources.py), the ward export
as Bulk Data NDJSON or transaction Bundles (export.py), the push to a FHIR server (push.py)
and a resident's own copy (personal.py). README, "FHIR", has the mapping table."""
