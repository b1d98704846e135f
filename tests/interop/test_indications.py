"""Indications (DSP1054) with pywbem's own subscription manager and listener.

A `pywbem.WBEMListener` on a free loopback port receives what vine's
indication service exports; subscriptions are made with
`pywbem.WBEMSubscriptionManager`, exactly as a third-party client would.
"""
import queue
import socket
import time
import uuid

import pytest
import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint32

from conftest import READER_PW, SAMPLE_NS

INTEROP = "root/interop"
# Long enough for a loaded CI machine; deliveries take milliseconds.
WAIT = 15
# How long "nothing arrives" is watched for.
QUIET = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Received:
    """A pywbem listener that queues every indication it receives."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.queue = queue.Queue()
        self.listener = pywbem.WBEMListener("127.0.0.1", http_port=self.port)
        self.listener.add_callback(lambda ind, host: self.queue.put(ind))
        self.listener.start()

    def next(self, classname=None, timeout=WAIT):
        """The next indication (of `classname` when given), or fail."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                pytest.fail(f"no {classname or 'indication'} within {timeout} s")
            try:
                ind = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            if classname is None or ind.classname.lower() == classname.lower():
                return ind

    def nothing(self, within=QUIET):
        try:
            ind = self.queue.get(timeout=within)
        except queue.Empty:
            return
        pytest.fail(f"unexpected indication {ind.classname} from filter {ind.get('IndicationFilterName')}")

    def stop(self):
        self.listener.stop()


@pytest.fixture
def listener():
    r = Received()
    yield r
    r.stop()


@pytest.fixture
def manager(server):
    """A subscription manager on vine; removes what it owns afterwards."""
    mgr = pywbem.WBEMSubscriptionManager(f"vinetest{uuid.uuid4().hex[:8]}")
    server_id = mgr.add_server(pywbem.WBEMServer(server.conn(namespace=INTEROP)))
    yield mgr, server_id
    mgr.remove_all_servers()


def new_item(conn, prefix):
    """Creates a sample item; tests delete theirs (the server is shared)."""
    item_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    path = conn.CreateInstance(CIMInstance(
        "VINE_SampleItem", properties={"InstanceID": item_id, "Name": "ind", "Count": Uint32(1)}))
    return item_id, path


def test_subscribe_receive_and_unsubscribe(server, listener, manager):
    mgr, sid = manager
    dest = mgr.add_destination(sid, listener.url, destination_id="d1")
    filt = mgr.add_filter(sid, SAMPLE_NS, "SELECT * FROM CIM_InstIndication", filter_id="all")
    subs = mgr.add_subscriptions(sid, filt.path, dest.path)
    assert len(subs) == 1

    # The three instances are ordinary CIM instances in root/interop.
    interop = server.conn(namespace=INTEROP)
    names = [i["Name"] for i in interop.EnumerateInstances("CIM_IndicationFilter")]
    assert filt["Name"] in names
    dests = interop.EnumerateInstances("CIM_ListenerDestinationCIMXML")
    assert listener.url in [d["Destination"] for d in dests]
    sub_paths = [s.path for s in interop.EnumerateInstances("CIM_IndicationSubscription")]
    assert subs[0].path in sub_paths
    assert subs[0]["SubscriptionState"] == 2
    refs = interop.ReferenceNames(filt.path, ResultClass="CIM_IndicationSubscription")
    assert [r.keybindings["Handler"]["Name"] for r in refs] == [dest["Name"]]
    far = interop.Associators(filt.path, AssocClass="CIM_IndicationSubscription")
    assert [(a.classname, a["Destination"]) for a in far] == [("CIM_ListenerDestinationCIMXML", listener.url)]
    wbem = pywbem.WBEMServer(interop)
    profile = [p for p in wbem.profiles if p["RegisteredName"] == "Indications"]
    assert len(profile) == 1
    services = wbem.get_central_instances(profile[0].path, central_class="CIM_IndicationService")
    assert [s.classname for s in services] == ["CIM_IndicationService"]
    service = interop.GetInstance(services[0])
    assert service["DeliveryRetryAttempts"] == 3 and service["DeliveryRetryInterval"] == 20

    conn = server.conn()
    item_id, path = new_item(conn, "ind")
    created = listener.next("CIM_InstCreation")
    assert created["SourceInstance"]["InstanceID"] == item_id
    assert created["IndicationFilterName"] == filt["Name"]
    assert created["IndicationTime"] is not None
    assert created["SequenceContext"]

    conn.InvokeMethod("Bump", path, [("By", Uint32(2))])
    modified = listener.next("CIM_InstModification")
    assert modified["SourceInstance"]["Count"] == 3
    assert modified["PreviousInstance"]["Count"] == 1
    assert modified["SequenceNumber"] > created["SequenceNumber"]

    conn.DeleteInstance(path)
    deleted = listener.next("CIM_InstDeletion")
    assert deleted["SourceInstance"]["InstanceID"] == item_id

    mgr.remove_subscriptions(sid, [s.path for s in subs])
    assert subs[0].path not in [s.path for s in interop.EnumerateInstances("CIM_IndicationSubscription")]
    _, after = new_item(conn, "after")
    listener.nothing()
    conn.DeleteInstance(after)


def test_where_clause_and_select_list(server, listener, manager):
    mgr, sid = manager
    dest = mgr.add_destination(sid, listener.url, destination_id="d2")
    # Sample items are not computer systems: this filter never matches.
    none = mgr.add_filter(
        sid, SAMPLE_NS, "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA CIM_ComputerSystem",
        filter_id="none")
    items = mgr.add_filter(
        sid, SAMPLE_NS, "SELECT SourceInstance FROM CIM_InstCreation WHERE SourceInstance ISA VINE_SampleItem",
        filter_id="items", query_language="DMTF:CQL")
    mgr.add_subscriptions(sid, none.path, dest.path)
    mgr.add_subscriptions(sid, items.path, dest.path)

    conn = server.conn()
    item_id, path = new_item(conn, "where")
    got = listener.next("CIM_InstCreation")
    assert got["IndicationFilterName"] == items["Name"]
    assert got["SourceInstance"]["InstanceID"] == item_id
    # The SELECT list left only SourceInstance (and what DSP1054 adds).
    assert "IndicationTime" not in got.properties
    listener.nothing()
    conn.DeleteInstance(path)


def test_other_namespace_filter_sees_nothing(server, listener, manager):
    mgr, sid = manager
    dest = mgr.add_destination(sid, listener.url, destination_id="d3")
    filt = mgr.add_filter(sid, INTEROP, "SELECT * FROM CIM_InstCreation", filter_id="interop")
    mgr.add_subscriptions(sid, filt.path, dest.path)
    conn = server.conn()
    _, path = new_item(conn, "ns")
    listener.nothing()
    conn.DeleteInstance(path)


def filter_instance(server_name, name, query, language="WQL"):
    inst = CIMInstance("CIM_IndicationFilter")
    inst["CreationClassName"] = "CIM_IndicationFilter"
    inst["SystemCreationClassName"] = "CIM_ComputerSystem"
    inst["SystemName"] = server_name
    inst["Name"] = name
    inst["SourceNamespaces"] = [SAMPLE_NS]
    inst["Query"] = query
    inst["QueryLanguage"] = language
    return inst


def status_of(call):
    with pytest.raises(CIMError) as e:
        call()
    return e.value.status_code


def test_bad_input(server):
    interop = server.conn(namespace=INTEROP)
    om = pywbem.WBEMServer(interop).cimom_inst["SystemName"]
    tag = uuid.uuid4().hex[:8]

    assert status_of(lambda: interop.CreateInstance(
        filter_instance(om, f"bad-{tag}", "SELECT FROM WHERE"))) == pywbem.CIM_ERR_INVALID_PARAMETER
    assert status_of(lambda: interop.CreateInstance(
        filter_instance(om, f"bad-{tag}", "SELECT * FROM CIM_InstCreation", "XPath"))) \
        == pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED
    assert status_of(lambda: interop.CreateInstance(
        filter_instance(om, f"bad-{tag}", "SELECT * FROM VINE_SampleItem"))) == pywbem.CIM_ERR_INVALID_PARAMETER
    assert status_of(lambda: interop.CreateInstance(
        filter_instance(om, f"bad-{tag}", "SELECT NoSuch FROM CIM_InstCreation"))) == pywbem.CIM_ERR_INVALID_PARAMETER

    dest = CIMInstance("CIM_ListenerDestinationCIMXML", properties={
        "Name": f"bad-{tag}", "Destination": "ftp://127.0.0.1/x"})
    assert status_of(lambda: interop.CreateInstance(dest)) == pywbem.CIM_ERR_INVALID_PARAMETER

    # Server-filled keys: a client may give only Name and the query.
    good = CIMInstance("CIM_IndicationFilter", properties={
        "Name": f"ok-{tag}", "Query": "SELECT * FROM CIM_InstDeletion", "QueryLanguage": "WQL",
        "SourceNamespaces": [SAMPLE_NS]})
    fpath = interop.CreateInstance(good)
    assert set(fpath.keybindings) == {"SystemCreationClassName", "SystemName", "CreationClassName", "Name"}
    assert interop.GetInstance(fpath)["Query"] == "SELECT * FROM CIM_InstDeletion"
    assert status_of(lambda: interop.CreateInstance(good)) == pywbem.CIM_ERR_ALREADY_EXISTS

    dpath = interop.CreateInstance(CIMInstance("CIM_ListenerDestinationCIMXML", properties={
        "Name": f"ok-{tag}", "Destination": "http://127.0.0.1:9/"}))
    missing = CIMInstanceName("CIM_IndicationFilter", namespace=INTEROP, keybindings=dict(
        fpath.keybindings, Name="no-such-filter"))
    assert status_of(lambda: interop.CreateInstance(CIMInstance(
        "CIM_IndicationSubscription", properties={"Filter": missing, "Handler": dpath}))) \
        == pywbem.CIM_ERR_INVALID_PARAMETER
    spath = interop.CreateInstance(CIMInstance(
        "CIM_IndicationSubscription", properties={"Filter": fpath, "Handler": dpath}))
    assert status_of(lambda: interop.CreateInstance(CIMInstance(
        "CIM_IndicationSubscription", properties={"Filter": fpath, "Handler": dpath}))) \
        == pywbem.CIM_ERR_ALREADY_EXISTS
    assert status_of(lambda: interop.DeleteInstance(fpath)) == pywbem.CIM_ERR_FAILED
    assert status_of(lambda: interop.DeleteInstance(dpath)) == pywbem.CIM_ERR_FAILED

    reader = server.conn(user="reader", password=READER_PW, namespace=INTEROP)
    assert len(reader.EnumerateInstances("CIM_IndicationSubscription")) >= 1
    assert status_of(lambda: reader.DeleteInstance(spath)) == pywbem.CIM_ERR_ACCESS_DENIED
    assert status_of(lambda: reader.CreateInstance(good)) == pywbem.CIM_ERR_ACCESS_DENIED

    interop.DeleteInstance(spath)
    interop.DeleteInstance(fpath)
    interop.DeleteInstance(dpath)
    assert status_of(lambda: interop.GetInstance(fpath)) == pywbem.CIM_ERR_NOT_FOUND
