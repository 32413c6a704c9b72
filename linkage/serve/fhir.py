"""FHIR R4 in and out: a `Patient/$match` Parameters body as search fields; EIDs as a
searchset Bundle of Patients; errors as OperationOutcome.

The Patient a caller sends is read for what search uses: the official (else usual or
unlabelled, else first current) name's family and first given name, or its `text` split as
the sources' names are ("LOPEZ, ANA" or "Ana Lopez"), birthDate, the first postal code, the first phone and e-mail,
and identifiers recognised by system or type:

| identifier | system | or type code (v2-0203) |
|---|---|---|
| SSN (9 digits, or its last 4) | `http://hl7.org/fhir/sid/us-ssn` or `urn:oid:2.16.840.1.113883.4.1` | `SS` |
| SSN last 4 | `urn:linkage:identifier:ssn-last4` | |
| Medi-Cal CIN | `urn:linkage:identifier:cin` | `MA` |
| MRN | `urn:linkage:identifier:mrn` | `MR` |

Other identifiers are ignored. No message here carries a value from the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
SOURCE_SYSTEM = "urn:linkage:source:"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
SSN_OID = "urn:oid:2.16.840.1.113883.4.1"  # the SSN's OID, as many EHRs write it
_IDENTIFIER_SYSTEMS = {SSN_SYSTEM: "ssn", SSN_OID: "ssn", "urn:linkage:identifier:ssn": "ssn",
                       "urn:linkage:identifier:ssn-last4": "ssn_last4",
                       "urn:linkage:identifier:cin": "cin", "urn:linkage:identifier:mrn": "mrn"}
_IDENTIFIER_TYPES = {"SS": "ssn", "MA": "cin", "MR": "mrn"}
DEFAULT_COUNT = 10
MAX_COUNT = 100


class FhirError(ValueError):
    """The body is not a $match request this service can answer (HTTP 400)."""


@dataclass(frozen=True)
class MatchRequest:
    fields: dict[str, str]  # search keyword -> value
    count: int
    only_certain: bool


def parse_match(body: Any) -> MatchRequest:
    """The search fields, count and onlyCertainMatches of a $match Parameters body."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError("expected a FHIR Parameters resource")
    parameters = body.get("parameter")
    if not isinstance(parameters, list):
        raise FhirError("Parameters.parameter: expected a list")
    patient, count, only_certain = None, DEFAULT_COUNT, False
    for parameter in parameters:
        if not isinstance(parameter, dict):
            raise FhirError("Parameters.parameter: expected objects")
        name = parameter.get("name")
        if name == "resource":
            patient = parameter.get("resource")
        elif name == "count":
            count = parameter.get("valueInteger")
            if not isinstance(count, int) or isinstance(count, bool) or not (
                    1 <= count <= MAX_COUNT):
                raise FhirError(f"count: expected valueInteger from 1 to {MAX_COUNT}")
        elif name == "onlyCertainMatches":
            only_certain = parameter.get("valueBoolean")
            if not isinstance(only_certain, bool):
                raise FhirError("onlyCertainMatches: expected valueBoolean")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise FhirError("expected a parameter 'resource' holding a Patient")
    return MatchRequest(patient_fields(patient), count, only_certain)


def patient_fields(patient: dict[str, Any]) -> dict[str, str]:
    """The search fields a Patient gives (keywords of linkage.search.Searcher.search)."""
    fields: dict[str, str] = {}
    names = _list(patient, "name")
    if names:
        for name in names:
            _object(name, "name")
        name = next((n for uses in (("official",), ("usual", None)) for n in names
                     if n.get("use") in uses),
                    next((n for n in names if n.get("use") not in ("old", "maiden")), names[0]))
        family, given = name.get("family"), name.get("given")
        if family is None and given is None and name.get("text") is not None:
            family, given = _split_text(_text(name["text"], "name.text"))
        if family is not None:
            fields["last_name"] = _text(family, "name.family")
        if given is not None:
            if not isinstance(given, list) or not given:
                raise FhirError("name.given: expected a list of strings")
            fields["first_name"] = _text(given[0], "name.given")
    if patient.get("birthDate") is not None:
        birth_date = _text(patient["birthDate"], "birthDate")
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", birth_date):
            raise FhirError("birthDate: expected a full date, YYYY-MM-DD")
        fields["dob"] = birth_date
    for identifier in _list(patient, "identifier"):
        _object(identifier, "identifier")
        kind = _IDENTIFIER_SYSTEMS.get(identifier.get("system")) or next(
            (_IDENTIFIER_TYPES[coding.get("code")]
             for coding in (identifier.get("type") or {}).get("coding") or []
             if isinstance(coding, dict) and coding.get("code") in _IDENTIFIER_TYPES), None)
        if kind is None or identifier.get("value") is None:
            continue
        value = _text(identifier["value"], "identifier.value")
        if kind == "ssn" and len(re.sub(r"[^0-9]", "", value)) == 4:
            kind, value = "ssn_last4", re.sub(r"[^0-9]", "", value)
        fields.setdefault(kind, value)
    for telecom in _list(patient, "telecom"):
        _object(telecom, "telecom")
        if telecom.get("system") in ("phone", "email") and telecom.get("value") is not None:
            fields.setdefault(telecom["system"], _text(telecom["value"], "telecom.value"))
    for address in _list(patient, "address"):
        _object(address, "address")
        if address.get("postalCode") is not None:
            fields.setdefault("zip5", _text(address["postalCode"], "address.postalCode"))
    return fields


def _split_text(text: str) -> tuple[str | None, list[str] | None]:
    """Family and given names of a name written whole: family first before a comma, else
    last (linkage.sources.shapes.name_parts, which lands such names, reads them the same)."""
    if "," in text:
        family, _, rest = text.partition(",")
        given = rest.partition(",")[0].split()
        return family.strip() or None, given or None
    words = text.split()
    return (words[-1] if words else None), (words[:-1] or None)


def _list(resource: dict[str, Any], key: str) -> list[Any]:
    value = resource.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FhirError(f"Patient.{key}: expected a list")
    return value


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise FhirError(f"Patient.{where}: expected an object")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise FhirError(f"Patient.{where}: expected a string")
    return value


def grade(probability: float, certain: float, probable: float) -> str:
    """FHIR's match-grade for a match probability, at the config's review band."""
    return ("certain" if probability >= certain else
            "probable" if probability >= probable else "possible")


def patient(enterprise_id: str, members: list[tuple[str, str]]) -> dict[str, Any]:
    """An EID as a Patient: its id the EID, its identifiers the member records given."""
    return {"resourceType": "Patient", "id": enterprise_id,
            "identifier": [{"system": SOURCE_SYSTEM + source_system, "value": record_id}
                           for source_system, record_id in members]}


def searchset(entries: list[tuple[str, list[tuple[str, str]], float, str]]) -> dict[str, Any]:
    """A searchset Bundle: (EID, members, probability, grade) per entry, best first."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
            "entry": [{"fullUrl": f"urn:linkage:eid:{enterprise_id}",
                       "resource": patient(enterprise_id, members),
                       "search": {"mode": "match", "score": round(probability, 6),
                                  "extension": [{"url": MATCH_GRADE, "valueCode": match_grade}]}}
                      for enterprise_id, members, probability, match_grade in entries]}


def outcome(code: str, message: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": message}]}
