"""Code systems, codes and identifier namespaces of the FHIR export, each with its source.

Terminology (checked against the published value sets, December 2026):
- LOINC (http://loinc.org), vital signs as in the FHIR R4 Observation vital-signs profile
  (hl7.org/fhir/R4/observation-vitalsigns.html): 8302-2 Body height, 29463-7 Body weight,
  39156-5 Body mass index (BMI) [Ratio], 85354-9 Blood pressure panel with all children
  optional, 8480-6 Systolic blood pressure, 8462-4 Diastolic blood pressure.
  72166-2 Tobacco smoking status (US Core smoking-status profile). 11996-6 [#] Pregnancies
  and 11638-4 [#] Births.still living (the IPS "Pregnancies Summary" value set,
  hl7.org/fhir/uv/ips/ValueSet-pregnancies-summary-uv-ips.html; BFDR's "Number of Births
  Now Living" uses 11638-4 for the living children of a mother). 883-9 ABO group [Type]
  in Blood.
- UCUM (http://unitsofmeasure.org): cm, kg, kg/m2, mm[Hg]; {#} for a count (the unit LOINC
  gives for 11996-6 and 11638-4).
- SNOMED CT (http://snomed.info/sct): smoking 266919005 Never smoked tobacco, 77176002
  Smoker, 8517006 Ex-smoker (the smoking-status value set of US Core 3.1); ABO groups
  112144000 / 112149005 / 165743006 / 58460004; 716186003 No known allergy (IPS);
  840539006 COVID-19 and 6142004 Influenza as target diseases; conditions below.
- ICD-10 (http://hl7.org/fhir/sid/icd-10, the WHO edition Vietnam uses): I10 Essential
  (primary) hypertension, E14 Unspecified diabetes mellitus, I51.9 Heart disease,
  unspecified, C80.9 Malignant neoplasm, primary site unspecified. "Hen/COPD" spans J44
  and J45, so it carries SNOMED 413839001 Chronic lung disease alone.
- CVX (http://hl7.org/fhir/sid/cvx, CDC): 213 SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED
  FORMULATION; 88 influenza virus vaccine, unspecified formulation.
- HL7 terminology (terminology.hl7.org): observation-category, condition-clinical,
  condition-ver-status, condition-category, allergyintolerance-clinical / -verification,
  immunization-origin ("recall": reported by the person), v3-RoleCode for relatives.

Identifiers: CCCD and BHYT use the NamingSystems of HL7 Vietnam's VN Core implementation
guide (fhir.hl7.org.vn, NamingSystem vn-cccd-ns and vn-bhyt-ns, draft):
http://fhir.hl7.org.vn/core/sid/cccd and http://fhir.hl7.org.vn/core/sid/bhyt. Everything
of our own (card code, resource identifiers, answer code systems, the Questionnaire's
canonical URL) lives under NS, the project's namespace (README, "FHIR").
"""

from __future__ import annotations

NS = "https://healthbot.vn/fhir"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CVX = "http://hl7.org/fhir/sid/cvx"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

SID_CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
SID_BHYT = "http://fhir.hl7.org.vn/core/sid/bhyt"
SID_RESOURCE = NS + "/sid/resource"  # one per exported resource: the key of conditional updates
SID_STATION = NS + "/sid/health-station"

QUESTIONNAIRE_URL = NS + "/Questionnaire/health-declaration"
ANSWERS = NS + "/CodeSystem/"  # + question key: the answer codes of one question
WITHDRAWN_TAG = {"system": NS + "/CodeSystem/consent", "code": "withdrawn",
                 "display": "Consent withdrawn after this declaration"}


def coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    out = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def category(code: str, display: str) -> list[dict]:
    return [concept(TERMINOLOGY + "observation-category", code, display)]


VITAL_SIGNS = category("vital-signs", "Vital Signs")
SOCIAL_HISTORY = category("social-history", "Social History")
SURVEY = category("survey", "Survey")
LABORATORY = category("laboratory", "Laboratory")

HEIGHT = concept(LOINC, "8302-2", "Body height")
WEIGHT = concept(LOINC, "29463-7", "Body weight")
BMI = concept(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")
BP_PANEL = concept(LOINC, "85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = concept(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC = concept(LOINC, "8462-4", "Diastolic blood pressure")
SMOKING = concept(LOINC, "72166-2", "Tobacco smoking status")
PREGNANCIES = concept(LOINC, "11996-6", "[#] Pregnancies")
LIVING_CHILDREN = concept(LOINC, "11638-4", "[#] Births.still living")
ABO = concept(LOINC, "883-9", "ABO group [Type] in Blood")

SMOKING_VALUES = {
    "no": concept(SNOMED, "266919005", "Never smoked tobacco"),
    "yes": concept(SNOMED, "77176002", "Smoker"),
    "quit": concept(SNOMED, "8517006", "Ex-smoker"),
}
ABO_VALUES = {
    "A": concept(SNOMED, "112144000", "Blood group A"),
    "B": concept(SNOMED, "112149005", "Blood group B"),
    "AB": concept(SNOMED, "165743006", "Blood group AB"),
    "O": concept(SNOMED, "58460004", "Blood group O"),
}

# The chronic conditions of the questionnaire (dialogs/questionnaire.py CONDITIONS).
CONDITIONS: dict[str, list[dict]] = {
    "htn": [coding(ICD10, "I10", "Essential (primary) hypertension"),
            coding(SNOMED, "38341003", "Hypertensive disorder, systemic arterial")],
    "diabetes": [coding(ICD10, "E14", "Unspecified diabetes mellitus"),
                 coding(SNOMED, "73211009", "Diabetes mellitus")],
    "heart": [coding(ICD10, "I51.9", "Heart disease, unspecified"),
              coding(SNOMED, "56265001", "Heart disease")],
    "lung": [coding(SNOMED, "413839001", "Chronic lung disease")],
    "cancer": [coding(ICD10, "C80.9", "Malignant neoplasm, primary site unspecified"),
               coding(SNOMED, "363346000", "Malignant neoplastic disease")],
    "other": [],  # the person's label ("Bệnh khác") as code.text only
}
NO_KNOWN_ALLERGY = concept(SNOMED, "716186003", "No known allergy")

COVID_VACCINE = concept(CVX, "213", "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION")
FLU_VACCINE = concept(CVX, "88", "influenza virus vaccine, unspecified formulation")
COVID_DISEASE = concept(SNOMED, "840539006", "Disease caused by severe acute respiratory syndrome coronavirus 2")
FLU_DISEASE = concept(SNOMED, "6142004", "Influenza")
RECALL = concept(TERMINOLOGY + "immunization-origin", "recall", "Parent/Guardian/Patient Recall")

CLINICAL_ACTIVE = concept(TERMINOLOGY + "condition-clinical", "active", "Active")
UNCONFIRMED = concept(TERMINOLOGY + "condition-ver-status", "unconfirmed", "Unconfirmed")
PROBLEM_LIST = [concept(TERMINOLOGY + "condition-category", "problem-list-item", "Problem List Item")]
ALLERGY_ACTIVE = concept(TERMINOLOGY + "allergyintolerance-clinical", "active", "Active")
ALLERGY_UNCONFIRMED = concept(TERMINOLOGY + "allergyintolerance-verification", "unconfirmed", "Unconfirmed")

# What the declarer is to the resident, from the declaration's relation (what the resident
# is to the declarer: "child" means a parent declared). v3-RoleCode.
ROLE = TERMINOLOGY + "v3-RoleCode"
DECLARER_ROLES = {
    "child": concept(ROLE, "PRN", "parent"),
    "parent": concept(ROLE, "CHILD", "child"),
    "grandparent": concept(ROLE, "GRNDCHILD", "grandchild"),
    "spouse": concept(ROLE, "SPS", "spouse"),
    "other": concept(ROLE, "FAMMEM", "family member"),
}


def quantity(value: float | int, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}
