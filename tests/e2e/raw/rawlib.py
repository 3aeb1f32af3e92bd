"""What the hostile-client suites (tests/e2e/raw/test_*.py) share: raw TLS connections for requests
http.client would refuse to build, the check of an Azure-style error answer, the management and
administration calls that set up vaults and principals, and a snapshot of everything a vault
stores, to show that an attack changed nothing.

Python's standard library only (plus the harness of tests/e2e/py, itself stdlib-only for raw/).
"""

import json
import os
import socket
import ssl
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import harness  # noqa: E402

API = "api-version=7.6"
ARM_API = "2026-02-01"
SUB = str(uuid.uuid4())
RG_PATH = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault"


class Raw:
    """A raw TLS connection to the server, for requests http.client would refuse to build.

    host is the TLS server name (SNI; default: the default vault's host), source an address of
    127/8 to connect from (several "clients" on one machine)."""

    def __init__(self, srv, host=None, timeout=15, source=None):
        self.srv = srv
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout,
                                        source_address=(source, 0) if source else None)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as harness._LoopbackHTTPS
            self.sock = srv.ssl_context().wrap_socket(sock, server_hostname=host or srv.vault_host)
        except BaseException:
            sock.close()
            raise

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self):
        """Reads one response; returns (status, headers dict, body bytes), or None if closed first."""
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                chunk = b""
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:n]

    def request(self, head, body=b""):
        """Sends head (str, without the blank line) and body; returns read_response()."""
        self.send(head.encode("latin-1") + b"\r\n\r\n" + body)
        return self.read_response()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_once(srv, data, host=None, timeout=15, source=None):
    """data (bytes, a whole request) on a fresh raw connection: read_response(), or None when the
    server closed it first."""
    conn = Raw(srv, host=host, timeout=timeout, source=source)
    try:
        conn.send(data)
        return conn.read_response()
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        return None
    finally:
        conn.close()


def raw_json(resp):
    """The JSON body of a read_response() tuple, or None."""
    try:
        return json.loads(resp[2]) if resp and resp[2] else None
    except ValueError:
        return None


def assert_azure_error(tc, status, headers, body, statuses, code=None, msg=None):
    """status is one of statuses and the answer an Azure-style error: a JSON body
    {"error": {"code", "message"}}, its Content-Type, x-ms-request-id."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    info = msg or f"{status} {body[:300]!r}"
    tc.assertIn(status, statuses, info)
    try:
        doc = json.loads(body)
    except ValueError:
        tc.fail(f"not a JSON error body: {info}")
    err = doc.get("error") if isinstance(doc, dict) else None
    tc.assertIsInstance(err, dict, info)
    tc.assertIsInstance(err.get("code"), str, info)
    tc.assertIsInstance(err.get("message"), str, info)
    if code:
        tc.assertEqual(err["code"], code, info)
    tc.assertTrue(headers.get("x-ms-request-id"), f"x-ms-request-id: {info}")
    tc.assertRegex(headers.get("content-type", ""), r"^application/json", info)
    return err


def assert_error(tc, r, statuses, code=None, msg=None):
    """assert_azure_error for a harness.Response."""
    return assert_azure_error(tc, r.status, r.headers, r.body, statuses, code, msg or repr(r))


# --- set-up through the management plane and the administration API ---------------------------

def arm(srv, method, path, body=None, token=None):
    """A management-plane request under RG_PATH (path starts with /vaults...)."""
    sep = "&" if "?" in path else "?"
    return srv.request(method, f"{RG_PATH}{path}{sep}api-version={ARM_API}", body, host="localhost",
                       token=token)


def admin(srv, method, path, body=None, token=None):
    return srv.request(method, path, body, host="localhost", token=token)


def dp(srv, vault, method, path, body=None, token=None, headers=None):
    """A data-plane request to vault (by its host name)."""
    sep = "&" if "?" in path else "?"
    return srv.request(method, f"{path}{sep}{API}", body, host=f"{vault}.{srv.dns_suffix}",
                       token=token, headers=headers)


def make_vault(srv, name):
    r = arm(srv, "PUT", f"/vaults/{name}", {"location": "here", "properties": {
        "tenantId": str(uuid.uuid4()), "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": True}})
    assert r.status in (200, 201), r


def make_principal(srv, name):
    """A new principal: (id, token)."""
    r = admin(srv, "POST", "/kluis/v1/principals", {"name": name})
    assert r.status == 201, r
    return r.json["id"], r.json["token"]


def assign(srv, principal, role, vault):
    r = admin(srv, "POST", "/kluis/v1/roleAssignments",
              {"principal": principal, "role": role, "vault": vault})
    assert r.status == 201, r


# --- what a vault stores ---------------------------------------------------------------------

def _all_pages(srv, vault, path):
    items, url = [], f"{path}?{API}&maxresults=25"
    while url:
        r = srv.request("GET", url, host=f"{vault}.{srv.dns_suffix}")
        assert r.status == 200, (vault, path, r)
        items += r.json["value"]
        nxt = r.json.get("nextLink")
        url = None
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            url = f"{u.path}?{u.query}"
    return items


def snapshot(srv, vault):
    """Everything vault holds, read with the admin token: every secret version with its value,
    every key version with its public key, attributes and tags, and the deleted items."""
    state = {}
    for item in _all_pages(srv, vault, "/secrets"):
        name = item["id"].rstrip("/").split("/")[-1]
        versions = []
        for v in _all_pages(srv, vault, f"/secrets/{name}/versions"):
            ver = v["id"].rstrip("/").split("/")[-1]
            g = dp(srv, vault, "GET", f"/secrets/{name}/{ver}")
            assert g.status == 200, g
            versions.append(json.dumps(g.json, sort_keys=True))
        state[f"secret:{name}"] = sorted(versions)
    for item in _all_pages(srv, vault, "/keys"):
        name = item["kid"].rstrip("/").split("/")[-1]
        versions = []
        for v in _all_pages(srv, vault, f"/keys/{name}/versions"):
            ver = v["kid"].rstrip("/").split("/")[-1]
            g = dp(srv, vault, "GET", f"/keys/{name}/{ver}")
            assert g.status == 200, g
            versions.append(json.dumps(g.json, sort_keys=True))
        state[f"key:{name}"] = sorted(versions)
    state["deleted"] = sorted(json.dumps(i, sort_keys=True)
                              for p in ("/deletedsecrets", "/deletedkeys")
                              for i in _all_pages(srv, vault, p))
    return state


def start_server(**kwargs):
    return harness.start_server(**kwargs)
