"""Bad input at the HTTP level gets the DSP0200 answer and the server stays up."""
import base64
import http.client
import socket

from conftest import ADMIN_PW

GOOD = (
    '<?xml version="1.0" encoding="utf-8" ?>'
    '<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
    '<IMETHODCALL NAME="EnumerateInstanceNames"><LOCALNAMESPACEPATH><NAMESPACE NAME="test"/>'
    '<NAMESPACE NAME="sample"/></LOCALNAMESPACEPATH>'
    '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VINE_SampleItem"/></IPARAMVALUE>'
    '</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>'
)


def post(server, body, headers=None, auth=("admin", ADMIN_PW)):
    host, port = server.http_hostport.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    h = {
        "Content-Type": 'application/xml; charset="utf-8"',
        "CIMOperation": "MethodCall",
        "CIMMethod": "EnumerateInstanceNames",
        "CIMObject": "test/sample",
    }
    if auth:
        h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    data = body.encode() if isinstance(body, str) else body
    c.request("POST", "/cimom", body=data, headers=h)
    r = c.getresponse()
    payload = r.read()
    c.close()
    return r.status, r.getheader("CIMError"), payload


def test_good_request_works(server):
    status, err, body = post(server, GOOD)
    assert status == 200 and err is None
    assert b"item-0" in body


def test_malformed_xml_is_not_well_formed(server):
    status, err, _ = post(server, GOOD[:-20])
    assert (status, err) == (400, "request-not-well-formed")


def test_valid_xml_that_is_not_cimxml_is_not_valid(server):
    status, err, _ = post(server, '<?xml version="1.0"?><html><body/></html>')
    assert (status, err) == (400, "request-not-valid")


def test_missing_cimoperation_header(server):
    status, err, _ = post(server, GOOD, {"CIMOperation": None})
    assert (status, err) == (400, "unsupported-operation")


def test_header_mismatch(server):
    status, err, _ = post(server, GOOD, {"CIMMethod": "EnumerateInstances"})
    assert (status, err) == (400, "header-mismatch")
    status, err, _ = post(server, GOOD, {"CIMObject": "root/interop"})
    assert (status, err) == (400, "header-mismatch")


def test_unsupported_protocol_version(server):
    status, err, _ = post(server, GOOD, {"CIMProtocolVersion": "2.0"})
    assert (status, err) == (501, "unsupported-protocol-version")


def test_oversized_body_is_refused_before_it_is_read(server):
    # Announce 2 MiB against the 1 MiB limit; the server answers 413 from
    # the headers alone, without waiting for the body.
    host, port = server.http_hostport.rsplit(":", 1)
    auth = base64.b64encode(f"admin:{ADMIN_PW}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((
            "POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
            "CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\nCIMObject: test/sample\r\n"
            f"Authorization: Basic {auth}\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n").encode())
        s.sendall(b"<" * 4096)
        head = s.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head


def test_no_credentials_gets_a_challenge(server):
    host, port = server.http_hostport.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/cimom", body=GOOD, headers={"CIMOperation": "MethodCall", "CIMMethod": "EnumerateInstanceNames",
                                                    "CIMObject": "test/sample", "Content-Type": "application/xml"})
    r = c.getresponse()
    r.read()
    assert r.status == 401
    assert r.getheader("WWW-Authenticate", "").startswith("Basic")


def test_entity_expansion_is_refused(server):
    bomb = ('<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            '<CIM CIMVERSION="2.0" DTDVERSION="2.0">&b;</CIM>')
    status, err, _ = post(server, bomb)
    assert status == 400 and err in ("request-not-valid", "request-not-well-formed")


def test_server_survives_all_of_it(server):
    assert server.alive()
    status, _, _ = post(server, GOOD)
    assert status == 200
