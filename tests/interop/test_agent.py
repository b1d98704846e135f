"""`vine agent` driven by pywbem, as a third-party client would: the life of
a VM on a libvirt test-driver host through CIM only (define, start, pause,
resume, modify, add and remove a disk, destroy), with the Created, Modified
and Deleted indications received by a pywbem listener.

The agent runs as its own process on a test-host file the agent creates
(`--test-host`), on free loopback ports, with a fresh state directory.
"""
import os
import queue
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import pywbem
from pywbem import CIMError, CIMInstance, Uint16, Uint32, Uint64

from conftest import ADMIN_PW, add_user, vine_bin

VIRT = "root/virt"
INTEROP = "root/interop"
WAIT = 15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    def __init__(self, proc, url, pool):
        self.proc = proc
        self.url = url
        self.pool = pool

    def conn(self, namespace=VIRT):
        return pywbem.WBEMConnection(
            self.url, ("admin", ADMIN_PW), default_namespace=namespace,
            no_verification=True, timeout=30)


@pytest.fixture(scope="module")
def agent():
    state = tempfile.mkdtemp(prefix="vine-agent-")
    add_user(state, "admin", "admin", ADMIN_PW)
    host_file = os.path.join(state, "host-a.xml")
    proc = subprocess.Popen(
        [vine_bin(), "agent", "--test-host", host_file,
         "--http", "127.0.0.1:0", "--https", "off", "--state-dir", state,
         "--host-name", "agent-test", "--indication-retry-interval", "1"],
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
    yield Agent(proc, url, os.path.join(state, "host-a-images"))
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vine agent did not stop within 15 s of SIGTERM")
    # The test host was written back on shutdown.
    assert os.path.getsize(host_file) > 0


class Received:
    """A pywbem listener that queues every indication it receives."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.queue = queue.Queue()
        self.listener = pywbem.WBEMListener("127.0.0.1", http_port=self.port)
        self.listener.add_callback(lambda ind, host: self.queue.put(ind))
        self.listener.start()

    def next(self, classname, vm):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            try:
                ind = self.queue.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                continue
            if ind.classname.lower() == classname.lower() and ind["SourceInstance"]["Name"] == vm:
                return ind
        pytest.fail(f"no {classname} about {vm} within {WAIT} s")


def vsms(conn):
    names = conn.EnumerateInstanceNames("KVM_VirtualSystemManagementService")
    assert len(names) == 1
    return names[0]


def rasd(kind, **props):
    return CIMInstance(f"KVM_{kind}ResourceAllocationSettingData", properties=props)


def define(conn, agent, name):
    vssd = CIMInstance("KVM_VirtualSystemSettingData",
                       properties={"VirtualSystemIdentifier": name, "ElementName": name})
    rasds = [
        rasd("Proc", ResourceType=Uint16(3), VirtualQuantity=Uint64(2), Limit=Uint64(4)),
        rasd("Mem", ResourceType=Uint16(4), VirtualQuantity=Uint64(512), Limit=Uint64(1024),
             AllocationUnits="byte*2^20"),
        rasd("Disk", ResourceType=Uint16(17), VirtualDevice="vda",
             Address=os.path.join(agent.pool, f"{name}.img")),
        rasd("Net", ResourceType=Uint16(10), NetworkType="network", PoolID="NetworkPool/default"),
    ]
    return conn.InvokeMethod("DefineSystem", vsms(conn),
                             SystemSettings=vssd, ResourceSettings=rasds)


def enabled_state(conn, path):
    return conn.GetInstance(path)["EnabledState"]


def test_vm_life_with_indications(agent):
    conn = agent.conn()
    listener = Received()
    mgr = pywbem.WBEMSubscriptionManager(f"agent{uuid.uuid4().hex[:8]}")
    sid = mgr.add_server(pywbem.WBEMServer(agent.conn(INTEROP)))
    try:
        dest = mgr.add_destination(sid, listener.url, destination_id="vms")
        filt = mgr.add_filter(sid, VIRT, "SELECT * FROM CIM_InstIndication "
                              "WHERE SourceInstance ISA KVM_ComputerSystem", filter_id="vms")
        mgr.add_subscriptions(sid, filt.path, dest.path)

        # Define: returns the new system; Created arrives.
        rv, out = define(conn, agent, "web")
        assert rv == 0
        cs = out["ResultingSystem"]
        assert cs.classname == "KVM_ComputerSystem" and cs.keybindings["Name"] == "web"
        created = listener.next("KVM_ComputerSystemCreatedIndication", "web")
        assert created["SourceInstance"]["EnabledState"] == 3
        assert enabled_state(conn, cs) == 3

        names = [i["Name"] for i in conn.EnumerateInstances("KVM_ComputerSystem")]
        assert "web" in names
        devices = conn.AssociatorNames(cs, AssocClass="KVM_SystemDevice")
        assert sorted(d.classname for d in devices) == sorted(
            ["KVM_Processor", "KVM_Processor", "KVM_Memory", "KVM_LogicalDisk", "KVM_NetworkPort"])
        vssd = conn.Associators(cs, AssocClass="KVM_SettingsDefineState",
                                ResultClass="KVM_VirtualSystemSettingData")
        assert [v["InstanceID"] for v in vssd] == ["KVM:web"]
        parts = conn.AssociatorNames(vssd[0].path, AssocClass="KVM_VirtualSystemSettingDataComponent")
        assert len(parts) == 4
        host = conn.Associators(cs, AssocClass="KVM_HostedDependency")
        assert [h["Name"] for h in host] == ["agent-test"]

        # Start, pause, resume; each change is a Modified indication.
        for requested, shown in [(2, 2), (9, 9), (2, 2)]:
            rv, _ = conn.InvokeMethod("RequestStateChange", cs, RequestedState=Uint16(requested))
            assert rv == 0
            assert enabled_state(conn, cs) == shown
            mod = listener.next("KVM_ComputerSystemModifiedIndication", "web")
            assert mod["SourceInstance"]["EnabledState"] == shown
            assert mod["PreviousInstance"] is not None

        # Modify memory (a partial RASD) and vCPUs.
        rv, _ = conn.InvokeMethod(
            "ModifyResourceSettings", vsms(conn),
            ResourceSettings=[
                rasd("Mem", InstanceID="web/mem", VirtualQuantity=Uint64(768), AllocationUnits="byte*2^20"),
                rasd("Proc", InstanceID="web/proc", VirtualQuantity=Uint64(3)),
            ])
        assert rv == 0
        mem = conn.GetInstance(pywbem.CIMInstanceName(
            "KVM_MemResourceAllocationSettingData", {"InstanceID": "web/mem"}))
        assert mem["VirtualQuantity"] == 768 * 1024
        procs = conn.AssociatorNames(cs, AssocClass="KVM_SystemDevice", ResultClass="KVM_Processor")
        assert len(procs) == 3

        # Weight (CPU shares, DSP1044) goes to libvirt's scheduler; the
        # test driver cannot keep it, and says so.
        with pytest.raises(CIMError) as e:
            conn.InvokeMethod("ModifyResourceSettings", vsms(conn),
                              ResourceSettings=[rasd("Proc", InstanceID="web/proc", Weight=Uint32(2048))])
        assert e.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
        assert "not supported by the test driver: CPU shares" in e.value.status_description
        with pytest.raises(CIMError) as e:
            conn.InvokeMethod("ModifyResourceSettings", vsms(conn),
                              ResourceSettings=[rasd("Proc", InstanceID="web/proc", Weight=Uint32(0))])
        assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        assert len(conn.AssociatorNames(cs, AssocClass="KVM_SystemDevice", ResultClass="KVM_Processor")) == 3

        # Add a disk (sent as a CIM-XML string this time), then remove it.
        disk = rasd("Disk", VirtualDevice="vdb", Address=os.path.join(agent.pool, "web-data.img"))
        rv, out = conn.InvokeMethod("AddResourceSettings", vsms(conn),
                                    AffectedConfiguration=vssd[0].path,
                                    ResourceSettings=[disk.tocimxmlstr()])
        assert rv == 0
        added = out["ResultingResourceSettings"]
        assert [a.keybindings["InstanceID"] for a in added] == ["web/vdb"]
        assert conn.GetInstance(added[0])["Address"].endswith("web-data.img")
        rv, _ = conn.InvokeMethod("RemoveResourceSettings", vsms(conn), ResourceSettings=added)
        assert rv == 0
        with pytest.raises(CIMError) as e:
            conn.GetInstance(added[0])
        assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND

        # Destroy: gone, Deleted arrives.
        rv, _ = conn.InvokeMethod("DestroySystem", vsms(conn), AffectedSystem=cs)
        assert rv == 0
        listener.next("KVM_ComputerSystemDeletedIndication", "web")
        with pytest.raises(CIMError) as e:
            conn.GetInstance(cs)
        assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    finally:
        mgr.remove_all_servers()
        listener.listener.stop()


def test_bad_input_and_busy_answers(agent):
    conn = agent.conn()
    # A RASD asking for more vCPUs than the host allows.
    vssd = CIMInstance("KVM_VirtualSystemSettingData", properties={"VirtualSystemIdentifier": "big"})
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("DefineSystem", vsms(conn), SystemSettings=vssd, ResourceSettings=[
            rasd("Proc", VirtualQuantity=Uint64(4096)),
            rasd("Mem", VirtualQuantity=Uint64(512), AllocationUnits="byte*2^20")])
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "vCPUs" in e.value.status_description
    # A disk outside the storage pools.
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("DefineSystem", vsms(conn), SystemSettings=vssd, ResourceSettings=[
            rasd("Proc", VirtualQuantity=Uint64(1)),
            rasd("Mem", VirtualQuantity=Uint64(512), AllocationUnits="byte*2^20"),
            rasd("Disk", VirtualDevice="vda", Address="/etc/passwd")])
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "storage pools" in e.value.status_description
    # An unknown VM.
    ghost = pywbem.CIMInstanceName("KVM_ComputerSystem",
                                   {"CreationClassName": "KVM_ComputerSystem", "Name": "ghost"})
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("RequestStateChange", ghost, RequestedState=Uint16(2))
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    # Pausing a stopped VM is an invalid transition (4097).
    rv, out = define(conn, agent, "idle")
    assert rv == 0
    rv, _ = conn.InvokeMethod("RequestStateChange", out["ResultingSystem"], RequestedState=Uint16(9))
    assert rv == 4097
    # The agent is still up.
    assert conn.EnumerateInstances("KVM_HostSystem")[0]["Name"] == "agent-test"
    conn.InvokeMethod("DestroySystem", vsms(conn), AffectedSystem=out["ResultingSystem"])


def test_host_resources_dsp1052(agent):
    """The host's processors, memory and operating system, found from the
    host system and from the Computer System profile in root/interop."""
    conn = agent.conn()
    host = conn.EnumerateInstanceNames("KVM_HostSystem")[0]
    devices = conn.Associators(host, AssocClass="KVM_SystemDevice")
    classes = sorted(d.classname for d in devices)
    assert classes == ["KVM_HostMemory", "KVM_HostProcessor"], classes
    cpu = next(d for d in devices if d.classname == "KVM_HostProcessor")
    assert cpu["NumberOfEnabledCores"] == 8
    assert cpu["SystemName"] == "agent-test"
    mem = next(d for d in devices if d.classname == "KVM_HostMemory")
    assert mem["NumberOfBlocks"] * mem["BlockSize"] == 16 * 1024 ** 3

    running = conn.Associators(host, AssocClass="KVM_RunningOS")
    assert [o.classname for o in running] == ["KVM_OperatingSystem"]
    with open("/proc/sys/kernel/osrelease") as f:
        assert running[0]["Version"] == f.read().strip()
    installed = conn.References(host, ResultClass="KVM_InstalledOS")
    assert installed[0]["PrimaryOS"] is True
    assert conn.AssociatorNames(running[0].path, AssocClass="KVM_RunningOS")[0].keybindings["Name"] \
        == "agent-test"

    # From the profile: DSP1052 conforms to the host, its CPU component
    # profile to the processors.
    interop = agent.conn(INTEROP)
    profiles = {p["RegisteredName"]: p for p in interop.EnumerateInstances("CIM_RegisteredProfile")}
    for name in ("Computer System", "CPU", "System Memory"):
        assert name in profiles, sorted(profiles)
    central = interop.AssociatorNames(profiles["CPU"].path, AssocClass="CIM_ElementConformsToProfile")
    assert [c.classname for c in central] == ["KVM_HostProcessor"]
    hosts = interop.AssociatorNames(profiles["Computer System"].path,
                                    AssocClass="CIM_ElementConformsToProfile")
    assert [h.keybindings["Name"] for h in hosts] == ["agent-test"]
