//! Filters, listener destinations and subscriptions as vine keeps them
//! (plain records that serialize to the state file), and their CIM form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use vine_cim::name::{namespace_eq, normalize_namespace};
use vine_cim::{CimDateTime, CimError, CimInstance, CimInstanceName, CimResult, CimValue};

use crate::interop::INTEROP_NS;

pub const FILTER_CLASS: &str = "CIM_IndicationFilter";
pub const DESTINATION_CLASS: &str = "CIM_ListenerDestinationCIMXML";
pub const SUBSCRIPTION_CLASS: &str = "CIM_IndicationSubscription";
/// The DSP1054 central class: the one indication service.
pub const SERVICE_CLASS: &str = "CIM_IndicationService";
/// The scoping system class written when a client leaves it out.
pub const SYSTEM_CLASS: &str = "CIM_ComputerSystem";

/// SubscriptionState values (CIM_AbstractIndicationSubscription).
pub const STATE_ENABLED: u16 = 2;
pub const STATE_DEGRADED: u16 = 3;
pub const STATE_DISABLED: u16 = 4;

/// OnFatalErrorPolicy values.
pub const POLICY_IGNORE: u16 = 2;
pub const POLICY_DISABLE: u16 = 3;
pub const POLICY_REMOVE: u16 = 4;

/// The four keys filters and destinations share. System and class names
/// compare without case, Name with case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjKey {
    pub system_creation_class_name: String,
    pub system_name: String,
    pub creation_class_name: String,
    pub name: String,
}

impl PartialEq for ObjKey {
    fn eq(&self, o: &Self) -> bool {
        self.system_creation_class_name
            .eq_ignore_ascii_case(&o.system_creation_class_name)
            && self.system_name.eq_ignore_ascii_case(&o.system_name)
            && self
                .creation_class_name
                .eq_ignore_ascii_case(&o.creation_class_name)
            && self.name == o.name
    }
}

impl ObjKey {
    /// The keys of a client's new instance of `class`; missing system keys
    /// and CreationClassName are filled in, Name must be given.
    fn from_new(inst: &CimInstance, class: &str, host: &str) -> CimResult<ObjKey> {
        let text = |name: &str| -> CimResult<Option<String>> {
            match inst.get(name) {
                None => Ok(None),
                Some(CimValue::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(CimError::invalid_parameter(format!(
                    "{name} must be a non-empty string"
                ))),
            }
        };
        let ccn = text("CreationClassName")?.unwrap_or_else(|| class.to_string());
        if !ccn.eq_ignore_ascii_case(class) {
            return Err(CimError::invalid_parameter(format!(
                "CreationClassName {ccn} does not name the class {class}"
            )));
        }
        Ok(ObjKey {
            system_creation_class_name: text("SystemCreationClassName")?
                .unwrap_or_else(|| SYSTEM_CLASS.to_string()),
            system_name: text("SystemName")?.unwrap_or_else(|| host.to_string()),
            creation_class_name: class.to_string(),
            name: text("Name")?.ok_or_else(|| CimError::invalid_parameter("Name is required"))?,
        })
    }

    /// The keys of an instance name; `None` when one is missing.
    pub fn from_path(p: &CimInstanceName) -> Option<ObjKey> {
        Some(ObjKey {
            system_creation_class_name: p.key_str("SystemCreationClassName")?.to_string(),
            system_name: p.key_str("SystemName")?.to_string(),
            creation_class_name: p.key_str("CreationClassName")?.to_string(),
            name: p.key_str("Name")?.to_string(),
        })
    }

    /// The instance name in root/interop.
    pub fn path(&self, class: &str) -> CimInstanceName {
        CimInstanceName::new(class)
            .with_key(
                "SystemCreationClassName",
                self.system_creation_class_name.as_str(),
            )
            .with_key("SystemName", self.system_name.as_str())
            .with_key("CreationClassName", self.creation_class_name.as_str())
            .with_key("Name", self.name.as_str())
            .with_namespace(INTEROP_NS)
    }

    fn set_on(&self, inst: &mut CimInstance) {
        inst.set(
            "SystemCreationClassName",
            self.system_creation_class_name.as_str(),
        );
        inst.set("SystemName", self.system_name.as_str());
        inst.set("CreationClassName", self.creation_class_name.as_str());
        inst.set("Name", self.name.as_str());
    }
}

/// A CIM_IndicationFilter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FilterRec {
    pub key: ObjKey,
    pub query: String,
    pub query_language: String,
    /// As the client gave them.
    pub source_namespaces: Vec<String>,
    pub source_namespace: Option<String>,
    pub element_name: Option<String>,
}

impl FilterRec {
    /// The record for a client's new filter; the query is checked by the
    /// caller, which knows the repository.
    pub fn from_new(inst: &CimInstance, host: &str) -> CimResult<FilterRec> {
        let key = ObjKey::from_new(inst, FILTER_CLASS, host)?;
        let required = |name: &str| {
            inst.get_str(name)
                .map(str::to_string)
                .ok_or_else(|| CimError::invalid_parameter(format!("{name} is required")))
        };
        let source_namespaces = match inst.get("SourceNamespaces") {
            None => Vec::new(),
            Some(CimValue::Array(v)) => v
                .iter()
                .map(|e| {
                    e.as_str().map(normalize_namespace).ok_or_else(|| {
                        CimError::invalid_parameter("SourceNamespaces must be strings")
                    })
                })
                .collect::<CimResult<_>>()?,
            Some(_) => {
                return Err(CimError::invalid_parameter(
                    "SourceNamespaces must be an array of strings",
                ))
            }
        };
        Ok(FilterRec {
            key,
            query: required("Query")?,
            query_language: required("QueryLanguage")?,
            source_namespaces,
            source_namespace: inst.get_str("SourceNamespace").map(normalize_namespace),
            element_name: inst.get_str("ElementName").map(str::to_string),
        })
    }

    /// The namespaces the filter watches: SourceNamespaces, else the
    /// deprecated SourceNamespace, else the filter's own namespace (DSP1054).
    pub fn effective_namespaces(&self) -> Vec<String> {
        if !self.source_namespaces.is_empty() {
            self.source_namespaces.clone()
        } else if let Some(ns) = &self.source_namespace {
            vec![ns.clone()]
        } else {
            vec![INTEROP_NS.to_string()]
        }
    }

    /// True when the filter watches `ns`.
    pub fn watches(&self, ns: &str) -> bool {
        self.effective_namespaces()
            .iter()
            .any(|s| namespace_eq(s, ns))
    }

    pub fn path(&self) -> CimInstanceName {
        self.key.path(FILTER_CLASS)
    }

    pub fn instance(&self) -> CimInstance {
        let mut inst = CimInstance::new(FILTER_CLASS);
        self.key.set_on(&mut inst);
        inst.set("Query", self.query.as_str());
        inst.set("QueryLanguage", self.query_language.as_str());
        if !self.source_namespaces.is_empty() {
            inst.set(
                "SourceNamespaces",
                CimValue::Array(
                    self.source_namespaces
                        .iter()
                        .map(|s| CimValue::String(s.clone()))
                        .collect(),
                ),
            );
        }
        if let Some(ns) = &self.source_namespace {
            inst.set("SourceNamespace", ns.as_str());
        }
        if let Some(e) = &self.element_name {
            inst.set("ElementName", e.as_str());
        }
        inst.set("IndividualSubscriptionSupported", true);
        inst.path = Some(self.path());
        inst
    }
}

/// A CIM_ListenerDestinationCIMXML.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DestinationRec {
    pub key: ObjKey,
    /// An http or https URL.
    pub destination: String,
    pub persistence_type: Option<u16>,
    pub element_name: Option<String>,
}

impl DestinationRec {
    pub fn from_new(inst: &CimInstance, host: &str) -> CimResult<DestinationRec> {
        let key = ObjKey::from_new(inst, DESTINATION_CLASS, host)?;
        let destination = inst
            .get_str("Destination")
            .ok_or_else(|| CimError::invalid_parameter("Destination is required"))?
            .trim()
            .to_string();
        check_url(&destination)?;
        if let Some(p) = inst.get("Protocol") {
            if p.as_i128() != Some(2) {
                return Err(CimError::not_supported(
                    "only Protocol 2 (CIM-XML) destinations are supported",
                ));
            }
        }
        let persistence_type = match inst.get("PersistenceType") {
            None => None,
            Some(v) => match v.as_i128() {
                Some(n @ 2..=3) => Some(n as u16),
                _ => {
                    return Err(CimError::invalid_parameter(
                        "PersistenceType must be 2 (Permanent) or 3 (Transient)",
                    ))
                }
            },
        };
        Ok(DestinationRec {
            key,
            destination,
            persistence_type,
            element_name: inst.get_str("ElementName").map(str::to_string),
        })
    }

    pub fn path(&self) -> CimInstanceName {
        self.key.path(DESTINATION_CLASS)
    }

    pub fn instance(&self) -> CimInstance {
        let mut inst = CimInstance::new(DESTINATION_CLASS);
        self.key.set_on(&mut inst);
        inst.set("Destination", self.destination.as_str());
        inst.set("Protocol", 2u16);
        if let Some(p) = self.persistence_type {
            inst.set("PersistenceType", p);
        }
        if let Some(e) = &self.element_name {
            inst.set("ElementName", e.as_str());
        }
        inst.path = Some(self.path());
        inst
    }
}

/// `CIM_ERR_INVALID_PARAMETER` unless `url` is an http(s) URL with a host.
pub fn check_url(url: &str) -> CimResult<()> {
    let bad = |why: &str| CimError::invalid_parameter(format!("Destination `{url}`: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(())
}

/// A CIM_IndicationSubscription between a filter and a destination.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubscriptionRec {
    pub filter: ObjKey,
    pub handler: ObjKey,
    pub state: u16,
    pub on_fatal_error_policy: Option<u16>,
    /// Seconds the subscription lives; `None` = until deleted.
    pub duration: Option<u64>,
    /// Seconds since the Unix epoch.
    pub start_time: u64,
    pub last_state_change: u64,
    pub info: Option<String>,
}

/// Seconds since the Unix epoch now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn datetime(secs: u64) -> CimDateTime {
    CimDateTime::from_system_time(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The filter or handler key a subscription's reference property names;
/// references into another namespace are refused.
pub fn ref_key(inst: &CimInstance, role: &str) -> CimResult<ObjKey> {
    let r = match inst.get(role) {
        Some(CimValue::Reference(r)) => r,
        Some(_) => {
            return Err(CimError::invalid_parameter(format!(
                "{role} must be a reference"
            )))
        }
        None => return Err(CimError::invalid_parameter(format!("{role} is required"))),
    };
    if r.namespace
        .as_deref()
        .is_some_and(|ns| !namespace_eq(ns, INTEROP_NS))
    {
        return Err(CimError::invalid_parameter(format!(
            "{role} must name an instance in {INTEROP_NS}"
        )));
    }
    ObjKey::from_path(r).ok_or_else(|| {
        CimError::invalid_parameter(format!("{role} reference lacks one of its four keys"))
    })
}

/// A u16 property, checked against `allowed`.
pub fn u16_prop(inst: &CimInstance, name: &str, allowed: &[u16]) -> CimResult<Option<u16>> {
    match inst.get(name) {
        None => Ok(None),
        Some(v) => match v.as_i128() {
            Some(n) if allowed.iter().any(|a| i128::from(*a) == n) => Ok(Some(n as u16)),
            _ => Err(CimError::not_supported(format!(
                "{name} {v} is not supported; use one of {allowed:?}"
            ))),
        },
    }
}

impl SubscriptionRec {
    pub fn from_new(inst: &CimInstance) -> CimResult<SubscriptionRec> {
        let now = now_secs();
        // vine delivers every matching indication: repeat suppression or
        // delay (RepeatNotificationPolicy 3, 4) would be silently ignored.
        u16_prop(inst, "RepeatNotificationPolicy", &[0, 2])?;
        Ok(SubscriptionRec {
            filter: ref_key(inst, "Filter")?,
            handler: ref_key(inst, "Handler")?,
            state: u16_prop(inst, "SubscriptionState", &[STATE_ENABLED, STATE_DISABLED])?
                .unwrap_or(STATE_ENABLED),
            on_fatal_error_policy: u16_prop(
                inst,
                "OnFatalErrorPolicy",
                &[POLICY_IGNORE, POLICY_DISABLE, POLICY_REMOVE],
            )?,
            duration: match inst.get("SubscriptionDuration") {
                None => None,
                Some(v) => Some(v.as_i128().and_then(|n| u64::try_from(n).ok()).ok_or_else(
                    || CimError::invalid_parameter("SubscriptionDuration must be a uint64"),
                )?),
            },
            start_time: now,
            last_state_change: now,
            info: inst.get_str("SubscriptionInfo").map(str::to_string),
        })
    }

    pub fn path(&self) -> CimInstanceName {
        CimInstanceName::new(SUBSCRIPTION_CLASS)
            .with_key("Filter", self.filter.path(FILTER_CLASS))
            .with_key("Handler", self.handler.path(DESTINATION_CLASS))
            .with_namespace(INTEROP_NS)
    }

    /// True when the subscription's duration has run out at `now`.
    pub fn expired(&self, now: u64) -> bool {
        self.duration
            .is_some_and(|d| now >= self.start_time.saturating_add(d))
    }

    /// True when indications should be delivered.
    pub fn delivering(&self, now: u64) -> bool {
        self.state != STATE_DISABLED && !self.expired(now)
    }

    pub fn instance(&self, now: u64) -> CimInstance {
        let path = self.path();
        let mut inst = CimInstance::new(SUBSCRIPTION_CLASS);
        for (k, v) in &path.key_bindings {
            inst.set(k.clone(), v.clone());
        }
        inst.set("SubscriptionState", self.state);
        inst.set(
            "OnFatalErrorPolicy",
            self.on_fatal_error_policy.unwrap_or(POLICY_IGNORE),
        );
        inst.set("RepeatNotificationPolicy", 2u16);
        inst.set("SubscriptionStartTime", datetime(self.start_time));
        inst.set("TimeOfLastStateChange", datetime(self.last_state_change));
        if let Some(d) = self.duration {
            inst.set("SubscriptionDuration", d);
            let end = self.start_time.saturating_add(d);
            inst.set("SubscriptionTimeRemaining", end.saturating_sub(now));
        }
        if let Some(i) = &self.info {
            inst.set("SubscriptionInfo", i.as_str());
        }
        inst.path = Some(path);
        inst
    }

    /// The subscription `path` names, or `None` when a key is unreadable.
    pub fn keys_of(path: &CimInstanceName) -> Option<(ObjKey, ObjKey)> {
        let key = |role: &str| match path.key(role) {
            Some(CimValue::Reference(r)) => ObjKey::from_path(r),
            _ => None,
        };
        Some((key("Filter")?, key("Handler")?))
    }
}

/// Everything the state file holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub filters: Vec<FilterRec>,
    pub destinations: Vec<DestinationRec>,
    pub subscriptions: Vec<SubscriptionRec>,
}
