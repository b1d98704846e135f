"""DSP1027 power state management of a `vine agent`'s host, driven by pywbem:
the manager's side of powering an idle host off, as a third-party client
would do it.

Two real agents on libvirt test-driver hosts (`--test-host`): one without
`--power-off-command` (refuses with CIM_ERR_NOT_SUPPORTED), one whose
command writes `$VINE_HOST $VINE_POWER_STATE` to a file (refuses while a
guest runs, then answers 0 and runs the command about a second later).
"""
import os
import subprocess
import tempfile
import time

import pytest
import pywbem
from pywbem import CIMError, CIMInstance, Uint16, Uint64

from conftest import ADMIN_PW, add_user, vine_bin

VIRT = "root/virt"
INTEROP = "root/interop"


class Agent:
    def __init__(self, proc, url, pool, name):
        self.proc = proc
        self.url = url
        self.pool = pool
        self.name = name

    def conn(self, namespace=VIRT):
        return pywbem.WBEMConnection(
            self.url, ("admin", ADMIN_PW), default_namespace=namespace,
            no_verification=True, timeout=30)

    def service(self):
        names = self.conn().EnumerateInstanceNames("KVM_PowerManagementService")
        assert len(names) == 1
        return names[0]

    def host(self):
        names = self.conn().EnumerateInstanceNames("KVM_HostSystem")
        assert len(names) == 1
        return names[0]

    def power(self, state, **extra):
        return self.conn().InvokeMethod(
            "RequestPowerStateChange", self.service(),
            PowerState=Uint16(state), ManagedElement=self.host(), **extra)


def start_agent(name, extra):
    state = tempfile.mkdtemp(prefix="vine-power-")
    add_user(state, "admin", "admin", ADMIN_PW)
    host_file = os.path.join(state, f"{name}.xml")
    proc = subprocess.Popen(
        [vine_bin(), "agent", "--test-host", host_file,
         "--http", "127.0.0.1:0", "--https", "off", "--state-dir", state,
         "--host-name", name, *extra],
        stdout=subprocess.PIPE, stderr=None, text=True)
    url = None
    deadline = time.time() + 60
    while url is None and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("wbem: http://"):
            url = line.split(" ", 1)[1].strip()
    if url is None:
        proc.kill()
        pytest.fail("vine agent did not report its HTTP address")
    return Agent(proc, url, os.path.join(state, f"{name}-images"), name)


def stop_agent(agent):
    agent.proc.terminate()
    try:
        agent.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        agent.proc.kill()
        pytest.fail("vine agent did not stop within 15 s of SIGTERM")


@pytest.fixture(scope="module")
def plain_agent():
    a = start_agent("power-plain", [])
    yield a
    stop_agent(a)


@pytest.fixture(scope="module")
def out_file():
    d = tempfile.mkdtemp(prefix="vine-power-out-")
    return os.path.join(d, "powered-off")


@pytest.fixture(scope="module")
def power_agent(out_file):
    cmd = f"echo \"$VINE_HOST $VINE_POWER_STATE\" > '{out_file}'"
    a = start_agent("power-cmd", ["--power-off-command", cmd])
    yield a
    stop_agent(a)


def define_running(agent, name):
    conn = agent.conn()
    vsms = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")[0]
    vssd = CIMInstance("KVM_VirtualSystemSettingData",
                       properties={"VirtualSystemIdentifier": name, "ElementName": name})
    rasds = [
        CIMInstance("KVM_ProcResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(3), "VirtualQuantity": Uint64(1)}),
        CIMInstance("KVM_MemResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(4), "VirtualQuantity": Uint64(256),
                                "AllocationUnits": "byte*2^20"}),
    ]
    rv, out = conn.InvokeMethod("DefineSystem", vsms, SystemSettings=vssd, ResourceSettings=rasds)
    assert rv == 0
    cs = out["ResultingSystem"]
    rv, _ = conn.InvokeMethod("RequestStateChange", cs, RequestedState=Uint16(2))
    assert rv == 0
    return cs


def test_without_a_command_power_off_is_not_supported(plain_agent):
    conn = plain_agent.conn()
    svc = plain_agent.service()
    assert svc.keybindings["Name"] == "PowerManagementService"
    assert svc.keybindings["SystemName"] == "power-plain"
    # Hosted by the host; the association says what may be asked: nothing.
    hosted = conn.AssociatorNames(plain_agent.host(), AssocClass="KVM_HostedService",
                                  ResultClass="KVM_PowerManagementService")
    assert [h.keybindings["Name"] for h in hosted] == ["PowerManagementService"]
    [apms] = conn.References(svc, ResultClass="KVM_AssociatedPowerManagementService")
    assert apms["PowerState"] == 2
    assert apms["RequestedPowerState"] == 0
    assert not apms["AvailableRequestedPowerStates"]

    with pytest.raises(CIMError) as e:
        plain_agent.power(12)
    assert e.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    assert "--power-off-command" in e.value.status_description
    # On is already so.
    rv, _ = plain_agent.power(2)
    assert rv == 0
    assert plain_agent.proc.poll() is None


def test_power_off_waits_for_the_guests_then_runs_the_command(power_agent, out_file):
    conn = power_agent.conn()
    svc = power_agent.service()
    host = power_agent.host()

    # DSP1027 is registered and its central instance is the service.
    interop = power_agent.conn(INTEROP)
    profiles = {p["RegisteredName"]: p for p in interop.EnumerateInstances("CIM_RegisteredProfile")}
    assert "Power State Management" in profiles, sorted(profiles)
    central = interop.AssociatorNames(profiles["Power State Management"].path,
                                      AssocClass="CIM_ElementConformsToProfile")
    assert [c.classname for c in central] == ["KVM_PowerManagementService"]

    # Capabilities and the association from both ends.
    [caps] = conn.Associators(svc, AssocClass="KVM_ElementCapabilities")
    assert list(caps["PowerStatesSupported"]) == [8, 12]
    assert list(caps["PowerChangeCapabilities"]) == [3, 8]
    assert [p.keybindings["Name"] for p in conn.AssociatorNames(
        svc, AssocClass="KVM_AssociatedPowerManagementService")] == ["power-cmd"]
    assert [p.classname for p in conn.AssociatorNames(
        host, AssocClass="CIM_AssociatedPowerManagementService")] == ["KVM_PowerManagementService"]
    [apms] = conn.References(host, ResultClass="KVM_AssociatedPowerManagementService")
    assert list(apms["AvailableRequestedPowerStates"]) == [8, 12]

    # A state the service does not offer.
    with pytest.raises(CIMError) as e:
        power_agent.power(3)
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "PowerState 3" in e.value.status_description
    # A scheduled change.
    with pytest.raises(CIMError) as e:
        power_agent.power(12, Time=pywbem.CIMDateTime.now())
    assert e.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED

    # A guest runs: refused, named, nothing run.
    cs = define_running(power_agent, "busy")
    with pytest.raises(CIMError) as e:
        power_agent.power(12)
    assert e.value.status_code == pywbem.CIM_ERR_FAILED
    assert "(busy)" in e.value.status_description
    time.sleep(1.5)
    assert not os.path.exists(out_file)

    # Stopped: accepted; the command runs about a second after the answer.
    rv, _ = conn.InvokeMethod("RequestStateChange", cs, RequestedState=Uint16(3))
    assert rv == 0
    asked = time.time()
    rv, _ = power_agent.power(12)
    assert rv == 0
    [apms] = conn.References(host, ResultClass="KVM_AssociatedPowerManagementService")
    assert apms["RequestedPowerState"] == 12
    with pytest.raises(CIMError) as e:
        power_agent.power(8)
    assert e.value.status_code == pywbem.CIM_ERR_FAILED
    assert "already under way" in e.value.status_description

    deadline = time.time() + 10
    said = None
    while time.time() < deadline:
        if os.path.exists(out_file):
            with open(out_file) as f:
                said = f.read()
            if said.endswith("\n"):
                break
        time.sleep(0.05)
    assert said == "power-cmd 12\n"
    assert time.time() - asked >= 0.9
    assert power_agent.proc.poll() is None
