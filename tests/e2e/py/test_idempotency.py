"""Idempotency records of creates (docs/availability.md, "Retried creates"): a create whose answer
was lost after the server committed it, retried with the same x-ms-client-request-id, gets the
first answer again and makes no second version.

The SDK tests lose a response on purpose: a transport (a RequestsTransport subclass) sends the
request, reads the server's answer, and then raises ServiceResponseError instead of returning it,
as when a connection drops after the server committed. azure-core's RetryPolicy resends the same
request, with the same x-ms-client-request-id (RequestIdPolicy runs once per call, before it).
It does so for PUT (SetSecret) but not for POST (CreateKey): the raw tests cover the rest.
"""

import unittest
import uuid

from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport

import harness
from harness import unique_name

API = "api-version=7.5"


class LoseFirstAnswer(RequestsTransport):
    """Sends every request; the first answer of `method` that the server gave with status 200 is
    read in full and then lost (ServiceResponseError). Records what was sent and answered."""

    def __init__(self, method, **kwargs):
        super().__init__(**kwargs)
        self.method = method
        self.lost = 0
        self.sent = []  # (client request id, status) of every `method` request

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        if request.method == self.method:
            self.sent.append((request.headers.get("x-ms-client-request-id"),
                              response.status_code))
            if response.status_code == 200 and self.lost == 0:
                self.lost += 1
                response.body()  # read: the server has answered, the commit is done
                raise ServiceResponseError("the connection dropped before the answer arrived")
        return response


class IdempotencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def put_secret(self, name, body, client_id=None):
        headers = {"x-ms-client-request-id": client_id} if client_id else {}
        return self.srv.request("PUT", f"/secrets/{name}?{API}", body=body, headers=headers)

    def versions(self, name):
        with self.srv.secret_client() as client:
            return [p.version for p in client.list_properties_of_secret_versions(name)]

    def test_sdk_retry_of_a_lost_set_secret_makes_one_version(self):
        name = unique_name("lost")
        transport = LoseFirstAnswer("PUT", connection_verify=self.srv.ca)
        with self.srv.secret_client(transport=transport) as client:
            secret = client.set_secret(name, "the value", content_type="text/plain")
        self.assertEqual(transport.lost, 1)
        ok = [cid for cid, status in transport.sent if status == 200]
        # the SDK sent it twice, both times with one id, and both were answered 200
        self.assertEqual(len(ok), 2, transport.sent)
        self.assertIsNotNone(ok[0])
        self.assertEqual(ok[0], ok[1])
        self.assertEqual(self.versions(name), [secret.properties.version])
        self.assertEqual(secret.value, "the value")
        self.assertEqual(secret.properties.content_type, "text/plain")
        with self.srv.secret_client() as client:
            got = client.get_secret(name)
        self.assertEqual(got.properties.version, secret.properties.version)
        self.assertEqual(got.properties.created_on, secret.properties.created_on)

    def test_without_records_the_same_loss_made_two_versions(self):
        """The control: a retry that does not carry the first id (the header removed) makes a
        second version, which is what the records prevent."""
        name = unique_name("control")

        class NoId(LoseFirstAnswer):
            def send(self, request, **kwargs):
                request.headers.pop("x-ms-client-request-id", None)
                return super().send(request, **kwargs)

        transport = NoId("PUT", connection_verify=self.srv.ca)
        with self.srv.secret_client(transport=transport) as client:
            secret = client.set_secret(name, "the value")
        self.assertEqual(transport.lost, 1)
        versions = self.versions(name)
        self.assertEqual(len(versions), 2)
        self.assertIn(secret.properties.version, versions)

    def test_raw_replay_and_refusal(self):
        name = unique_name("raw")
        cid = str(uuid.uuid4())
        first = self.put_secret(name, {"value": "v1", "tags": {"a": "b"}}, cid)
        self.assertEqual(first.status, 200, first)
        again = self.put_secret(name, {"value": "v1", "tags": {"a": "b"}}, cid)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json, first.json)  # the same answer, byte for byte in JSON
        self.assertEqual(again.headers.get("x-ms-client-request-id"), cid)
        other = self.put_secret(name, {"value": "v2", "tags": {"a": "b"}}, cid)
        self.assertEqual(other.status, 409, other)
        self.assertEqual(other.error_code(), "Conflict")
        self.assertEqual(other.json["error"]["innererror"]["code"], "ClientRequestIdReused")
        self.assertIn("x-ms-client-request-id", other.json["error"]["message"])
        self.assertNotIn("retry-after", other.headers)  # a retry cannot succeed
        self.assertEqual(self.versions(name), [first.json["id"].rsplit("/", 1)[1]])
        # another name with that id is another request too
        elsewhere = self.put_secret(unique_name("raw"), {"value": "v1"}, cid)
        self.assertEqual(elsewhere.status, 409, elsewhere)
        # without the header, each request is new
        self.assertEqual(self.put_secret(name, {"value": "v1"}).status, 200)
        self.assertEqual(self.put_secret(name, {"value": "v1"}).status, 200)
        self.assertEqual(len(self.versions(name)), 3)

    def test_sdk_refusal_is_an_http_error(self):
        name = unique_name("reused")
        with self.srv.secret_client() as client:
            client.set_secret(name, "one", request_id="fixed-id")
            with self.assertRaises(HttpResponseError) as cm:
                client.set_secret(name, "two", request_id="fixed-id")
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(len(self.versions(name)), 1)

    def test_key_client_does_not_retry_a_lost_create_but_a_resend_is_replayed(self):
        """azure-core retries a POST only on 500/503/504 or Retry-After, not on a lost answer:
        create_ec_key fails. The application's own retry with the same request_id gets the key
        that was made."""
        name = unique_name("k")
        cid = str(uuid.uuid4())
        transport = LoseFirstAnswer("POST", connection_verify=self.srv.ca)
        with self.srv.key_client(transport=transport) as client:
            with self.assertRaises(ServiceResponseError):
                client.create_ec_key(name, curve="P-256", request_id=cid)
            self.assertEqual([s for s in transport.sent if s[1] == 200], [(cid, 200)])
            key = client.create_ec_key(name, curve="P-256", request_id=cid)
        with self.srv.key_client() as client:
            versions = [p.version for p in client.list_properties_of_key_versions(name)]
        self.assertEqual(versions, [key.properties.version])

    def test_raw_create_key_and_rotate_replay(self):
        name = unique_name("k")
        body = {"kty": "EC", "crv": "P-256"}
        cid = {"x-ms-client-request-id": str(uuid.uuid4())}
        a = self.srv.request("POST", f"/keys/{name}/create?{API}", body=body, headers=cid)
        b = self.srv.request("POST", f"/keys/{name}/create?{API}", body=body, headers=cid)
        self.assertEqual(a.status, 200, a)
        self.assertEqual(b.json, a.json)
        rid = {"x-ms-client-request-id": str(uuid.uuid4())}
        r1 = self.srv.request("POST", f"/keys/{name}/rotate?{API}", headers=rid)
        r2 = self.srv.request("POST", f"/keys/{name}/rotate?{API}", headers=rid)
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r2.json, r1.json)
        self.assertNotEqual(r1.json["key"]["kid"], a.json["key"]["kid"])
        other = self.srv.request("POST", f"/keys/{name}/create?{API}",
                                 body={"kty": "EC", "crv": "P-384"}, headers=cid)
        self.assertEqual(other.status, 409, other)
        with self.srv.key_client() as client:
            versions = [p.version for p in client.list_properties_of_key_versions(name)]
        self.assertEqual(len(versions), 2)


if __name__ == "__main__":
    unittest.main()
