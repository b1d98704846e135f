"""The manager's CIM model (root/vine) through third-party clients.

`vine up` runs as its own process (two test-driver hosts, two VMs each, the
manager's WBEM server on a free loopback port). pywbemcli lists the VINE_
classes, instances and profiles; pywbem follows a host's VMs to their agent
and creates, follows and deletes a virtual server with the
VINE_VirtualServerService methods and the VINE_ConcreteJob they return.
"""
import os
import subprocess
import tempfile
import time

import pytest
import pywbem
from pywbem import CIMError, Uint32, Uint64

from conftest import vine_bin

VINE = "root/vine"
VIRT = "root/virt"
INTEROP = "root/interop"
VENV_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        ".venv", "bin")
JOB_WAIT = 90


class Up:
    def __init__(self, proc, wbem, password, agents):
        self.proc = proc
        self.wbem = wbem
        self.password = password
        self.agents = agents

    def conn(self, url=None, namespace=VINE):
        return pywbem.WBEMConnection(url or self.wbem, ("admin", self.password),
                                     default_namespace=namespace, no_verification=True, timeout=60)

    def pywbemcli(self, *args, ns=VINE, ok=True):
        cmd = [os.path.join(VENV_BIN, "pywbemcli"), "--server", self.wbem, "--user", "admin",
               "--password", self.password, "--default-namespace", ns, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYWBEMCLI_TERMWIDTH": "200"})
        if ok:
            assert r.returncode == 0, f"{' '.join(args)}: {r.stderr}{r.stdout}"
        return r


@pytest.fixture(scope="module")
def up():
    state = tempfile.mkdtemp(prefix="vine-up-model-")
    proc = subprocess.Popen(
        [vine_bin(), "up", "--hosts", "2", "--vms-per-host", "2", "--http", "127.0.0.1:0",
         "--https", "off", "--api", "127.0.0.1:0", "--state-dir", state],
        stdout=subprocess.PIPE, stderr=None, text=True, env={**os.environ, "VINE_LOG": "warn"})
    wbem, password, agents = None, None, {}
    deadline = time.time() + 90
    while len(agents) < 2 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line.startswith("wbem: http://"):
            wbem = line.split(" ", 1)[1]
        elif line.startswith("user: admin  password: "):
            password = line.rsplit(" ", 1)[1]
        elif line.startswith("agent "):
            name, url = line[len("agent "):].split(": ", 1)
            agents[name] = url
    if wbem is None or password is None or len(agents) < 2:
        proc.kill()
        pytest.fail("vine up did not announce its WBEM URL, password and two agents")
    yield Up(proc, wbem, password, agents)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vine up did not stop within 30 s of SIGTERM")


def test_pywbemcli_sees_the_data_centre(up):
    classes = up.pywbemcli("class", "enumerate", "--names-only", "--deep-inheritance").stdout
    for c in ["VINE_DataCenter", "VINE_Host", "VINE_VirtualServer", "VINE_ResourcePool",
              "VINE_ConcreteJob", "VINE_VirtualServerService", "VINE_VirtualNode",
              "VINE_HostedVirtualNode"]:
        assert c in classes
    assert "uint32 CreateVirtualServer" in up.pywbemcli("class", "get", "VINE_VirtualServerService").stdout
    hosts = up.pywbemcli("instance", "enumerate", "VINE_Host", "--names-only").stdout
    assert 'Name="host-1"' in hosts and 'Name="host-2"' in hosts
    pools = up.pywbemcli("instance", "enumerate", "VINE_ResourcePool", "--pl", "InstanceID").stdout
    assert "datacenter/Processor" in pools and "host/host-2/Memory" in pools
    profiles = up.pywbemcli("profile", "list", ns=INTEROP).stdout
    for p in ["Data Center", "Virtual Server", "Job Control"]:
        assert p in profiles
    # A bad call is refused with the CIM error that says what to fix.
    svc = up.conn().EnumerateInstanceNames("VINE_VirtualServerService")[0].copy()
    svc.host, svc.namespace = None, None
    r = up.pywbemcli("instance", "invokemethod", str(svc), "CreateVirtualServer",
                     "-p", "Name=bad", "-p", "Nodes=0", "-p", "VCPUs=1", "-p", "MemoryMiB=64", ok=False)
    assert r.returncode != 0
    assert "CIM_ERR_INVALID_PARAMETER" in r.stdout + r.stderr


def test_host_vms_are_references_to_their_agent(up):
    conn = up.conn()
    dc = conn.EnumerateInstances("VINE_DataCenter")
    assert len(dc) == 1 and dc[0]["Hosts"] == 2 and dc[0]["VirtualMachines"] == 4
    host = pywbem.CIMInstanceName("VINE_Host", {"CreationClassName": "VINE_Host", "Name": "host-1"},
                                  namespace=VINE)
    vms = conn.AssociatorNames(host, AssocClass="VINE_HostedVirtualNode")
    assert len(vms) == 2
    agent_url = up.agents["host-1"]
    for vm in vms:
        assert vm.namespace == VIRT and vm.host == agent_url.split("//", 1)[1]
        # Follow the reference to the agent it names.
        on_agent = up.conn(url=f"http://{vm.host}", namespace=vm.namespace).GetInstance(vm)
        assert on_agent["Name"] == vm.keybindings["Name"]


def wait_job(conn, job):
    deadline = time.time() + JOB_WAIT
    while time.time() < deadline:
        j = conn.GetInstance(job)
        if j["JobState"] >= 7:
            return j
        time.sleep(0.2)
    pytest.fail(f"job {job} did not finish within {JOB_WAIT} s: {conn.GetInstance(job)}")


def test_create_and_delete_a_virtual_server_through_cim(up):
    conn = up.conn()
    svc = conn.EnumerateInstanceNames("VINE_VirtualServerService")[0]
    rv, out = conn.InvokeMethod("CreateVirtualServer", svc, Name="shop", Nodes=Uint32(2),
                                VCPUs=Uint32(1), MemoryMiB=Uint64(128))
    assert rv == 4096
    job = out["Job"]
    assert job.classname == "VINE_ConcreteJob"
    # The job is tracked from the start and owned by the service.
    tracked = conn.GetInstance(job)
    assert tracked["Name"] == "vs.create" and tracked["JobState"] in (2, 3, 4, 7)
    owners = conn.AssociatorNames(job, AssocClass="VINE_OwningJobElement")
    assert [o.classname for o in owners] == ["VINE_VirtualServerService"]

    with pytest.raises(CIMError) as dup:
        conn.InvokeMethod("CreateVirtualServer", svc, Name="shop", Nodes=Uint32(1),
                          VCPUs=Uint32(1), MemoryMiB=Uint64(128))
    assert dup.value.status_code == pywbem.CIM_ERR_ALREADY_EXISTS

    done = wait_job(conn, job)
    assert done["JobState"] == 7, done.get("ErrorDescription")
    assert done["PercentComplete"] == 100
    rv, errs = conn.InvokeMethod("GetErrors", job)
    assert rv == 0 and not errs.get("Errors")
    vs = conn.GetInstance(out["VirtualServer"])
    assert vs["DesiredNodes"] == 2 and vs["ActualNodes"] == 2
    nodes = conn.AssociatorNames(vs.path, AssocClass="VINE_VirtualNode")
    assert len(nodes) == 2 and all(n.keybindings["Name"].startswith("shop-") for n in nodes)
    hosts = set()
    for n in nodes:
        assert n.namespace == VIRT
        hosts.add(n.host)
        assert up.conn(url=f"http://{n.host}", namespace=VIRT).GetInstance(n)["EnabledState"] == 2
    assert len(hosts) == 2, "nodes are spread over the hosts"

    rv, out = conn.InvokeMethod("DeleteVirtualServer", svc, VirtualServer=vs.path)
    assert rv == 4096
    done = wait_job(conn, out["Job"])
    assert done["JobState"] == 7, done.get("ErrorDescription")
    with pytest.raises(CIMError) as gone:
        conn.GetInstance(vs.path)
    assert gone.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    jobs = conn.EnumerateInstances("VINE_ConcreteJob")
    assert {j["Name"] for j in jobs} >= {"vs.create", "vs.delete"}
