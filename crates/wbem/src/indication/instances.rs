//! The intrinsic operations on CIM_IndicationFilter,
//! CIM_ListenerDestinationCIMXML and CIM_IndicationSubscription in
//! root/interop, as pywbem's WBEMSubscriptionManager drives them.
//!
//! Choices: a filter or destination still used by a subscription cannot be
//! deleted (`CIM_ERR_FAILED`, as pywbem's own manager refuses it); filters
//! and destinations are not modifiable; of a subscription, ModifyInstance
//! changes SubscriptionState (Enabled/Disabled), SubscriptionDuration and
//! SubscriptionInfo and ignores the other, read-only properties.

use async_trait::async_trait;
use vine_cim::{CimClass, CimError, CimInstance, CimInstanceName, CimResult, CimStatus, CimValue};

use super::matching::{compile, Filter};
use super::model::{
    now_secs, u16_prop, DestinationRec, FilterRec, ObjKey, SubscriptionRec, DESTINATION_CLASS,
    FILTER_CLASS, SERVICE_CLASS, STATE_DISABLED, STATE_ENABLED, SUBSCRIPTION_CLASS,
};
use super::service::{IndicationService, Sub};
use crate::provider::{InstanceProvider, RequestContext};

fn already_exists(what: &str, name: &str) -> CimError {
    CimError::new(
        CimStatus::AlreadyExists,
        format!("{what} {name} already exists"),
    )
}

fn is(class: &CimClass, name: &str) -> bool {
    class.name.as_str().eq_ignore_ascii_case(name)
}

fn obj_key(name: &CimInstanceName) -> CimResult<ObjKey> {
    ObjKey::from_path(name).ok_or_else(|| {
        CimError::invalid_parameter(format!("{} lacks one of its four keys", name.local()))
    })
}

fn sub_key(name: &CimInstanceName) -> CimResult<(ObjKey, ObjKey)> {
    SubscriptionRec::keys_of(name).ok_or_else(|| {
        CimError::invalid_parameter("Filter and Handler must reference a filter and a destination")
    })
}

#[async_trait]
impl InstanceProvider for IndicationService {
    async fn enumerate_instances(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        if is(class, SERVICE_CLASS) {
            return Ok(vec![self.service_instance(&self.cimom()?.config().host)]);
        }
        let now = now_secs();
        let t = self.lock();
        Ok(if is(class, FILTER_CLASS) {
            t.filters.iter().map(|f| f.rec.instance()).collect()
        } else if is(class, DESTINATION_CLASS) {
            t.destinations
                .iter()
                .map(DestinationRec::instance)
                .collect()
        } else if is(class, SUBSCRIPTION_CLASS) {
            t.subscriptions
                .iter()
                .filter(|s| !s.rec.expired(now))
                .map(|s| s.rec.instance(now))
                .collect()
        } else {
            Vec::new()
        })
    }

    async fn get_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        if is(class, SERVICE_CLASS) {
            let inst = self.service_instance(&self.cimom()?.config().host);
            return match &inst.path {
                Some(p) if p.same_object(name) => Ok(inst),
                _ => Err(CimError::not_found(name.local())),
            };
        }
        let now = now_secs();
        let t = self.lock();
        let found = if is(class, SUBSCRIPTION_CLASS) {
            let k = sub_key(name)?;
            t.subscriptions
                .iter()
                .find(|s| s.rec.filter == k.0 && s.rec.handler == k.1 && !s.rec.expired(now))
                .map(|s| s.rec.instance(now))
        } else {
            let k = obj_key(name)?;
            if is(class, FILTER_CLASS) {
                t.filters
                    .iter()
                    .find(|f| f.rec.key == k)
                    .map(|f| f.rec.instance())
            } else {
                t.destinations
                    .iter()
                    .find(|d| d.key == k)
                    .map(DestinationRec::instance)
            }
        };
        found.ok_or_else(|| CimError::not_found(name.local()))
    }

    async fn create_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        inst: CimInstance,
    ) -> CimResult<CimInstanceName> {
        let cimom = self.cimom()?;
        let host = cimom.config().host.clone();
        if is(class, FILTER_CLASS) {
            let rec = FilterRec::from_new(&inst, &host)?;
            let query = compile(&rec, &cimom.repo())?;
            let path = rec.path();
            self.commit(|t| {
                if t.filters.iter().any(|f| f.rec.key == rec.key) {
                    return Err(already_exists("filter", &rec.key.name));
                }
                tracing::info!(filter = %rec.key.name, query = %rec.query, "indication filter created");
                t.filters.push(Filter {
                    rec,
                    query: Some(query),
                });
                Ok(())
            })?;
            Ok(path)
        } else if is(class, DESTINATION_CLASS) {
            let rec = DestinationRec::from_new(&inst, &host)?;
            let path = rec.path();
            self.commit(|t| {
                if t.destinations.iter().any(|d| d.key == rec.key) {
                    return Err(already_exists("listener destination", &rec.key.name));
                }
                tracing::info!(destination = %rec.key.name, url = %rec.destination, "listener destination created");
                t.destinations.push(rec);
                Ok(())
            })?;
            Ok(path)
        } else if is(class, SUBSCRIPTION_CLASS) {
            let rec = SubscriptionRec::from_new(&inst)?;
            let path = rec.path();
            self.commit(|t| {
                if !t.filters.iter().any(|f| f.rec.key == rec.filter) {
                    return Err(CimError::invalid_parameter(format!(
                        "Filter: no filter named {}",
                        rec.filter.name
                    )));
                }
                if !t.destinations.iter().any(|d| d.key == rec.handler) {
                    return Err(CimError::invalid_parameter(format!(
                        "Handler: no listener destination named {}",
                        rec.handler.name
                    )));
                }
                if t
                    .subscriptions
                    .iter()
                    .any(|s| s.rec.filter == rec.filter && s.rec.handler == rec.handler)
                {
                    return Err(CimError::new(
                        CimStatus::AlreadyExists,
                        format!(
                            "filter {} is already subscribed to {}",
                            rec.filter.name, rec.handler.name
                        ),
                    ));
                }
                tracing::info!(filter = %rec.filter.name, handler = %rec.handler.name, "indication subscription created");
                t.subscriptions.push(Sub {
                    rec,
                    activated: false,
                    delivered: 0,
                    failed: 0,
                    last_error: None,
                });
                Ok(())
            })?;
            self.sync_activations();
            Ok(path)
        } else {
            Err(CimError::not_supported(format!(
                "instances of {} cannot be created",
                class.name
            )))
        }
    }

    async fn modify_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        inst: CimInstance,
        property_list: Option<&[String]>,
    ) -> CimResult<()> {
        if !is(class, SUBSCRIPTION_CLASS) {
            return Err(CimError::not_supported(format!(
                "instances of {} cannot be modified; delete and create",
                class.name
            )));
        }
        let path = inst
            .path
            .as_ref()
            .ok_or_else(|| CimError::invalid_parameter("ModifiedInstance has no path"))?;
        let k = sub_key(path)?;
        let wanted = |n: &str| {
            property_list.is_none_or(|l| l.iter().any(|p| p.eq_ignore_ascii_case(n)))
                && inst.property(n).is_some()
        };
        let state = if wanted("SubscriptionState") {
            u16_prop(
                &inst,
                "SubscriptionState",
                &[STATE_ENABLED, super::model::STATE_DEGRADED, STATE_DISABLED],
            )?
        } else {
            None
        };
        let duration = if wanted("SubscriptionDuration") {
            Some(match inst.get("SubscriptionDuration") {
                None => None,
                Some(v) => Some(v.as_i128().and_then(|n| u64::try_from(n).ok()).ok_or_else(
                    || CimError::invalid_parameter("SubscriptionDuration must be a uint64"),
                )?),
            })
        } else {
            None
        };
        let info = wanted("SubscriptionInfo").then(|| {
            inst.get("SubscriptionInfo")
                .and_then(CimValue::as_str)
                .map(str::to_string)
        });
        let now = now_secs();
        self.commit(|t| {
            let s = t
                .subscriptions
                .iter_mut()
                .find(|s| s.rec.filter == k.0 && s.rec.handler == k.1)
                .ok_or_else(|| CimError::not_found(path.local()))?;
            if let Some(st) = state {
                // A client enables or disables; Degraded is the service's
                // to set, so asking for it (or Enabled) means "enabled".
                let st = if st == STATE_DISABLED {
                    STATE_DISABLED
                } else {
                    STATE_ENABLED
                };
                if s.rec.state != st {
                    s.rec.state = st;
                    s.rec.last_state_change = now;
                }
            }
            if let Some(d) = duration {
                s.rec.duration = d;
            }
            if let Some(i) = info {
                s.rec.info = i;
            }
            Ok(())
        })?;
        self.sync_activations();
        Ok(())
    }

    async fn delete_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<()> {
        if is(class, SUBSCRIPTION_CLASS) {
            let k = sub_key(name)?;
            let gone = self.commit(|t| {
                let i = t
                    .subscriptions
                    .iter()
                    .position(|s| s.rec.filter == k.0 && s.rec.handler == k.1)
                    .ok_or_else(|| CimError::not_found(name.local()))?;
                Ok(t.subscriptions.remove(i))
            })?;
            tracing::info!(filter = %k.0.name, handler = %k.1.name, "indication subscription deleted");
            self.ended(vec![gone]);
            return Ok(());
        }
        if !is(class, FILTER_CLASS) && !is(class, DESTINATION_CLASS) {
            return Err(CimError::not_supported(format!(
                "instances of {} cannot be deleted",
                class.name
            )));
        }
        let k = obj_key(name)?;
        let filter = is(class, FILTER_CLASS);
        self.commit(|t| {
            let users = t
                .subscriptions
                .iter()
                .filter(|s| {
                    if filter {
                        s.rec.filter == k
                    } else {
                        s.rec.handler == k
                    }
                })
                .count();
            if users > 0 {
                return Err(CimError::failed(format!(
                    "{} {} is used by {users} subscription(s); delete them first",
                    class.name, k.name
                )));
            }
            let before = t.filters.len() + t.destinations.len();
            if filter {
                t.filters.retain(|f| f.rec.key != k);
            } else {
                t.destinations.retain(|d| d.key != k);
            }
            if t.filters.len() + t.destinations.len() == before {
                return Err(CimError::not_found(name.local()));
            }
            Ok(())
        })?;
        if !filter {
            self.drop_queue(&k);
        }
        tracing::info!(class = %class.name, name = %k.name, "deleted");
        Ok(())
    }
}
