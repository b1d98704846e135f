//! Which provider serves which class in which namespace.

use std::collections::HashMap;
use std::sync::Arc;

use vine_cim::name::normalize_namespace;

use crate::provider::{AssociationProvider, IndicationProvider, InstanceProvider, MethodProvider};

type Key = (String, String); // (folded namespace, folded class)

fn key(ns: &str, class: &str) -> Key {
    (
        normalize_namespace(ns).to_ascii_lowercase(),
        class.to_ascii_lowercase(),
    )
}

/// Providers by namespace and concrete class. Filled at start-up, then
/// read-only, so lookups take no lock.
#[derive(Default, Clone)]
pub struct Registry {
    instances: HashMap<Key, Arc<dyn InstanceProvider>>,
    associations: HashMap<Key, Arc<dyn AssociationProvider>>,
    methods: HashMap<Key, Arc<dyn MethodProvider>>,
    /// Indication providers with the namespace and class as registered
    /// (the service relates the class to filters' FROM classes).
    indications: Vec<(String, String, Arc<dyn IndicationProvider>)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// `provider` serves the instances of `class` in `ns`.
    pub fn register_instances(
        &mut self,
        ns: &str,
        class: &str,
        provider: Arc<dyn InstanceProvider>,
    ) {
        self.instances.insert(key(ns, class), provider);
    }

    /// `provider` finds association instances of `class` from one end.
    pub fn register_associations(
        &mut self,
        ns: &str,
        class: &str,
        provider: Arc<dyn AssociationProvider>,
    ) {
        self.associations.insert(key(ns, class), provider);
    }

    /// `provider` runs the extrinsic methods of `class`.
    pub fn register_methods(&mut self, ns: &str, class: &str, provider: Arc<dyn MethodProvider>) {
        self.methods.insert(key(ns, class), provider);
    }

    /// `provider` publishes indications of `class` (or its subclasses)
    /// from sources in `ns`, and wants to hear about subscriptions to them.
    pub fn register_indications(
        &mut self,
        ns: &str,
        class: &str,
        provider: Arc<dyn IndicationProvider>,
    ) {
        self.indications
            .push((normalize_namespace(ns), class.to_string(), provider));
    }

    /// Every indication provider as (namespace, class, provider).
    pub fn indication_providers(
        &self,
    ) -> impl Iterator<Item = (&str, &str, &Arc<dyn IndicationProvider>)> {
        self.indications
            .iter()
            .map(|(ns, class, p)| (ns.as_str(), class.as_str(), p))
    }

    /// The instance provider of exactly `class`.
    pub fn instance_provider(&self, ns: &str, class: &str) -> Option<&Arc<dyn InstanceProvider>> {
        self.instances.get(&key(ns, class))
    }

    /// The association provider of exactly `class`.
    pub fn association_provider(
        &self,
        ns: &str,
        class: &str,
    ) -> Option<&Arc<dyn AssociationProvider>> {
        self.associations.get(&key(ns, class))
    }

    /// The method provider of exactly `class`.
    pub fn method_provider(&self, ns: &str, class: &str) -> Option<&Arc<dyn MethodProvider>> {
        self.methods.get(&key(ns, class))
    }
}
