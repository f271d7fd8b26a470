"""Unit tests of the pre-token-generation Lambda: the real handler on V2_0 events shaped like
the ones Cognito sends (user pool docs, "Pre token generation Lambda trigger").

Run: python -m unittest discover -s infra/terraform/modules/identity/pretoken -v
"""

from __future__ import annotations

import copy
import json
import os
import sys
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pretoken  # noqa: E402

ENV_KEYS = ("PRETOKEN_GROUP_SCOPES", "PRETOKEN_PATIENT_ATTRIBUTE", "PRETOKEN_PRACTITIONER_ATTRIBUTE", "PRETOKEN_TENANT_ATTRIBUTE")


def v2_event(attributes: dict | None = None, groups: list | None = None, scopes: list | None = None,
             trigger: str = "TokenGeneration_HostedAuth", version: str = "2") -> dict:
    """A V2_0 event as Cognito sends it: response.claimsAndScopeOverrideDetails is null."""
    return {
        "version": version,
        "triggerSource": trigger,
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_AbCdEf123",
        "userName": "8f2e6c1a-3b4d-4e5f-9a0b-1c2d3e4f5a6b",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": {
            "userAttributes": {
                "sub": "8f2e6c1a-3b4d-4e5f-9a0b-1c2d3e4f5a6b",
                "cognito:user_status": "CONFIRMED",
                "email_verified": "true",
                "email": "jane.doe@example.org",
                **(attributes or {}),
            },
            "groupConfiguration": {"groupsToOverride": groups or [], "iamRolesToOverride": [], "preferredRole": None},
            "scopes": ["openid", "email", "profile"] if scopes is None else scopes,
        },
        "response": {"claimsAndScopeOverrideDetails": None},
    }


class HandlerTest(unittest.TestCase):
    def setUp(self) -> None:
        patcher = mock.patch.dict(os.environ)
        patcher.start()
        self.addCleanup(patcher.stop)
        for k in ENV_KEYS:
            os.environ.pop(k, None)

    def run_handler(self, event: dict) -> dict | None:
        before = copy.deepcopy(event)
        out = pretoken.handler(event, None)
        self.assertIs(out, event)
        # Only response.claimsAndScopeOverrideDetails changes, and it is plain JSON.
        details = out["response"]["claimsAndScopeOverrideDetails"]
        self.assertEqual({k: v for k, v in out.items() if k != "response"}, {k: v for k, v in before.items() if k != "response"})
        self.assertEqual(json.loads(json.dumps(details)), details)
        return details

    def assert_refused(self, event: dict, *secrets: str) -> str:
        with self.assertLogs("pretoken", "WARNING") as logs:
            self.assertIsNone(self.run_handler(event))
        text = "\n".join(logs.output)
        self.assertIn("added nothing", text)
        for s in secrets:  # the reason names the attribute, never its value
            self.assertNotIn(s, text)
        self.assertNotIn("jane.doe", text)
        return text

    # --- what is added ---------------------------------------------------------------

    def test_patient_gets_launch_context_tenant_and_patient_scopes(self):
        d = self.run_handler(v2_event({"custom:patientId": "pat-123", "custom:tenantId": "princeton"}))
        self.assertEqual(d["idTokenGeneration"], {"claimsToAddOrOverride": {"patient": "pat-123", "fhirUser": "Patient/pat-123"}})
        self.assertEqual(d["accessTokenGeneration"], {
            "claimsToAddOrOverride": {"patient": "pat-123", "fhirUser": "Patient/pat-123", "custom:tenantId": "princeton"},
            "scopesToAdd": ["patient/*.rs"],
        })

    def test_practitioner_gets_fhir_user_and_group_scopes(self):
        d = self.run_handler(v2_event({"custom:practitionerId": "dr.house"}, groups=["practitioner"], trigger="TokenGeneration_Authentication",
                                      scopes=["aws.cognito.signin.user.admin"]))
        self.assertEqual(d["idTokenGeneration"], {"claimsToAddOrOverride": {"fhirUser": "Practitioner/dr.house"}})
        self.assertEqual(d["accessTokenGeneration"]["claimsToAddOrOverride"], {"fhirUser": "Practitioner/dr.house"})
        self.assertEqual(d["accessTokenGeneration"]["scopesToAdd"], ["user/*.cruds"])

    def test_group_scopes_without_any_fhir_id(self):
        d = self.run_handler(v2_event(groups=["practitioner", "auditor"]))
        self.assertEqual(d, {"accessTokenGeneration": {"scopesToAdd": ["user/*.cruds"]}})

    def test_app_that_asked_for_smart_scopes_gets_no_more(self):
        d = self.run_handler(v2_event({"custom:patientId": "123"}, groups=["practitioner"],
                                      scopes=["openid", "launch/patient", "patient/*.read"]))
        self.assertNotIn("scopesToAdd", d["accessTokenGeneration"])
        self.assertEqual(d["accessTokenGeneration"]["claimsToAddOrOverride"]["patient"], "123")

    def test_patient_scopes_need_a_patient_context(self):
        # In the "patient" group but without a patient id: no patient/ scope at all.
        self.assertIsNone(self.run_handler(v2_event(groups=["patient"])))
        os.environ["PRETOKEN_GROUP_SCOPES"] = json.dumps({"staff": ["user/*.rs", "patient/Observation.rs"]})
        d = self.run_handler(v2_event(groups=["staff"]))
        self.assertEqual(d["accessTokenGeneration"]["scopesToAdd"], ["user/*.rs"])

    def test_scopes_are_not_repeated(self):
        os.environ["PRETOKEN_GROUP_SCOPES"] = json.dumps({"a": ["user/*.rs"], "b": ["user/*.rs", "system/Patient.r"], "patient": ["patient/*.rs"]})
        d = self.run_handler(v2_event({"custom:patientId": "1"}, groups=["a", "b", "patient"]))
        self.assertEqual(d["accessTokenGeneration"]["scopesToAdd"], ["user/*.rs", "system/Patient.r", "patient/*.rs"])

    def test_refresh_uses_current_attributes(self):
        d = self.run_handler(v2_event({"custom:patientId": "p2"}, trigger="TokenGeneration_RefreshTokens", scopes=["openid"]))
        self.assertEqual(d["accessTokenGeneration"]["claimsToAddOrOverride"]["fhirUser"], "Patient/p2")

    def test_tenant_only(self):
        d = self.run_handler(v2_event({"custom:tenantId": "clinic-a"}))
        self.assertEqual(d, {"accessTokenGeneration": {"claimsToAddOrOverride": {"custom:tenantId": "clinic-a"}}})

    def test_nothing_to_add(self):
        with self.assertLogs("pretoken", "INFO") as logs:
            self.assertIsNone(self.run_handler(v2_event(groups=["non-practitioner"])))
        self.assertIn("nothing to add", logs.output[0])

    def test_valid_id_edges(self):
        for pid in ("a", "A.b-9", "x" * 64, "1.2.3", "-"):
            d = self.run_handler(v2_event({"custom:patientId": pid}))
            self.assertEqual(d["idTokenGeneration"]["claimsToAddOrOverride"]["patient"], pid, pid)

    def test_configurable_attribute_names(self):
        os.environ.update(PRETOKEN_PATIENT_ATTRIBUTE="custom:fhirPatient", PRETOKEN_PRACTITIONER_ATTRIBUTE="custom:fhirPractitioner",
                          PRETOKEN_TENANT_ATTRIBUTE="custom:org")
        d = self.run_handler(v2_event({"custom:fhirPatient": "77", "custom:patientId": "not used", "custom:org": "org-1"}))
        self.assertEqual(d["accessTokenGeneration"]["claimsToAddOrOverride"], {"patient": "77", "fhirUser": "Patient/77", "custom:org": "org-1"})

    def test_tenant_copy_can_be_turned_off(self):
        os.environ["PRETOKEN_TENANT_ATTRIBUTE"] = ""
        self.assertIsNone(self.run_handler(v2_event({"custom:tenantId": "princeton"})))

    def test_missing_response_object_is_created(self):
        event = v2_event({"custom:patientId": "1"})
        del event["response"]
        self.assertEqual(pretoken.handler(event, None)["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]["claimsToAddOrOverride"]["patient"], "1")

    # --- fail closed -----------------------------------------------------------------

    def test_malformed_patient_id_adds_nothing(self):
        for bad in ("", ".", "..", "...", "x" * 65, "Patient/123", "12 3", "123\n", "a_b", "ü1", "../etc", "1;2", "*"):
            with self.subTest(bad=bad):
                text = self.assert_refused(v2_event({"custom:patientId": bad, "custom:tenantId": "princeton"}, groups=["practitioner"]),
                                           *([bad] if len(bad) > 2 else []))
                self.assertIn("custom:patientId", text)

    def test_malformed_practitioner_id_adds_nothing(self):
        self.assert_refused(v2_event({"custom:practitionerId": "dr/house"}, groups=["practitioner"]), "dr/house")

    def test_malformed_tenant_adds_nothing(self):
        for bad in ("a.b", "", "t" * 65, "clinic a", "..", "tenant/1"):
            with self.subTest(bad=bad):
                text = self.assert_refused(v2_event({"custom:tenantId": bad, "custom:patientId": "123"}), *([bad] if len(bad) > 2 else []))
                self.assertIn("custom:tenantId", text)

    def test_patient_and_practitioner_at_once_adds_nothing(self):
        self.assert_refused(v2_event({"custom:patientId": "p1", "custom:practitionerId": "d1"}), "p1", "d1")

    def test_bad_configuration_adds_nothing(self):
        for cfg in ("{not json", "[]", '{"practitioner": "user/*.cruds"}', '{"practitioner": ["user/*.cruds extra"]}',
                    '{"practitioner": ["openid"]}', '{"patient": ["patient/*."]}', '{"patient": ["patient/Obs-1.rs"]}',
                    '{"patient": ["patient/*.xyz"]}', '{"patient": [1]}'):
            with self.subTest(cfg=cfg):
                os.environ["PRETOKEN_GROUP_SCOPES"] = cfg
                text = self.assert_refused(v2_event({"custom:patientId": "123"}, groups=["practitioner"]))
                self.assertIn("PRETOKEN_GROUP_SCOPES", text)

    def test_v1_event_adds_nothing(self):
        event = v2_event({"custom:patientId": "123"}, version="1")
        event["response"] = {"claimsOverrideDetails": None}
        self.assert_refused(event)

    def test_unexpected_shapes_add_nothing(self):
        event = v2_event()
        event["request"]["scopes"] = "openid"
        self.assert_refused(event)
        event = v2_event({"custom:patientId": "123"})
        event["request"]["userAttributes"]["custom:patientId"] = ["123"]
        self.assert_refused(event)


class ScopePatternTest(unittest.TestCase):
    def test_smart_scopes(self):
        good = ["patient/*.rs", "user/*.cruds", "system/*.*", "patient/*.read", "user/Observation.write", "patient/Observation.c",
                "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"]
        bad = ["openid", "launch/patient", "fhirUser", "patient/*", "patient/*.", "patient/*.sr", "patient/*.rr", "admin/*.rs",
               "patient/Obs-1.rs", "patient/*.rs ", " patient/*.rs", "patient/*.rs?a=b c", "fhir/system.Patient.read"]
        for s in good:
            self.assertTrue(pretoken.is_smart_scope(s), s)
        for s in bad:
            self.assertFalse(pretoken.is_smart_scope(s), s)

    def test_default_mapping_is_valid(self):
        self.assertEqual(pretoken.load_config({})["group_scopes"], pretoken.DEFAULT_GROUP_SCOPES)
        self.assertTrue(all(pretoken.is_smart_scope(s) for v in pretoken.DEFAULT_GROUP_SCOPES.values() for s in v))


if __name__ == "__main__":
    unittest.main()
