//! What happens to subscriptions over time: indication providers told
//! when they start and end, expiry, and the outcome of deliveries
//! (OnFatalErrorPolicy).

use std::sync::Arc;

use vine_cim::name::namespace_eq;
use vine_cim::CimInstanceName;

use super::delivery::{DeliveryError, DeliveryEvents, SubKey};
use super::matching::{is_a, Filter};
use super::model::{
    now_secs, POLICY_DISABLE, POLICY_REMOVE, STATE_DEGRADED, STATE_DISABLED, STATE_ENABLED,
};
use super::service::{IndicationService, Sub, Table};
use crate::provider::{IndicationFilterInfo, IndicationProvider};

/// A provider told that a subscription started (`on`) or ended.
struct Transition {
    on: bool,
    filter: Filter,
    path: CimInstanceName,
}

impl IndicationService {
    /// DSP1054: a subscription whose SubscriptionDuration ran out goes away.
    pub(super) fn remove_expired(&self) {
        let now = now_secs();
        let removed = self.commit(|t| {
            let (gone, kept): (Vec<Sub>, Vec<Sub>) =
                t.subscriptions.drain(..).partition(|s| s.rec.expired(now));
            t.subscriptions = kept;
            Ok(gone)
        });
        match removed {
            Ok(gone) => {
                for s in &gone {
                    tracing::info!(filter = %s.rec.filter.name, handler = %s.rec.handler.name, "subscription expired");
                }
                self.ended(gone);
            }
            Err(e) => tracing::warn!(error = %e, "expired subscriptions not removed"),
        }
    }

    /// Tells providers that removed subscriptions ended.
    pub(super) fn ended(&self, removed: Vec<Sub>) {
        let filters = self.lock().filters.clone();
        let ts = removed
            .into_iter()
            .filter(|s| s.activated)
            .filter_map(|s| {
                let filter = filters.iter().find(|f| f.rec.key == s.rec.filter)?.clone();
                Some(Transition {
                    on: false,
                    filter,
                    path: s.rec.path(),
                })
            })
            .collect();
        self.notify_providers(ts);
    }

    /// Brings the providers' view in line with the table: every delivering
    /// subscription activated, every other one not.
    pub(super) fn sync_activations(&self) {
        if self.cimom().is_err() {
            return; // attach comes first; start syncs again
        }
        let now = now_secs();
        let ts: Vec<Transition> = {
            let mut t = self.lock();
            let Table {
                filters,
                subscriptions,
                ..
            } = &mut *t;
            let mut ts = Vec::new();
            for s in subscriptions.iter_mut() {
                let Some(f) = filters.iter().find(|f| f.rec.key == s.rec.filter) else {
                    continue;
                };
                let want = s.rec.delivering(now) && f.query.is_some();
                if want != s.activated {
                    s.activated = want;
                    ts.push(Transition {
                        on: want,
                        filter: f.clone(),
                        path: s.rec.path(),
                    });
                }
            }
            ts
        };
        self.notify_providers(ts);
    }

    /// Calls the indication providers whose class a transition's filter
    /// can select, in the filter's source namespaces. No lock is held.
    fn notify_providers(&self, ts: Vec<Transition>) {
        let Ok(cimom) = self.cimom() else {
            return;
        };
        for t in ts {
            let Some(q) = &t.filter.query else {
                continue;
            };
            let calls: Vec<(Arc<dyn IndicationProvider>, IndicationFilterInfo)> = {
                let repo = cimom.repo();
                let from = q.class_name.as_str();
                let mut calls = Vec::new();
                for ns in t.filter.rec.effective_namespaces() {
                    for (pns, class, p) in cimom.registry().indication_providers() {
                        if namespace_eq(pns, &ns)
                            && (is_a(&repo, &ns, class, from) || is_a(&repo, &ns, from, class))
                        {
                            calls.push((
                                p.clone(),
                                IndicationFilterInfo {
                                    subscription: t.path.clone(),
                                    filter_name: t.filter.rec.key.name.clone(),
                                    namespace: ns.clone(),
                                    class: class.into(),
                                    query: q.clone(),
                                },
                            ));
                        }
                    }
                }
                calls
            };
            for (p, info) in calls {
                if t.on {
                    p.activate_filter(&info);
                } else {
                    p.deactivate_filter(&info);
                }
            }
        }
    }
}

impl DeliveryEvents for IndicationService {
    fn wanted(&self, sub: &SubKey) -> bool {
        let now = now_secs();
        self.lock()
            .subscriptions
            .iter()
            .any(|s| s.is(sub) && s.rec.delivering(now))
    }

    fn delivered(&self, sub: &SubKey) {
        let recovered = {
            let mut t = self.lock();
            let Some(s) = t.subscriptions.iter_mut().find(|s| s.is(sub)) else {
                return;
            };
            s.delivered += 1;
            s.rec.state == STATE_DEGRADED
        };
        if recovered {
            let _ = self.commit(|t| {
                if let Some(s) = t.subscriptions.iter_mut().find(|s| s.is(sub)) {
                    s.rec.state = STATE_ENABLED;
                    s.rec.last_state_change = now_secs();
                }
                Ok(())
            });
        }
    }

    fn failed(&self, sub: &SubKey, error: &DeliveryError) {
        let policy = {
            let mut t = self.lock();
            let Some(s) = t.subscriptions.iter_mut().find(|s| s.is(sub)) else {
                return;
            };
            s.failed += 1;
            s.last_error = Some(error.to_string());
            s.rec.on_fatal_error_policy
        };
        let now = now_secs();
        let result = match policy {
            Some(POLICY_REMOVE) => self
                .commit(|t| {
                    let i = t.subscriptions.iter().position(|s| s.is(sub));
                    Ok(i.map(|i| t.subscriptions.remove(i)))
                })
                .map(|gone| {
                    tracing::warn!(filter = %sub.0.name, handler = %sub.1.name, "subscription removed after a delivery failure (OnFatalErrorPolicy Remove)");
                    self.ended(gone.into_iter().collect());
                }),
            other => {
                let state = if other == Some(POLICY_DISABLE) {
                    STATE_DISABLED
                } else {
                    STATE_DEGRADED
                };
                self.commit(|t| {
                    if let Some(s) = t.subscriptions.iter_mut().find(|s| s.is(sub)) {
                        if s.rec.state != state {
                            s.rec.state = state;
                            s.rec.last_state_change = now;
                        }
                    }
                    Ok(())
                })
                .map(|()| self.sync_activations())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "subscription state after a delivery failure not saved");
        }
    }
}
