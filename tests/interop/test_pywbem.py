"""pywbem, a third-party client, against vine's WBEM server."""
import pytest
import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint32

from conftest import ADMIN_PW, SAMPLE_NS


def item_path(i):
    return CIMInstanceName("VINE_SampleItem", keybindings={"InstanceID": f"item-{i}"}, namespace=SAMPLE_NS)


def test_server_identity_namespaces_and_profiles(server):
    wbem = pywbem.WBEMServer(server.conn(namespace="root/interop"))
    assert wbem.interop_ns.lower() == "root/interop"
    assert {"root/interop", SAMPLE_NS} <= {n.lower() for n in wbem.namespaces}
    assert wbem.brand == "vine"
    names = {(p["RegisteredOrganization"], p["RegisteredName"]) for p in wbem.profiles}
    assert (2, "Profile Registration") in names
    central = wbem.get_central_instances(
        [p.path for p in wbem.profiles if p["RegisteredName"] == "Profile Registration"][0],
        central_class="CIM_ObjectManager")
    assert [c.classname for c in central] == ["CIM_ObjectManager"]


def test_classes_with_inheritance(server):
    conn = server.conn(namespace="root/interop")
    names = conn.EnumerateClassNames(DeepInheritance=True)
    assert "CIM_ComputerSystem" in names and "CIM_RegisteredProfile" in names
    cs = conn.GetClass("CIM_ComputerSystem", LocalOnly=False, IncludeQualifiers=True)
    assert cs.superclass == "CIM_System"
    assert "EnabledState" in cs.properties
    assert "RequestStateChange" in cs.methods
    local = conn.GetClass("CIM_ComputerSystem", LocalOnly=True)
    assert "EnabledState" not in local.properties
    assert "Key" in cs.properties["Name"].qualifiers
    subs = conn.EnumerateClassNames(ClassName="CIM_EnabledLogicalElement")
    assert "CIM_LogicalDevice" in subs or "CIM_System" in subs
    quals = {q.name for q in conn.EnumerateQualifiers()}
    assert {"Key", "Association", "ValueMap"} <= quals


def test_instances_get_enumerate_and_property_list(server):
    conn = server.conn()
    insts = conn.EnumerateInstances("VINE_SampleItem")
    assert sorted(i["InstanceID"] for i in insts)[:3] == ["item-0", "item-1", "item-2"]
    got = conn.GetInstance(item_path(1))
    assert got["Name"] == "Sample item 1" and got["Count"] == 1
    assert isinstance(got["Count"], Uint32)
    only = conn.EnumerateInstances("VINE_SampleItem", PropertyList=["Name"])
    assert all(set(i.keys()) == {"Name"} for i in only)
    none = conn.EnumerateInstances("VINE_SampleItem", PropertyList=[])
    assert all(len(i.keys()) == 0 for i in none)
    assert len(conn.EnumerateInstanceNames("CIM_ManagedElement")) >= 3


def test_create_modify_delete(server):
    conn = server.conn()
    new = CIMInstance("VINE_SampleItem", properties={"InstanceID": "py-1", "Name": "from pywbem", "Count": Uint32(7)})
    path = conn.CreateInstance(new)
    assert path.keybindings["InstanceID"] == "py-1"
    with pytest.raises(CIMError) as e:
        conn.CreateInstance(new)
    assert e.value.status_code == pywbem.CIM_ERR_ALREADY_EXISTS
    inst = conn.GetInstance(path)
    inst["Name"] = "renamed"
    conn.ModifyInstance(inst, PropertyList=["Name"])
    assert conn.GetInstance(path)["Name"] == "renamed"
    conn.DeleteInstance(path)
    with pytest.raises(CIMError) as e:
        conn.GetInstance(path)
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND


def test_associations(server):
    conn = server.conn()
    assoc = conn.Associators(item_path(1), AssocClass="VINE_SampleLink")
    assert sorted(a["InstanceID"] for a in assoc) == ["item-0", "item-2"]
    children = conn.AssociatorNames(item_path(1), AssocClass="VINE_SampleLink", Role="Parent", ResultRole="Child")
    assert [p.keybindings["InstanceID"] for p in children] == ["item-2"]
    refs = conn.References(item_path(0))
    assert len(refs) == 1 and refs[0].classname == "VINE_SampleLink"
    rnames = conn.ReferenceNames(item_path(2), Role="Child")
    assert len(rnames) == 1


def test_invoke_method(server):
    conn = server.conn()
    before = conn.GetInstance(item_path(2))["Count"]
    rv, out = conn.InvokeMethod("Bump", item_path(2), [("By", Uint32(5))])
    assert rv == 0
    assert out["NewCount"] == before + 5
    assert conn.GetInstance(item_path(2))["Count"] == before + 5


def test_wql_and_cql_queries(server):
    conn = server.conn()
    res = conn.ExecQuery("WQL", "SELECT Name FROM VINE_SampleItem WHERE Count >= 1 AND Name LIKE 'Sample%'")
    assert len(res) >= 2
    assert all(set(r.keys()) == {"Name"} for r in res)
    cql = conn.ExecQuery("DMTF:CQL", "SELECT * FROM VINE_SampleItem WHERE InstanceID = 'item-0'")
    assert [r["InstanceID"] for r in cql] == ["item-0"]
    with pytest.raises(CIMError) as e:
        conn.ExecQuery("WQL", "SELECT FROM WHERE")
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_QUERY
    with pytest.raises(CIMError) as e:
        conn.ExecQuery("SQL", "SELECT * FROM VINE_SampleItem")
    assert e.value.status_code == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED


def test_pull_operations_match_plain_enumeration(server):
    conn = server.conn()
    plain = sorted(str(i.path) for i in conn.EnumerateInstances("VINE_SampleItem"))
    r = conn.OpenEnumerateInstances("VINE_SampleItem", MaxObjectCount=1)
    got = [str(i.path) for i in r.instances]
    ctx = r.context
    while not r.eos:
        r = conn.PullInstancesWithPath(ctx, MaxObjectCount=1)
        got.extend(str(i.path) for i in r.instances)
        ctx = r.context
    # Paths from pulls carry host and namespace; compare without them.
    strip = lambda p: p.split(":", 1)[-1] if ":" in p.split(".")[0] else p
    assert sorted(strip(p.split("/", 3)[-1]) for p in got) == sorted(strip(p) for p in plain)
    paths = list(conn.IterEnumerateInstancePaths("VINE_SampleItem", MaxObjectCount=2))
    assert len(paths) == len(plain)
    q = list(conn.IterQueryInstances("WQL", "SELECT * FROM VINE_SampleItem", MaxObjectCount=1).generator)
    assert len(q) == len(plain)


def test_pull_context_errors(server):
    conn = server.conn()
    r = conn.OpenEnumerateInstances("VINE_SampleItem", MaxObjectCount=0)
    assert not r.eos
    conn.CloseEnumeration(r.context)
    with pytest.raises(CIMError) as e:
        conn.PullInstancesWithPath(r.context, MaxObjectCount=1)
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT
    with pytest.raises(CIMError) as e:
        conn.OpenEnumerateInstances("VINE_SampleItem", OperationTimeout=100000)
    assert e.value.status_code == pywbem.CIM_ERR_INVALID_OPERATION_TIMEOUT
    with pytest.raises(CIMError) as e:
        conn.OpenEnumerateInstances("VINE_SampleItem", ContinueOnError=True)
    assert e.value.status_code == pywbem.CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED


def test_errors_carry_specific_codes(server):
    conn = server.conn()
    cases = [
        (lambda: conn.EnumerateInstances("VINE_SampleItem", namespace="no/such"), pywbem.CIM_ERR_INVALID_NAMESPACE),
        (lambda: conn.EnumerateInstances("NoSuch_Class"), pywbem.CIM_ERR_INVALID_CLASS),
        (lambda: conn.GetClass("NoSuch_Class"), pywbem.CIM_ERR_NOT_FOUND),
        (lambda: conn.GetInstance(CIMInstanceName("VINE_SampleItem", keybindings={"Bogus": "x"}, namespace=SAMPLE_NS)),
         pywbem.CIM_ERR_INVALID_PARAMETER),
        (lambda: conn.GetInstance(item_path(999)), pywbem.CIM_ERR_NOT_FOUND),
        (lambda: conn.InvokeMethod("NoSuchMethod", item_path(0)), pywbem.CIM_ERR_METHOD_NOT_FOUND),
        (lambda: conn.GetQualifier("NoSuchQualifier"), pywbem.CIM_ERR_NOT_FOUND),
    ]
    for call, code in cases:
        with pytest.raises(CIMError) as e:
            call()
        assert e.value.status_code == code, e.value


def test_https_and_authentication(server):
    # Verify the server's self-signed certificate for real: the
    # environment's CA bundle would override pywbem's no_verification.
    import os
    conn = pywbem.WBEMConnection(server.https_url, ("admin", ADMIN_PW), default_namespace=SAMPLE_NS,
                                 ca_certs=os.path.join(server.state_dir, "tls", "cert.pem"))
    assert len(conn.EnumerateInstances("VINE_SampleItem")) >= 3
    with pytest.raises(pywbem.AuthError):
        server.conn(password="wrong-password").EnumerateInstanceNames("VINE_SampleItem")
    with pytest.raises(pywbem.AuthError):
        server.conn(user="nobody").EnumerateInstanceNames("VINE_SampleItem")


def test_reader_may_read_but_not_write(server):
    from conftest import READER_PW
    conn = server.conn(user="reader", password=READER_PW)
    assert len(conn.EnumerateInstances("VINE_SampleItem")) >= 3
    with pytest.raises(CIMError) as e:
        conn.CreateInstance(CIMInstance("VINE_SampleItem", properties={"InstanceID": "r-1"}))
    assert e.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("Bump", item_path(0), [("By", Uint32(1))])
    assert e.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED


def test_class_level_associations(server):
    conn = server.conn()
    names = conn.AssociatorNames("VINE_SampleItem", AssocClass="VINE_SampleLink")
    assert [n.classname for n in names] == ["VINE_SampleItem"]
    # Unfiltered, the DMTF associations whose references name an ancestor
    # (CIM_ManagedElement) apply to the class as well.
    everything = {n.classname for n in conn.ReferenceNames("VINE_SampleItem")}
    assert {"VINE_SampleLink", "CIM_ElementSettingData"} <= everything
    refs = conn.References("VINE_SampleItem", ResultClass="VINE_SampleLink")
    assert [c.classname for _, c in refs] == ["VINE_SampleLink"]
    assert conn.ReferenceNames("VINE_SampleItem", Role="NoSuchRole") == []
    interop = server.conn(namespace="root/interop")
    assocs = {c.classname for _, c in interop.Associators("CIM_RegisteredProfile", AssocClass="CIM_ElementConformsToProfile")}
    assert "CIM_ManagedElement" in assocs


# A vine agent (libvirt test driver) of its own for this module, from
# test_agent.py: CPU time on the processor RASD as a third-party client
# writes it.
from test_agent import agent, define, rasd, vsms  # noqa: E402,F401


def test_cpu_reservation_and_limit_on_the_processor_rasd(agent):
    conn = agent.conn()
    rv, defined = define(conn, agent, "cpu")
    assert rv == 0
    proc = pywbem.CIMInstanceName("KVM_ProcResourceAllocationSettingData", {"InstanceID": "cpu/proc"})

    # CPUReservation: percent of one host core per vCPU, kept with the VM
    # (admitted against the host's cores) and shown on its RASD.
    rv, out = conn.InvokeMethod("ModifyResourceSettings", vsms(conn),
                                ResourceSettings=[rasd("Proc", InstanceID="cpu/proc",
                                                       CPUReservation=Uint32(50))])
    assert rv == 0
    assert [p.keybindings["InstanceID"] for p in out["ResultingResourceSettings"]] == ["cpu/proc"]
    got = conn.GetInstance(proc)
    assert got["CPUReservation"] == 50 and isinstance(got["CPUReservation"], Uint32)
    assert got["VirtualQuantity"] == 2 and got["Limit"] == 4, "Limit still counts vCPUs"

    # Out of range names the property and its range; nothing changes.
    for props, says in [({"CPUReservation": Uint32(101)}, "CPUReservation 101 is out of range: give 0 to 100"),
                        ({"CPULimit": Uint32(0)}, "CPULimit 0 is out of range: give 1 to 100")]:
        with pytest.raises(CIMError) as e:
            conn.InvokeMethod("ModifyResourceSettings", vsms(conn),
                              ResourceSettings=[rasd("Proc", InstanceID="cpu/proc", **props)])
        assert e.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        assert says in e.value.status_description

    # A CPU limit needs a CFS quota, which the test driver lacks: refused
    # before anything else in the request is done.
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("ModifyResourceSettings", vsms(conn),
                          ResourceSettings=[rasd("Proc", InstanceID="cpu/proc",
                                                 CPULimit=Uint32(50), CPUReservation=Uint32(10))])
    assert e.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    assert "not supported by the test driver: a CPU limit" in e.value.status_description
    assert conn.GetInstance(proc)["CPUReservation"] == 50

    rv, _ = conn.InvokeMethod("DestroySystem", vsms(conn), AffectedSystem=defined["ResultingSystem"])
    assert rv == 0
