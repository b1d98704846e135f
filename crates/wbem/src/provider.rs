//! Provider traits: how a CIM class is backed by a domain API.
//!
//! Providers register per namespace and per concrete class with the
//! server's [`Registry`](crate::server::Registry). The dispatcher calls the
//! providers of the requested class and of each of its subclasses, and
//! applies the DSP0200 filters (PropertyList, DeepInheritance, roles) itself,
//! so a provider only answers "which instances of my class exist".
//! Indication providers publish through an
//! [`IndicationSink`](crate::indication::IndicationSink) and learn from
//! [`IndicationProvider`] whether anyone subscribed.

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimName, CimParamValue, CimResult,
    CimStatus, CimValue,
};

use crate::query::Query;

/// What a provider learns about the request it serves.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The namespace of the operation, normalized (`root/virt`).
    pub namespace: String,
    /// The authenticated user, for audit logs.
    pub user: String,
}

/// Instances of one class.
#[async_trait]
pub trait InstanceProvider: Send + Sync + 'static {
    /// Every instance of exactly `class` (not its subclasses), each with its
    /// path set.
    async fn enumerate_instances(
        &self,
        ctx: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>>;

    /// The paths of every instance of `class`.
    async fn enumerate_instance_names(
        &self,
        ctx: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstanceName>> {
        Ok(self
            .enumerate_instances(ctx, class)
            .await?
            .into_iter()
            .map(|i| {
                i.path
                    .unwrap_or_else(|| CimInstanceName::new(class.name.clone()))
            })
            .collect())
    }

    /// The instance at `name`; `CIM_ERR_NOT_FOUND` when there is none.
    async fn get_instance(
        &self,
        ctx: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        self.enumerate_instances(ctx, class)
            .await?
            .into_iter()
            .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(name)))
            .ok_or_else(|| CimError::not_found(name.local()))
    }

    /// Creates an instance and returns its path.
    async fn create_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        _instance: CimInstance,
    ) -> CimResult<CimInstanceName> {
        Err(CimError::not_supported(format!(
            "instances of {} cannot be created",
            class.name
        )))
    }

    /// Replaces the properties named by `property_list` (all when `None`)
    /// with those of `instance`.
    async fn modify_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        _instance: CimInstance,
        _property_list: Option<&[String]>,
    ) -> CimResult<()> {
        Err(CimError::not_supported(format!(
            "instances of {} cannot be modified",
            class.name
        )))
    }

    /// Deletes the instance at `name`.
    async fn delete_instance(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
        _name: &CimInstanceName,
    ) -> CimResult<()> {
        Err(CimError::not_supported(format!(
            "instances of {} cannot be deleted",
            class.name
        )))
    }
}

/// Instances of an association class, found from one end. Optional: without
/// it the dispatcher enumerates the association's instances and filters.
#[async_trait]
pub trait AssociationProvider: Send + Sync + 'static {
    /// The association instances of exactly `assoc_class` that refer to
    /// `object` (through `role` when given).
    async fn references(
        &self,
        ctx: &RequestContext,
        assoc_class: &CimClass,
        object: &CimInstanceName,
        role: Option<&str>,
    ) -> CimResult<Vec<CimInstance>>;
}

/// The target of an extrinsic method call.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodTarget {
    /// A static method, called on the class.
    Class(vine_cim::CimName),
    /// A method of an instance.
    Instance(CimInstanceName),
}

/// What a method returns: its return value and OUT parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodResult {
    pub return_value: Option<CimValue>,
    pub out_params: Vec<CimParamValue>,
}

impl MethodResult {
    /// A uint32 return code with no OUT parameters, the DMTF convention.
    pub fn code(rc: u32) -> Self {
        MethodResult {
            return_value: Some(CimValue::Uint32(rc)),
            out_params: Vec::new(),
        }
    }

    /// Adds an OUT parameter (builder style).
    pub fn with_out(mut self, name: &str, value: impl Into<CimValue>) -> Self {
        self.out_params.push(CimParamValue::new(name, value));
        self
    }
}

/// Extrinsic methods of one class.
#[async_trait]
pub trait MethodProvider: Send + Sync + 'static {
    /// Runs `method` on `target`. `params` are the IN parameters, already
    /// typed by the dispatcher from the method's declaration.
    async fn invoke_method(
        &self,
        ctx: &RequestContext,
        class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult>;
}

/// A subscription's filter as an indication provider sees it.
#[derive(Clone, Debug)]
pub struct IndicationFilterInfo {
    /// The CIM_IndicationSubscription the activation belongs to; the same
    /// path comes back in the matching deactivation.
    pub subscription: CimInstanceName,
    /// The filter's Name.
    pub filter_name: String,
    /// The source namespace the filter watches (one activation per source
    /// namespace the provider is registered in).
    pub namespace: String,
    /// The indication class the provider registered that the filter can
    /// select: the FROM class, one of its subclasses or one of its ancestors.
    pub class: CimName,
    /// The filter's parsed query.
    pub query: Query,
}

/// Learns when subscriptions that can select the provider's indication
/// classes come and go, so that it produces indications only while
/// someone listens. Registered per namespace and indication class with
/// [`Registry::register_indications`](crate::server::Registry::register_indications).
/// Both calls come from the indication service, never while it holds a
/// lock, and must return quickly (spawn if there is work to do).
pub trait IndicationProvider: Send + Sync + 'static {
    /// A subscription became active: created enabled, enabled again, or
    /// loaded from the state directory at start.
    fn activate_filter(&self, filter: &IndicationFilterInfo);

    /// A subscription stopped: deleted, disabled, expired or removed after
    /// delivery failures. Pairs with one earlier `activate_filter`.
    fn deactivate_filter(&self, filter: &IndicationFilterInfo);
}

/// Finds a parameter by name in a call's IN parameters.
pub fn param<'a>(params: &'a [CimParamValue], name: &str) -> Option<&'a CimValue> {
    params
        .iter()
        .find(|p| p.name.matches(name))
        .and_then(|p| p.value.as_ref())
}

/// A required parameter, or `CIM_ERR_INVALID_PARAMETER` naming it.
pub fn required_param<'a>(params: &'a [CimParamValue], name: &str) -> CimResult<&'a CimValue> {
    param(params, name).ok_or_else(|| {
        CimError::new(
            CimStatus::InvalidParameter,
            format!("parameter {name} is required"),
        )
    })
}
