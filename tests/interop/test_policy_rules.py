"""Workload policies as CIM policy rules (root/vine), read by pywbem.

`vine up` runs as its own process (two test-driver hosts). A policy is
applied, then applied again, over the REST API; pywbem then enumerates
VINE_PolicyRule (one instance, its active version, thresholds and scope as
the file says), gets it by its four keys, follows VINE_PolicyRuleVersionOf
to both stored versions and VINE_PolicyRuleAppliesToElement to the data
centre, and finds no rule for an unknown name (CIM_ERR_NOT_FOUND).
pywbemcli lists the rule too.
"""
import os
import subprocess
import tempfile
import time

import pytest
import pywbem
import requests
import urllib3
from pywbem import CIMError

from conftest import vine_bin

VINE = "root/vine"
VENV_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        ".venv", "bin")

POLICY = """
name = "interop"
description = "a policy read over CIM"

[scope]
kind = "datacenter"

[thresholds.cpu]
upper = {upper}
lower = 0.1

[migration]
max_concurrent = 3
max_per_hour = 12
"""


class Up:
    def __init__(self, proc, wbem, api, password):
        self.proc = proc
        self.wbem = wbem
        self.api = api
        self.password = password

    def conn(self):
        return pywbem.WBEMConnection(self.wbem, ("admin", self.password), default_namespace=VINE,
                                     no_verification=True, timeout=60)

    def apply(self, text):
        # The manager's self-signed certificate: this test checks CIM, not TLS.
        r = requests.post(self.api + "/policies", json={"text": text, "origin": "interop.toml"},
                          auth=("admin", self.password), verify=False, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture(scope="module")
def up():
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    state = tempfile.mkdtemp(prefix="vine-up-policy-")
    proc = subprocess.Popen(
        [vine_bin(), "up", "--hosts", "2", "--vms-per-host", "1", "--http", "127.0.0.1:0",
         "--https", "off", "--api", "127.0.0.1:0", "--haproxy", "off", "--policy-interval", "0",
         "--state-dir", state],
        stdout=subprocess.PIPE, stderr=None, text=True, env={**os.environ, "VINE_LOG": "warn"})
    wbem, api, password = None, None, None
    deadline = time.time() + 90
    while None in (wbem, api, password) and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line.startswith("wbem: http://"):
            wbem = line.split(" ", 1)[1]
        elif line.startswith("api: "):
            api = line.split(" ", 1)[1]
        elif line.startswith("user: admin  password: "):
            password = line.rsplit(" ", 1)[1]
    if None in (wbem, api, password):
        proc.kill()
        pytest.fail("vine up did not announce its WBEM URL, API URL and password")
    yield Up(proc, wbem, api, password)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vine up did not stop within 30 s of SIGTERM")


def test_a_policy_applied_over_rest_is_a_cim_policy_rule(up):
    conn = up.conn()
    assert conn.EnumerateInstances("VINE_PolicyRule") == []
    assert up.apply(POLICY.format(upper=0.9))["version"] == 1
    assert up.apply(POLICY.format(upper=0.75))["version"] == 2

    rules = conn.EnumerateInstances("VINE_PolicyRule")
    assert len(rules) == 1
    rule = rules[0]
    assert rule["PolicyRuleName"] == "interop"
    assert rule["CreationClassName"] == "VINE_PolicyRule"
    assert rule["SystemCreationClassName"] == "VINE_DataCenter"
    assert rule["Enabled"] == 1
    assert rule["Version"] == 2 and rule["Versions"] == 2
    assert rule["CPUUpperThreshold"] == pytest.approx(0.75)
    assert rule["MaxConcurrentMigrations"] == 3
    assert rule["MaxMigrationsPerHour"] == 12
    assert rule["ScopeKind"] == "datacenter"
    assert "upper = 0.75" in rule["PolicyText"]
    assert rule["Description"] == "a policy read over CIM"

    # The class derives from the DMTF one.
    cls = conn.GetClass("VINE_PolicyRule", LocalOnly=False)
    assert cls.superclass == "CIM_PolicyRule"
    assert {"PolicyRuleName", "SystemName", "Enabled"} <= set(cls.properties)

    # GetInstance by the four keys; the path came with the instance.
    got = conn.GetInstance(rule.path)
    assert got["Version"] == 2

    # Both versions, the newest current; the first with its own text.
    versions = conn.Associators(rule.path, AssocClass="VINE_PolicyRuleVersionOf")
    assert sorted(v["Version"] for v in versions) == [1, 2]
    v1 = [v for v in versions if v["Version"] == 1][0]
    assert "upper = 0.9" in v1["PolicyText"]
    links = conn.References(rule.path, ResultClass="VINE_PolicyRuleVersionOf")
    current = [l["SettingData"]["InstanceID"] for l in links if l["IsCurrent"] == 1]
    assert current == ["VINE:interop/2"]

    # A data-centre policy applies to the data centre, and back.
    scoped = conn.AssociatorNames(rule.path, AssocClass="VINE_PolicyRuleAppliesToElement")
    assert [p.classname for p in scoped] == ["VINE_DataCenter"]
    back = conn.AssociatorNames(scoped[0], AssocClass="VINE_PolicyRuleAppliesToElement")
    assert [p["PolicyRuleName"] for p in back] == ["interop"]

    # An unknown rule is not found.
    missing = rule.path.copy()
    missing["PolicyRuleName"] = "nope"
    with pytest.raises(CIMError) as e:
        conn.GetInstance(missing)
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND


def test_pywbemcli_lists_the_rule(up):
    if not up.conn().EnumerateInstanceNames("VINE_PolicyRule"):
        up.apply(POLICY.format(upper=0.8))
    cmd = [os.path.join(VENV_BIN, "pywbemcli"), "--server", up.wbem, "--user", "admin",
           "--password", up.password, "--default-namespace", VINE, "-o", "table",
           "instance", "enumerate", "VINE_PolicyRule", "--pl", "PolicyRuleName,Version"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYWBEMCLI_TERMWIDTH": "200"})
    assert r.returncode == 0, r.stderr + r.stdout
    assert "interop" in r.stdout


def test_pywbem_applies_and_rolls_back_through_the_rule_methods(up):
    conn = up.conn()
    if not conn.EnumerateInstanceNames("VINE_PolicyRule"):
        up.apply(POLICY.format(upper=0.8))
    rule = conn.EnumerateInstanceNames("VINE_PolicyRule")[0]
    before = conn.GetInstance(rule)["Version"]

    # A file with problems: refused with where they are, nothing stored.
    bad = POLICY.format(upper=0.05)  # upper below lower
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("ApplyVersion", rule, PolicyText=bad)
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "PolicyText:" in e.value.status_description
    assert conn.GetInstance(rule)["Version"] == before

    rc, out = conn.InvokeMethod("ApplyVersion", rule, PolicyText=POLICY.format(upper=0.66))
    assert rc == 0
    assert out["Version"]["InstanceID"] == f"VINE:interop/{before + 1}"
    assert conn.GetInstance(rule)["CPUUpperThreshold"] == pytest.approx(0.66)

    rc, out = conn.InvokeMethod("Rollback", rule, Version=pywbem.Uint32(1))
    assert rc == 0
    now = conn.GetInstance(rule)
    assert now["Version"] == before + 2
    assert now["Note"] == "rollback to version 1"
    assert now["AppliedBy"] == "admin"
