//! The MOF in `schemas/` compiles with vine's MOF compiler into one
//! repository, and the classes look the way a CIM client expects.

use std::path::PathBuf;
use std::sync::OnceLock;

use vine_cim::mof::{compile, FsSource};
use vine_cim::qualifier;
use vine_cim::{CimType, CimValue, Repository};

const NS: &str = "root/cimv2";

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// qualifiers.mof, dmtf/index.mof, then every vine/*.mof, in that order
/// (the order the server loads them in).
fn repo() -> &'static Repository {
    static REPO: OnceLock<Repository> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = schemas_dir();
        let source = FsSource::new(&dir);
        let mut repo = Repository::new();
        repo.create_namespace(NS);
        let mut files = vec!["qualifiers.mof".to_string(), "dmtf/index.mof".to_string()];
        let mut vine: Vec<String> = std::fs::read_dir(dir.join("vine"))
            .expect("schemas/vine exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".mof"))
            .map(|n| format!("vine/{n}"))
            .collect();
        vine.sort();
        files.extend(vine);
        for f in &files {
            match compile(&mut repo, NS, f, &source) {
                Ok(summary) => assert!(
                    summary.warnings.is_empty(),
                    "schemas/{f}: {:#?}",
                    summary.warnings
                ),
                Err(e) => panic!("schemas/{f} does not compile:\n{e}"),
            }
        }
        repo
    })
}

fn has(qs: &[vine_cim::CimQualifier], name: &str) -> bool {
    qualifier::is_set(qs, name)
}

#[test]
fn every_listed_class_is_present() {
    let r = repo();
    for c in [
        "CIM_ManagedElement",
        "CIM_ComputerSystem",
        "CIM_VirtualSystemManagementService",
        "CIM_VirtualSystemMigrationService",
        "CIM_ResourcePoolConfigurationService",
        "CIM_Processor",
        "CIM_Memory",
        "CIM_LogicalDisk",
        "CIM_NetworkPort",
        "CIM_OperatingSystem",
        "CIM_VirtualSystemSettingData",
        "CIM_ResourceAllocationSettingData",
        "CIM_ResourcePool",
        "CIM_AllocationCapabilities",
        "CIM_VirtualSystemManagementCapabilities",
        "CIM_VirtualSystemMigrationCapabilities",
        "CIM_VirtualSystemMigrationSettingData",
        "CIM_ResourcePoolConfigurationCapabilities",
        "CIM_ConcreteJob",
        "CIM_Error",
        "CIM_BaseMetricDefinition",
        "CIM_BaseMetricValue",
        "CIM_PolicyRule",
        "CIM_PowerManagementService",
        "CIM_PowerManagementCapabilities",
        "CIM_ServiceAvailableToElement",
        "CIM_AssociatedPowerManagementService",
        "CIM_SystemDevice",
        "CIM_HostedDependency",
        "CIM_ElementSettingData",
        "CIM_SettingsDefineState",
        "CIM_VirtualSystemSettingDataComponent",
        "CIM_ElementAllocatedFromPool",
        "CIM_ResourceAllocationFromPool",
        "CIM_HostedResourcePool",
        "CIM_ElementCapabilities",
        "CIM_SettingsDefineCapabilities",
        "CIM_HostedService",
        "CIM_ServiceAffectsElement",
        "CIM_RunningOS",
        "CIM_InstalledOS",
        "CIM_ConcreteComponent",
        "CIM_OwningJobElement",
        "CIM_AffectedJobElement",
        "CIM_MetricDefForME",
        "CIM_MetricInstance",
        "CIM_MetricForME",
        "CIM_Namespace",
        "CIM_ObjectManager",
        "CIM_CIMXMLCommunicationMechanism",
        "CIM_CommMechanismForManager",
        "CIM_NamespaceInManager",
        "CIM_RegisteredProfile",
        "CIM_ElementConformsToProfile",
        "CIM_ReferencedProfile",
        "CIM_InstCreation",
        "CIM_InstDeletion",
        "CIM_InstModification",
        "CIM_InstMethodCall",
        "CIM_AlertIndication",
        "CIM_IndicationFilter",
        "CIM_ListenerDestinationCIMXML",
        "CIM_IndicationHandlerCIMXML",
        "CIM_IndicationSubscription",
        "VINE_SampleItem",
        "VINE_SampleLink",
    ] {
        assert!(r.get_class(NS, c).is_ok(), "{c} missing");
    }
}

#[test]
fn computer_system_inherits_enabled_state() {
    let r = repo();
    let cs = r.get_class(NS, "CIM_ComputerSystem").unwrap();
    assert_eq!(
        r.superclasses(NS, "CIM_ComputerSystem")
            .iter()
            .map(|n| n.as_str().to_string())
            .collect::<Vec<_>>(),
        [
            "CIM_System",
            "CIM_EnabledLogicalElement",
            "CIM_LogicalElement",
            "CIM_ManagedSystemElement",
            "CIM_ManagedElement"
        ]
    );
    let es = cs.property("EnabledState").expect("EnabledState");
    assert_eq!(es.cim_type, CimType::Uint16);
    assert_eq!(
        es.class_origin.as_ref().map(|n| n.as_str()),
        Some("CIM_EnabledLogicalElement")
    );
    assert_eq!(es.value, Some(CimValue::Uint16(5)));
    let mut keys: Vec<_> = cs.keys().map(|p| p.name.as_str().to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["CreationClassName", "Name"]);
    assert!(r.is_subclass_of(NS, "CIM_ComputerSystem", "CIM_ManagedElement"));
}

#[test]
fn element_conforms_to_profile_is_an_association() {
    let r = repo();
    let a = r.get_class(NS, "CIM_ElementConformsToProfile").unwrap();
    assert!(a.is_association());
    let cs = a
        .property("ConformantStandard")
        .expect("ConformantStandard");
    assert_eq!(cs.cim_type, CimType::Reference);
    assert_eq!(
        cs.reference_class.as_ref().map(|n| n.as_str()),
        Some("CIM_RegisteredProfile")
    );
    let me = a.property("ManagedElement").expect("ManagedElement");
    assert_eq!(
        me.reference_class.as_ref().map(|n| n.as_str()),
        Some("CIM_ManagedElement")
    );
    assert!(cs.is_key() && me.is_key());
}

#[test]
fn request_state_change_parameters() {
    let r = repo();
    let m = r
        .get_class(NS, "CIM_ComputerSystem")
        .unwrap()
        .method("RequestStateChange")
        .expect("RequestStateChange inherited");
    assert_eq!(m.return_type, CimType::Uint32);
    let rs = m.parameter("RequestedState").unwrap();
    assert!(rs.is_in() && !rs.is_out());
    assert_eq!(rs.cim_type, CimType::Uint16);
    let job = m.parameter("Job").unwrap();
    assert!(job.is_out() && !job.is_in());
    assert_eq!(
        job.reference_class.as_ref().map(|n| n.as_str()),
        Some("CIM_ConcreteJob")
    );
    assert_eq!(
        m.parameter("TimeoutPeriod").unwrap().cim_type,
        CimType::DateTime
    );
}

#[test]
fn define_system_takes_embedded_instances() {
    let r = repo();
    let vsms = r
        .get_class(NS, "CIM_VirtualSystemManagementService")
        .unwrap();
    let m = vsms.method("DefineSystem").unwrap();
    let ss = m.parameter("SystemSettings").unwrap();
    assert_eq!(ss.cim_type, CimType::String);
    assert!(!ss.is_array);
    let ei = qualifier::find(&ss.qualifiers, "EmbeddedInstance").expect("EmbeddedInstance");
    assert_eq!(
        ei.value,
        Some(CimValue::String("CIM_VirtualSystemSettingData".into()))
    );
    let rs = m.parameter("ResourceSettings").unwrap();
    assert!(rs.is_array);
    assert_eq!(rs.cim_type, CimType::String);
    let out = m.parameter("ResultingSystem").unwrap();
    assert!(out.is_out());
    assert_eq!(
        out.reference_class.as_ref().map(|n| n.as_str()),
        Some("CIM_ComputerSystem")
    );
    for name in [
        "DestroySystem",
        "AddResourceSettings",
        "ModifyResourceSettings",
        "ModifySystemSettings",
        "RemoveResourceSettings",
        "RequestStateChange",
    ] {
        assert!(vsms.method(name).is_some(), "{name}");
    }
}

#[test]
fn kinds_of_classes() {
    let r = repo();
    let c = |n: &str| r.get_class(NS, n).unwrap();
    assert!(c("CIM_ManagedElement").is_abstract());
    assert!(!c("CIM_ComputerSystem").is_abstract());
    assert!(c("CIM_InstCreation").is_indication());
    assert!(c("CIM_Indication").is_abstract());
    assert!(c("CIM_IndicationSubscription").is_association());
    assert!(c("CIM_SystemDevice").is_association());
    assert!(has(&c("CIM_SystemDevice").qualifiers, "Aggregation"));
    let pc = c("CIM_SystemDevice")
        .property("PartComponent")
        .unwrap()
        .clone();
    assert_eq!(
        pc.reference_class.as_ref().map(|n| n.as_str()),
        Some("CIM_LogicalDevice")
    );
    assert!(c("CIM_ReferencedProfile").is_association());
    assert!(r.is_subclass_of(NS, "CIM_Memory", "CIM_StorageExtent"));
    assert!(r.is_subclass_of(NS, "CIM_NetworkPort", "CIM_LogicalPort"));
    assert!(r.is_subclass_of(NS, "CIM_ObjectManager", "CIM_Service"));
    assert!(r.is_subclass_of(NS, "CIM_VirtualSystemSettingDataComponent", "CIM_Component"));
}

#[test]
fn concrete_job_and_rasd_facts() {
    let r = repo();
    let job = r.get_class(NS, "CIM_ConcreteJob").unwrap();
    let keys: Vec<_> = job.keys().map(|p| p.name.as_str().to_string()).collect();
    assert_eq!(keys, ["InstanceID"]);
    let tbr = job.property("TimeBeforeRemoval").unwrap();
    assert!(has(&tbr.qualifiers, "Required"));
    assert!(has(&tbr.qualifiers, "Write"));
    let errs = job
        .method("GetErrors")
        .unwrap()
        .parameter("Errors")
        .unwrap();
    assert!(errs.is_out() && errs.is_array);
    let js = job.property("JobState").unwrap();
    let vm = qualifier::find(&js.qualifiers, "ValueMap").unwrap();
    match &vm.value {
        Some(CimValue::Array(v)) => assert!(v.contains(&CimValue::String("10".into()))),
        other => panic!("JobState ValueMap: {other:?}"),
    }

    let rasd = r
        .get_class(NS, "CIM_ResourceAllocationSettingData")
        .unwrap();
    assert_eq!(
        rasd.property("VirtualQuantity").unwrap().cim_type,
        CimType::Uint64
    );
    assert_eq!(rasd.property("Weight").unwrap().cim_type, CimType::Uint32);
    assert!(rasd.property("HostResource").unwrap().is_array);
    assert!(has(
        &rasd.property("ElementName").unwrap().qualifiers,
        "Required"
    ));
}

#[test]
fn sample_classes() {
    let r = repo();
    let item = r.get_class(NS, "VINE_SampleItem").unwrap();
    let keys: Vec<_> = item.keys().map(|p| p.name.as_str().to_string()).collect();
    assert_eq!(keys, ["InstanceID"]);
    assert!(item.property("Tags").unwrap().is_array);
    assert_eq!(
        item.property("Created").unwrap().cim_type,
        CimType::DateTime
    );
    let bump = item.method("Bump").unwrap();
    assert!(bump.parameter("By").unwrap().is_in());
    let nc = bump.parameter("NewCount").unwrap();
    assert!(nc.is_out() && !nc.is_in());
    let link = r.get_class(NS, "VINE_SampleLink").unwrap();
    assert!(link.is_association());
    assert_eq!(link.keys().count(), 2);
}
