"""Migration between two `vine agent` processes, driven by pywbem.

Each agent serves its own libvirt test-driver host (in its own process, so
libvirt cannot move a VM between them); both hosts keep their disk images
in one shared directory, as migration needs shared storage. Each agent
names the other with `--peer NAME=http://...` and logs in to it with
`--peer-password-file`, so a VM moves through the peer's CIM interface.
The client checks the move, starts it, follows the job to completion and
finds the VM on the destination agent and gone from the source, then sends
it back with MigrateVirtualSystemToSystem.
"""
import os
import socket
import subprocess
import tempfile
import time

import pytest
import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint64

from conftest import ADMIN_PW, add_user, vine_bin

VIRT = "root/virt"
JOB_WAIT = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conn(url):
    return pywbem.WBEMConnection(url, ("admin", ADMIN_PW), default_namespace=VIRT,
                                 no_verification=True, timeout=30)


def start_agent(state, name, port, peer_name, peer_port, host_args):
    add_user(state, "admin", "admin", ADMIN_PW)
    pw = os.path.join(state, "peer-password")
    with open(pw, "w") as f:
        f.write(ADMIN_PW + "\n")
    proc = subprocess.Popen(
        [vine_bin(), "agent", *host_args,
         "--http", f"127.0.0.1:{port}", "--https", "off", "--state-dir", state,
         "--host-name", name,
         "--peer", f"{peer_name}=http://127.0.0.1:{peer_port}",
         "--peer-user", "admin", "--peer-password-file", pw],
        stdout=subprocess.PIPE, stderr=None, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("wbem: http://"):
            return proc
    proc.kill()
    pytest.fail(f"vine agent {name} did not report its HTTP address")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vine agent did not stop within 15 s of SIGTERM")


@pytest.fixture(scope="module")
def agents():
    root = tempfile.mkdtemp(prefix="vine-migrate-")
    port_a, port_b = free_port(), free_port()
    state_a, state_b = os.path.join(root, "a"), os.path.join(root, "b")
    os.makedirs(state_a)
    os.makedirs(state_b)
    file_a = os.path.join(root, "agent-a.xml")
    a = start_agent(state_a, "agent-a", port_a, "agent-b", port_b, ["--test-host", file_a])
    procs = [a]
    try:
        # Host B is host A's twin on the same storage directory, under
        # its own name.
        with open(file_a) as f:
            text = f.read()
        assert "vine test host: agent-a" in text
        file_b = os.path.join(root, "agent-b.xml")
        with open(file_b, "w") as f:
            f.write(text.replace("vine test host: agent-a", "vine test host: agent-b"))
        b = start_agent(state_b, "agent-b", port_b, "agent-a", port_a,
                        ["--libvirt-uri", "test://" + file_b])
        procs.append(b)
        yield (f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}",
               os.path.join(root, "agent-a-images"))
    finally:
        for p in procs:
            stop(p)


def only(c, classname):
    names = c.EnumerateInstanceNames(classname)
    assert len(names) == 1, names
    return names[0]


def vm_path(name):
    return CIMInstanceName("KVM_ComputerSystem",
                           {"CreationClassName": "KVM_ComputerSystem", "Name": name},
                           namespace=VIRT)


def follow(c, job):
    """Polls the job until it has finished; returns the final instance."""
    deadline = time.time() + JOB_WAIT
    while time.time() < deadline:
        inst = c.GetInstance(job)
        if inst["JobState"] in (7, 8, 9, 10):
            return inst
        time.sleep(0.1)
    pytest.fail(f"{job} did not finish within {JOB_WAIT} s")


def test_vm_moves_between_two_agents(agents):
    url_a, url_b, pool = agents
    a, b = conn(url_a), conn(url_b)

    vssd = CIMInstance("KVM_VirtualSystemSettingData",
                       properties={"VirtualSystemIdentifier": "mover", "ElementName": "mover"})
    rasds = [
        CIMInstance("KVM_ProcResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(3), "VirtualQuantity": Uint64(2)}),
        CIMInstance("KVM_MemResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(4), "VirtualQuantity": Uint64(512),
                                "AllocationUnits": "byte*2^20"}),
        CIMInstance("KVM_DiskResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(17), "VirtualDevice": "vda",
                                "Address": os.path.join(pool, "mover.img")}),
        CIMInstance("KVM_NetResourceAllocationSettingData",
                    properties={"ResourceType": Uint16(10), "NetworkType": "network",
                                "PoolID": "NetworkPool/default"}),
    ]
    rv, out = a.InvokeMethod("DefineSystem", only(a, "KVM_VirtualSystemManagementService"),
                             SystemSettings=vssd, ResourceSettings=rasds)
    assert rv == 0
    cs = out["ResultingSystem"]
    rv, _ = a.InvokeMethod("RequestStateChange", cs, RequestedState=Uint16(2))
    assert rv == 0
    before = a.GetInstance(cs)
    mac = [r["Address"] for r in a.EnumerateInstances("KVM_NetResourceAllocationSettingData")
           if r["InstanceID"].startswith("mover/")]

    service = only(a, "KVM_VirtualSystemMigrationService")
    rv, out = a.InvokeMethod("CheckVirtualSystemIsMigratableToHost", service,
                             ComputerSystem=cs, DestinationHost="agent-b")
    assert rv == 0 and out["IsMigratable"] is True
    rv, out = a.InvokeMethod("MigrateVirtualSystemToHost", service,
                             ComputerSystem=cs, DestinationHost="agent-b")
    assert rv == 4096
    job = out["Job"]
    # The job says who runs it and what it moves.
    assert [o.classname for o in a.AssociatorNames(job, AssocClass="KVM_OwningJobElement")] \
        == ["KVM_VirtualSystemMigrationService"]
    assert [v.keybindings["Name"] for v in a.AssociatorNames(job, AssocClass="KVM_AffectedJobElement")] \
        == ["mover"]
    done = follow(a, job)
    assert done["JobState"] == 7, done["JobStatus"]
    assert done["PercentComplete"] == 100
    assert done["Name"].startswith("Offline migration of mover to http://")

    # Gone from A; running on B with its identity, disk and MAC.
    with pytest.raises(CIMError) as e:
        a.GetInstance(cs)
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    moved = b.GetInstance(vm_path("mover"))
    assert moved["EnabledState"] == 2
    assert moved["UUID"] == before["UUID"]
    disk = b.GetInstance(CIMInstanceName("KVM_DiskResourceAllocationSettingData",
                                         {"InstanceID": "mover/vda"}, namespace=VIRT))
    assert disk["Address"] == os.path.join(pool, "mover.img")
    assert [r["Address"] for r in b.EnumerateInstances("KVM_NetResourceAllocationSettingData")
            if r["InstanceID"].startswith("mover/")] == mac
    host_b = b.Associators(vm_path("mover"), AssocClass="KVM_HostedDependency")
    assert [h["Name"] for h in host_b] == ["agent-b"]

    # And back, naming the destination by its host system (DSP1081
    # ...ToSystem); the new system's path comes back at once.
    host_a = only(a, "KVM_HostSystem")
    back = only(b, "KVM_VirtualSystemMigrationService")
    rv, out = b.InvokeMethod("CheckVirtualSystemIsMigratableToSystem", back,
                             ComputerSystem=vm_path("mover"), DestinationSystem=host_a)
    assert rv == 0 and out["IsMigratable"] is True
    rv, out = b.InvokeMethod("MigrateVirtualSystemToSystem", back,
                             ComputerSystem=vm_path("mover"), DestinationSystem=host_a)
    assert rv == 4096
    assert out["NewComputerSystem"].keybindings["Name"] == "mover"
    assert follow(b, out["Job"])["JobState"] == 7
    assert a.GetInstance(vm_path("mover"))["EnabledState"] == 2
    with pytest.raises(CIMError) as e:
        b.GetInstance(vm_path("mover"))
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND

    # A destination the agent does not know: a clear error, nothing moves.
    with pytest.raises(CIMError) as e:
        a.InvokeMethod("MigrateVirtualSystemToHost", service,
                       ComputerSystem=vm_path("mover"), DestinationHost="agent-c")
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "--peer agent-c=" in e.value.status_description
    rv, _ = a.InvokeMethod("DestroySystem", only(a, "KVM_VirtualSystemManagementService"),
                           AffectedSystem=vm_path("mover"))
    assert rv == 0
