//! A small in-memory provider for `VINE_SampleItem` and `VINE_SampleLink`,
//! used to test the server and by `vine wbem serve --sample`. Nothing
//! user-facing depends on it. With a sink it publishes CIM_InstCreation,
//! CIM_InstDeletion and CIM_InstModification for its items while a
//! subscription can select them (it is an indication provider too).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimDateTime, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue,
    CimResult, CimStatus, CimValue,
};

use crate::indication::IndicationSink;
use crate::provider::{
    param, IndicationFilterInfo, IndicationProvider, InstanceProvider, MethodProvider,
    MethodResult, MethodTarget, RequestContext,
};
use crate::server::Registry;

/// The namespace the sample classes are served in.
pub const SAMPLE_NS: &str = "test/sample";
const ITEM: &str = "VINE_SampleItem";
const LINK: &str = "VINE_SampleLink";

/// Items by InstanceID, and links as (parent, child) InstanceIDs.
#[derive(Default)]
struct State {
    items: BTreeMap<String, CimInstance>,
    links: Vec<(String, String)>,
}

/// The sample provider.
#[derive(Default)]
pub struct SampleProvider {
    state: Mutex<State>,
    sink: OnceLock<IndicationSink>,
    /// Active subscriptions that can select the sample's indications.
    listeners: AtomicUsize,
}

/// What happened to an item, for its indication.
enum Change<'a> {
    Created(&'a CimInstance),
    Deleted(&'a CimInstance),
    Modified {
        before: &'a CimInstance,
        after: &'a CimInstance,
    },
}

fn item_path(id: &str) -> CimInstanceName {
    CimInstanceName::new(ITEM).with_key("InstanceID", id)
}

impl SampleProvider {
    /// Registers the provider in `registry` with `items` items
    /// (`item-0` …), each linked to its successor.
    pub fn install(registry: &mut Registry, items: usize) -> Arc<Self> {
        let p = Arc::new(SampleProvider::default());
        {
            let mut st = p.lock();
            for i in 0..items {
                let id = format!("item-{i}");
                let inst = CimInstance::new(ITEM)
                    .with("InstanceID", id.as_str())
                    .with("Name", format!("Sample item {i}"))
                    .with("Count", i as u32)
                    .with("Enabled", i % 2 == 0)
                    .with("Created", CimDateTime::now())
                    .with("Size", (i as u64) * 1024)
                    .with(
                        "Tags",
                        vec!["sample", if i % 2 == 0 { "even" } else { "odd" }],
                    );
                st.items.insert(id.clone(), with_path(inst, &id));
                if i > 0 {
                    st.links.push((format!("item-{}", i - 1), id));
                }
            }
        }
        registry.register_instances(SAMPLE_NS, ITEM, p.clone());
        registry.register_instances(SAMPLE_NS, LINK, p.clone());
        registry.register_methods(SAMPLE_NS, ITEM, p.clone());
        registry.register_indications(SAMPLE_NS, "CIM_InstIndication", p.clone());
        p
    }

    /// Publishes item life-cycle indications to `sink` from now on (the
    /// first sink given stays).
    pub fn publish_to(&self, sink: IndicationSink) {
        let _ = self.sink.set(sink);
    }

    /// Publishes the indication for `change`, when someone may listen.
    fn emit(&self, change: Change<'_>) {
        let Some(sink) = self.sink.get() else {
            return;
        };
        if self.listeners.load(Ordering::Relaxed) == 0 {
            return;
        }
        let (class, source, previous) = match change {
            Change::Created(i) => ("CIM_InstCreation", i, None),
            Change::Deleted(i) => ("CIM_InstDeletion", i, None),
            Change::Modified { before, after } => ("CIM_InstModification", after, Some(before)),
        };
        let mut ind = CimInstance::new(class)
            .with("IndicationTime", CimDateTime::now())
            .with("SourceInstance", source.clone());
        if let Some(p) = &source.path {
            ind.set(
                "SourceInstanceModelPath",
                p.clone().with_namespace(SAMPLE_NS).to_string(),
            );
        }
        if let Some(prev) = previous {
            ind.set("PreviousInstance", prev.clone());
        }
        sink.publish(SAMPLE_NS, ind);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn with_path(mut inst: CimInstance, id: &str) -> CimInstance {
    inst.path = Some(item_path(id));
    inst
}

fn link_instance(parent: &str, child: &str) -> CimInstance {
    let path = CimInstanceName::new(LINK)
        .with_key("Parent", item_path(parent))
        .with_key("Child", item_path(child));
    let mut inst = CimInstance::new(LINK)
        .with("Parent", item_path(parent))
        .with("Child", item_path(child));
    inst.path = Some(path);
    inst
}

fn id_of(name: &CimInstanceName) -> CimResult<String> {
    name.key_str("InstanceID")
        .map(str::to_string)
        .ok_or_else(|| CimError::invalid_parameter("InstanceID key is missing or not a string"))
}

fn ref_id(inst: &CimInstance, role: &str) -> CimResult<String> {
    match inst.get(role) {
        Some(CimValue::Reference(r)) if r.class_name == ITEM => id_of(r),
        _ => Err(CimError::invalid_parameter(format!(
            "{role} must reference a {ITEM}"
        ))),
    }
}

#[async_trait]
impl InstanceProvider for SampleProvider {
    async fn enumerate_instances(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let st = self.lock();
        Ok(if class.name == ITEM {
            st.items.values().cloned().collect()
        } else {
            st.links.iter().map(|(p, c)| link_instance(p, c)).collect()
        })
    }

    async fn get_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        let st = self.lock();
        if class.name == ITEM {
            let id = id_of(name)?;
            return st
                .items
                .get(&id)
                .cloned()
                .ok_or_else(|| CimError::not_found(name.local()));
        }
        let probe = CimInstance::new(LINK)
            .with(
                "Parent",
                name.key("Parent")
                    .cloned()
                    .unwrap_or(CimValue::Boolean(false)),
            )
            .with(
                "Child",
                name.key("Child")
                    .cloned()
                    .unwrap_or(CimValue::Boolean(false)),
            );
        let (p, c) = (ref_id(&probe, "Parent")?, ref_id(&probe, "Child")?);
        st.links
            .iter()
            .find(|(lp, lc)| *lp == p && *lc == c)
            .map(|(lp, lc)| link_instance(lp, lc))
            .ok_or_else(|| CimError::not_found(name.local()))
    }

    async fn create_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        inst: CimInstance,
    ) -> CimResult<CimInstanceName> {
        let mut st = self.lock();
        if class.name == LINK {
            let (p, c) = (ref_id(&inst, "Parent")?, ref_id(&inst, "Child")?);
            for id in [&p, &c] {
                if !st.items.contains_key(id) {
                    return Err(CimError::invalid_parameter(format!(
                        "{ITEM} {id} does not exist"
                    )));
                }
            }
            if st.links.iter().any(|(lp, lc)| *lp == p && *lc == c) {
                return Err(CimError::new(
                    CimStatus::AlreadyExists,
                    format!("link {p} -> {c} exists"),
                ));
            }
            st.links.push((p.clone(), c.clone()));
            return link_instance(&p, &c)
                .path
                .ok_or_else(|| CimError::failed("link without path"));
        }
        let id = inst
            .get_str("InstanceID")
            .ok_or_else(|| CimError::invalid_parameter("InstanceID is required"))?
            .to_string();
        if st.items.contains_key(&id) {
            return Err(CimError::new(
                CimStatus::AlreadyExists,
                format!("{ITEM} {id} exists"),
            ));
        }
        let mut inst = inst;
        inst.class_name = class.name.clone();
        let inst = with_path(inst, &id);
        st.items.insert(id.clone(), inst.clone());
        drop(st);
        self.emit(Change::Created(&inst));
        Ok(item_path(&id))
    }

    async fn modify_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        inst: CimInstance,
        property_list: Option<&[String]>,
    ) -> CimResult<()> {
        if class.name == LINK {
            return Err(CimError::not_supported("links have only keys"));
        }
        let id = id_of(
            inst.path
                .as_ref()
                .ok_or_else(|| CimError::invalid_parameter("no path"))?,
        )?;
        let mut st = self.lock();
        let current = st
            .items
            .get_mut(&id)
            .ok_or_else(|| CimError::not_found(item_path(&id)))?;
        let before = current.clone();
        for p in inst.properties {
            if p.name == "InstanceID" {
                continue;
            }
            if property_list.is_none_or(|l| l.iter().any(|n| p.name.matches(n))) {
                current.set_property(p);
            }
        }
        let after = current.clone();
        drop(st);
        self.emit(Change::Modified {
            before: &before,
            after: &after,
        });
        Ok(())
    }

    async fn delete_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<()> {
        let mut st = self.lock();
        if class.name == LINK {
            let before = st.links.len();
            let probe = CimInstance::new(LINK)
                .with(
                    "Parent",
                    name.key("Parent")
                        .cloned()
                        .unwrap_or(CimValue::Boolean(false)),
                )
                .with(
                    "Child",
                    name.key("Child")
                        .cloned()
                        .unwrap_or(CimValue::Boolean(false)),
                );
            let (p, c) = (ref_id(&probe, "Parent")?, ref_id(&probe, "Child")?);
            st.links.retain(|(lp, lc)| !(*lp == p && *lc == c));
            return if st.links.len() < before {
                Ok(())
            } else {
                Err(CimError::not_found(name.local()))
            };
        }
        let id = id_of(name)?;
        let gone = st
            .items
            .remove(&id)
            .ok_or_else(|| CimError::not_found(name.local()))?;
        // Links to a deleted item go with it, as a real model's would.
        st.links.retain(|(p, c)| *p != id && *c != id);
        drop(st);
        self.emit(Change::Deleted(&gone));
        Ok(())
    }
}

#[async_trait]
impl MethodProvider for SampleProvider {
    async fn invoke_method(
        &self,
        _ctx: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        if method.name != "Bump" {
            return Err(CimError::new(
                CimStatus::MethodNotAvailable,
                format!("{} is not implemented", method.name),
            ));
        }
        let MethodTarget::Instance(name) = target else {
            return Err(CimError::invalid_parameter("Bump is an instance method"));
        };
        let by = match param(&params, "By") {
            Some(CimValue::Uint32(n)) => *n,
            None => 1,
            Some(other) => {
                return Err(CimError::invalid_parameter(format!(
                    "By must be a uint32, got {other}"
                )))
            }
        };
        let id = id_of(name)?;
        let mut st = self.lock();
        let item = st
            .items
            .get_mut(&id)
            .ok_or_else(|| CimError::not_found(name.local()))?;
        let count = match item.get("Count") {
            Some(CimValue::Uint32(n)) => *n,
            _ => 0,
        };
        let Some(new) = count.checked_add(by) else {
            // DMTF convention: 5 = Invalid Parameter as a return code.
            return Ok(MethodResult::code(5));
        };
        let before = item.clone();
        item.set("Count", new);
        let after = item.clone();
        drop(st);
        self.emit(Change::Modified {
            before: &before,
            after: &after,
        });
        Ok(MethodResult::code(0).with_out("NewCount", new))
    }
}

impl IndicationProvider for SampleProvider {
    fn activate_filter(&self, filter: &IndicationFilterInfo) {
        let n = self.listeners.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(filter = %filter.filter_name, listeners = n, "sample indications wanted");
    }

    fn deactivate_filter(&self, filter: &IndicationFilterInfo) {
        let n = self
            .listeners
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            })
            .map_or(0, |prev| prev.saturating_sub(1));
        tracing::debug!(filter = %filter.filter_name, listeners = n, "sample indication filter ended");
    }
}
