"""Cognito pre-token-generation trigger (event version V2_0) for Hearth.

Cognito alone cannot put SMART on FHIR v2 scopes (``patient/*.rs``) or the SMART launch
claims (``patient``, ``fhirUser``) into its tokens. This function adds them:

* scopes from the user's Cognito groups, through ``PRETOKEN_GROUP_SCOPES`` (a JSON object
  ``{"group": ["scope", ...]}``), but only when the app asked for no SMART scope itself:
  an app that requested ``patient/*.read`` gets exactly that, never more;
* for a user with a valid patient attribute (``PRETOKEN_PATIENT_ATTRIBUTE``, default
  ``custom:patientId``): the ``patient`` claim and ``fhirUser = Patient/<id>`` in the ID and
  access tokens, and the scopes of the ``patient`` entry of the mapping;
* for a user with a valid practitioner attribute (``PRETOKEN_PRACTITIONER_ATTRIBUTE``,
  default ``custom:practitionerId``): ``fhirUser = Practitioner/<id>``;
* the tenant attribute (``PRETOKEN_TENANT_ATTRIBUTE``, default ``custom:tenantId``; empty:
  off) copied into the access token, where Cognito does not put custom attributes.

It fails closed: a malformed attribute, both a patient and a practitioner id, or a bad
configuration adds nothing at all, so the tokens are exactly what Cognito issues without
this function (patient scopes without a ``patient`` claim grant nothing in Hearth).
``patient/`` scopes are never added without a patient context. Logs say why, never a value.

Standard library only; Python 3.12 runtime (also runs on 3.11 for the tests).
"""

from __future__ import annotations

import json
import logging
import os
import re

LOG = logging.getLogger("pretoken")
LOG.setLevel(logging.INFO)

DEFAULT_GROUP_SCOPES = {"practitioner": ["user/*.cruds"], "patient": ["patient/*.rs"]}
PATIENT_ENTRY = "patient"  # the mapping entry whose scopes a user with a patient id gets

# FHIR id: 1..64 of A-Z a-z 0-9 - . (and not only dots, which would read as a path).
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Tenant: 1..64 of letters, digits and '-' (no dots: it becomes part of URLs and keys).
TENANT = re.compile(r"[A-Za-z0-9\-]{1,64}")
# SMART v1/v2 resource scope, optionally with a v2 query (no whitespace anywhere).
SMART_SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Za-z]{1,64})\.(read|write|\*|(?=[cruds])c?r?u?d?s?)(\?\S{1,512})?")


class Refused(Exception):
    """Something is malformed: add nothing. The message must never contain a value."""


def is_fhir_id(value: object) -> bool:
    return isinstance(value, str) and FHIR_ID.fullmatch(value) is not None and value.strip(".") != ""


def is_tenant(value: object) -> bool:
    return isinstance(value, str) and TENANT.fullmatch(value) is not None


def is_smart_scope(value: object) -> bool:
    return isinstance(value, str) and SMART_SCOPE.fullmatch(value) is not None


def load_config(env: dict[str, str]) -> dict:
    raw = env.get("PRETOKEN_GROUP_SCOPES", "").strip()
    try:
        mapping = json.loads(raw) if raw else DEFAULT_GROUP_SCOPES
    except json.JSONDecodeError:
        raise Refused("PRETOKEN_GROUP_SCOPES is not valid JSON") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(g, str) and isinstance(s, list) and all(is_smart_scope(x) for x in s) for g, s in mapping.items()
    ):
        raise Refused("PRETOKEN_GROUP_SCOPES must map group names to lists of SMART scopes")
    return {
        "group_scopes": mapping,
        "patient_attribute": env.get("PRETOKEN_PATIENT_ATTRIBUTE", "custom:patientId"),
        "practitioner_attribute": env.get("PRETOKEN_PRACTITIONER_ATTRIBUTE", "custom:practitionerId"),
        "tenant_attribute": env.get("PRETOKEN_TENANT_ATTRIBUTE", "custom:tenantId"),
    }


def overrides(event: dict, config: dict) -> dict | None:
    """The claimsAndScopeOverrideDetails for this event (None: add nothing); raises Refused."""
    if str(event.get("version")) not in ("2", "3"):
        raise Refused(f"event version {str(event.get('version'))[:8]!r} is not V2_0 (set lambda_version = V2_0)")
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    requested = request.get("scopes") or []
    if not isinstance(attributes, dict) or not isinstance(groups, list) or not isinstance(requested, list):
        raise Refused("userAttributes, groupsToOverride or scopes has an unexpected shape")

    def attribute(name: str, valid, what: str) -> str | None:
        if not name or name not in attributes:
            return None
        value = attributes[name]
        if not valid(value):
            raise Refused(f"{name} is not a valid {what} (length {len(value) if isinstance(value, str) else '?'})")
        return value

    patient = attribute(config["patient_attribute"], is_fhir_id, "FHIR id")
    practitioner = attribute(config["practitioner_attribute"], is_fhir_id, "FHIR id")
    tenant = attribute(config["tenant_attribute"], is_tenant, "tenant id")
    if patient and practitioner:
        raise Refused("the user has both a patient and a practitioner id")

    id_claims: dict[str, str] = {}
    access_claims: dict[str, str] = {}
    if patient:
        id_claims.update(patient=patient, fhirUser=f"Patient/{patient}")
    elif practitioner:
        id_claims["fhirUser"] = f"Practitioner/{practitioner}"
    access_claims.update(id_claims)
    if tenant:
        access_claims[config["tenant_attribute"]] = tenant

    scopes: list[str] = []
    # An app that asked for SMART scopes gets those (Cognito checked them against the
    # client); the group scopes are for apps that could not ask (Cognito has no v2 scopes).
    if not any(isinstance(s, str) and s.split("/", 1)[0] in ("patient", "user", "system") for s in requested):
        entries = [g for g in groups if isinstance(g, str)] + ([PATIENT_ENTRY] if patient else [])
        for entry in entries:
            for scope in config["group_scopes"].get(entry, []):
                if scope.startswith("patient/") and not patient:
                    continue  # never a patient scope without a patient context
                if scope not in scopes and scope not in requested:
                    scopes.append(scope)

    if not (id_claims or access_claims or scopes):
        return None
    access: dict = {"claimsToAddOrOverride": access_claims} if access_claims else {}
    if scopes:
        access["scopesToAdd"] = scopes
    details: dict = {"accessTokenGeneration": access}
    if id_claims:
        details["idTokenGeneration"] = {"claimsToAddOrOverride": id_claims}
    return details


def handler(event: dict, context: object = None) -> dict:
    log = {"trigger": event.get("triggerSource"), "userPool": event.get("userPoolId")}
    try:
        details = overrides(event, load_config(dict(os.environ)))
    except Refused as e:
        LOG.warning(json.dumps({**log, "outcome": "added nothing", "reason": str(e)}))
        details = None
    else:
        access = (details or {}).get("accessTokenGeneration", {})
        LOG.info(json.dumps({
            **log,
            "outcome": "added" if details else "nothing to add",
            "scopes": access.get("scopesToAdd", []),  # configuration, not user data
            "claims": sorted(access.get("claimsToAddOrOverride", {})),  # names only
        }))
    event.setdefault("response", {})
    if not isinstance(event["response"], dict):
        event["response"] = {}
    event["response"]["claimsAndScopeOverrideDetails"] = details
    return event
