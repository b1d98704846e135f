//! From a decoded CIM-XML request to an encoded response: header checks
//! (DSP0200 §7.3: CIMMethod and CIMObject must agree with the body),
//! authorization by role, parameter parsing, the operation, the encoding.

use std::sync::Arc;
use std::time::Duration;

use vine_cim::{
    CimError, CimInstance, CimInstanceName, CimName, CimParamValue, CimResult, CimStatus, CimValue,
};
use vine_cimxml::{
    DecodeErrorKind, DecodeLimits, IntrinsicMethod, IntrinsicResponse, MethodResponse, ObjectName,
    ObjectWithPath, ParamValue, Request, ReturnValue,
};

use super::assoc::AssocFilter;
use super::ops::{ClassOptions, InstanceOptions};
use super::params::Params;
use super::pull::{PullBatch, PullItems, PullKind, PullResult};
use super::Cimom;
use crate::auth::Role;
use crate::provider::{MethodTarget, RequestContext};
use crate::query::{self, QueryLanguage};
use crate::transport::{
    CimErrorHeader, HandlerFuture, OperationHandler, OperationRequest, OperationResponse,
};

/// Serves CIM-XML operation requests from a [`Cimom`].
pub struct Dispatcher {
    cimom: Arc<Cimom>,
    limits: DecodeLimits,
}

impl Dispatcher {
    /// A dispatcher over `cimom`.
    pub fn new(cimom: Arc<Cimom>) -> Arc<Self> {
        Arc::new(Dispatcher {
            cimom,
            limits: DecodeLimits::default(),
        })
    }

    async fn answer(&self, req: OperationRequest) -> OperationResponse {
        let msg = match vine_cimxml::decode_request(&req.body, &self.limits) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "rejecting undecodable request");
                return OperationResponse::Rejected(match e.kind {
                    DecodeErrorKind::NotWellFormed => CimErrorHeader::RequestNotWellFormed,
                    DecodeErrorKind::UnsupportedProtocolVersion => {
                        CimErrorHeader::UnsupportedProtocolVersion
                    }
                    DecodeErrorKind::UnsupportedCimVersion => CimErrorHeader::UnsupportedCimVersion,
                    DecodeErrorKind::UnsupportedDtdVersion => CimErrorHeader::UnsupportedDtdVersion,
                    _ => CimErrorHeader::RequestNotValid,
                });
            }
        };
        if !headers_agree(&req, &msg.request) {
            return OperationResponse::Rejected(CimErrorHeader::HeaderMismatch);
        }
        match msg.request {
            Request::Intrinsic {
                namespace,
                method,
                params,
            } => {
                let ctx = RequestContext {
                    namespace: vine_cim::name::normalize_namespace(&namespace),
                    user: req.user.name.clone(),
                };
                let result = if req.user.role == Role::Reader && !is_read_only(&method) {
                    Err(CimError::new(
                        CimStatus::AccessDenied,
                        format!("user {} may only read", req.user.name),
                    ))
                } else {
                    self.intrinsic(&ctx, &method, &params).await
                };
                log_result(&req.user.name, method.as_str(), &result);
                let xml = vine_cimxml::encode_intrinsic_response(&msg.id, method.as_str(), &result);
                body(xml, result.as_ref().err())
            }
            Request::Extrinsic {
                target,
                method,
                params,
            } => {
                let result = if req.user.role == Role::Reader {
                    Err(CimError::new(
                        CimStatus::AccessDenied,
                        format!("user {} may not invoke methods", req.user.name),
                    ))
                } else {
                    self.extrinsic(&req.user.name, target, &method, params)
                        .await
                };
                log_result(&req.user.name, method.as_str(), &result);
                let xml = vine_cimxml::encode_method_response(&msg.id, method.as_str(), &result);
                body(xml, result.as_ref().err())
            }
        }
    }

    async fn extrinsic(
        &self,
        user: &str,
        target: vine_cimxml::MethodTarget,
        method: &CimName,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResponse> {
        let ns = vine_cim::name::normalize_namespace(target.namespace().unwrap_or_default());
        let class = self
            .cimom
            .class_for_instances(&ns, target.class_name().as_str())?;
        let decl = class.method(method.as_str()).cloned().ok_or_else(|| {
            CimError::new(
                CimStatus::MethodNotFound,
                format!("{} has no method {method}", class.name),
            )
        })?;
        let target = match target {
            vine_cimxml::MethodTarget::Instance(p) => {
                self.cimom.check_keys(&class, &p)?;
                MethodTarget::Instance(p)
            }
            vine_cimxml::MethodTarget::Class(c) => MethodTarget::Class(c.class_name),
        };
        let params = type_params(&decl, params)?;
        let provider = self
            .cimom
            .registry()
            .method_provider(&ns, class.name.as_str())
            .cloned()
            .ok_or_else(|| {
                CimError::new(
                    CimStatus::MethodNotAvailable,
                    format!("{}.{} is not implemented", class.name, decl.name),
                )
            })?;
        let ctx = RequestContext {
            namespace: ns,
            user: user.to_string(),
        };
        let r = provider
            .invoke_method(&ctx, &class, &target, &decl, params)
            .await?;
        Ok(MethodResponse {
            return_value: r.return_value,
            out_params: r.out_params,
        })
    }

    async fn intrinsic(
        &self,
        ctx: &RequestContext,
        method: &IntrinsicMethod,
        params: &[(CimName, ParamValue)],
    ) -> CimResult<IntrinsicResponse> {
        use IntrinsicMethod as M;
        let c = &self.cimom;
        let op = method.as_str();
        let ns = ctx.namespace.as_str();
        let ret = match method {
            M::GetClass => {
                let p = Params::new(
                    op,
                    params,
                    &[
                        "ClassName",
                        "LocalOnly",
                        "IncludeQualifiers",
                        "IncludeClassOrigin",
                        "PropertyList",
                    ],
                )?;
                let name = p.required_class_name("ClassName")?;
                let opts = class_options(&p)?;
                ReturnValue::Classes(vec![c.get_class(ns, name.as_str(), &opts)?])
            }
            M::EnumerateClasses => {
                let p = Params::new(
                    op,
                    params,
                    &[
                        "ClassName",
                        "DeepInheritance",
                        "LocalOnly",
                        "IncludeQualifiers",
                        "IncludeClassOrigin",
                    ],
                )?;
                let parent = p.class_name("ClassName")?;
                let deep = p.bool("DeepInheritance", false)?;
                ReturnValue::Classes(c.enumerate_classes(
                    ns,
                    parent.as_ref().map(|n| n.as_str()),
                    deep,
                    &class_options(&p)?,
                )?)
            }
            M::EnumerateClassNames => {
                let p = Params::new(op, params, &["ClassName", "DeepInheritance"])?;
                let parent = p.class_name("ClassName")?;
                ReturnValue::ClassNames(c.enumerate_class_names(
                    ns,
                    parent.as_ref().map(|n| n.as_str()),
                    p.bool("DeepInheritance", false)?,
                )?)
            }
            M::GetQualifier => {
                let p = Params::new(op, params, &["QualifierName"])?;
                ReturnValue::QualifierDecl(
                    c.get_qualifier(ns, &p.required_string("QualifierName")?)?,
                )
            }
            M::EnumerateQualifiers => {
                Params::new(op, params, &[])?;
                ReturnValue::QualifierDecls(c.enumerate_qualifiers(ns)?)
            }
            M::GetInstance => {
                let p = Params::new(
                    op,
                    params,
                    &[
                        "InstanceName",
                        "LocalOnly",
                        "IncludeQualifiers",
                        "IncludeClassOrigin",
                        "PropertyList",
                    ],
                )?;
                let name = p.instance_name("InstanceName")?;
                let mut inst = c.get_instance(ctx, &name, &instance_options(&p)?).await?;
                // GetInstance returns a bare INSTANCE; the path stays implied.
                inst.path = None;
                ReturnValue::Instance(inst)
            }
            M::EnumerateInstances => {
                let p = Params::new(
                    op,
                    params,
                    &[
                        "ClassName",
                        "LocalOnly",
                        "DeepInheritance",
                        "IncludeQualifiers",
                        "IncludeClassOrigin",
                        "PropertyList",
                    ],
                )?;
                let class = p.required_class_name("ClassName")?;
                let deep = p.bool("DeepInheritance", true)?;
                let mut v = c
                    .enumerate_instances(ctx, class.as_str(), deep, &instance_options(&p)?)
                    .await?;
                v.iter_mut().for_each(local_path);
                ReturnValue::NamedInstances(v)
            }
            M::EnumerateInstanceNames => {
                let p = Params::new(op, params, &["ClassName"])?;
                let mut v = c
                    .enumerate_instance_names(ctx, p.required_class_name("ClassName")?.as_str())
                    .await?;
                v.iter_mut().for_each(|n| n.namespace = None);
                ReturnValue::InstanceNames(v)
            }
            M::CreateInstance => {
                let p = Params::new(op, params, &["NewInstance"])?;
                let mut path = c.create_instance(ctx, p.instance("NewInstance")?).await?;
                path.namespace = None;
                ReturnValue::InstanceName(path)
            }
            M::ModifyInstance => {
                let p = Params::new(
                    op,
                    params,
                    &["ModifiedInstance", "IncludeQualifiers", "PropertyList"],
                )?;
                let inst = p.instance("ModifiedInstance")?;
                c.modify_instance(ctx, inst, p.property_list("PropertyList")?.as_deref())
                    .await?;
                ReturnValue::None
            }
            M::DeleteInstance => {
                let p = Params::new(op, params, &["InstanceName"])?;
                c.delete_instance(ctx, &p.instance_name("InstanceName")?)
                    .await?;
                ReturnValue::None
            }
            M::GetProperty => {
                let p = Params::new(op, params, &["InstanceName", "PropertyName"])?;
                ReturnValue::Value(
                    c.get_property(
                        ctx,
                        &p.instance_name("InstanceName")?,
                        &p.required_string("PropertyName")?,
                    )
                    .await?,
                )
            }
            M::SetProperty => {
                let p = Params::new(op, params, &["InstanceName", "PropertyName", "NewValue"])?;
                c.set_property(
                    ctx,
                    &p.instance_name("InstanceName")?,
                    &p.required_string("PropertyName")?,
                    p.value("NewValue"),
                )
                .await?;
                ReturnValue::None
            }
            M::Associators | M::AssociatorNames | M::References | M::ReferenceNames => {
                return self.classic_assoc(ctx, method, params).await;
            }
            M::ExecQuery => {
                let p = Params::new(op, params, &["QueryLanguage", "Query"])?;
                let found = self
                    .query(
                        ctx,
                        &p.required_string("QueryLanguage")?,
                        &p.required_string("Query")?,
                    )
                    .await?;
                ReturnValue::ObjectsWithPath(
                    found
                        .into_iter()
                        .map(|i| ObjectWithPath::Instance(self.full_path(i)))
                        .collect(),
                )
            }
            M::OpenEnumerateInstances
            | M::OpenEnumerateInstancePaths
            | M::OpenReferenceInstances
            | M::OpenReferenceInstancePaths
            | M::OpenAssociatorInstances
            | M::OpenAssociatorInstancePaths
            | M::OpenQueryInstances => return self.open(ctx, method, params).await,
            M::PullInstancesWithPath | M::PullInstancePaths | M::PullInstances => {
                let p = Params::new(op, params, &["EnumerationContext", "MaxObjectCount"])?;
                let id = p.required_string("EnumerationContext")?;
                let max = p
                    .u32("MaxObjectCount")?
                    .ok_or_else(|| CimError::invalid_parameter("MaxObjectCount is required"))?;
                let kind = if *method == M::PullInstancePaths {
                    PullKind::Paths
                } else {
                    PullKind::Instances
                };
                let r = c
                    .pulls
                    .pull(ns, &id, kind, max.min(c.config.max_object_count))?;
                return Ok(self.pull_response(method, r));
            }
            M::CloseEnumeration => {
                let p = Params::new(op, params, &["EnumerationContext"])?;
                c.pulls
                    .close(ns, &p.required_string("EnumerationContext")?)?;
                ReturnValue::None
            }
            M::EnumerationCount => {
                let p = Params::new(op, params, &["EnumerationContext"])?;
                let n = c
                    .pulls
                    .count(ns, &p.required_string("EnumerationContext")?)?;
                return Ok(IntrinsicResponse {
                    ret: ReturnValue::None,
                    out_params: vec![(CimName::new("Count"), CimValue::Uint64(n))],
                });
            }
            M::CreateClass
            | M::ModifyClass
            | M::DeleteClass
            | M::SetQualifier
            | M::DeleteQualifier => {
                c.check_namespace(ns)?;
                return Err(CimError::not_supported(format!(
                    "{op}: the schema is fixed; classes come from schemas/ at start"
                )));
            }
            M::Other(name) => {
                return Err(CimError::not_supported(format!(
                    "{name} is not a DSP0200 operation"
                )))
            }
        };
        Ok(IntrinsicResponse::new(ret))
    }

    async fn classic_assoc(
        &self,
        ctx: &RequestContext,
        method: &IntrinsicMethod,
        params: &[(CimName, ParamValue)],
    ) -> CimResult<IntrinsicResponse> {
        use IntrinsicMethod as M;
        let op = method.as_str();
        let names_only = matches!(method, M::AssociatorNames | M::ReferenceNames);
        let associators = matches!(method, M::Associators | M::AssociatorNames);
        let mut allowed = vec!["ObjectName", "ResultClass", "Role"];
        if associators {
            allowed.extend(["AssocClass", "ResultRole"]);
        }
        if !names_only {
            allowed.extend(["IncludeQualifiers", "IncludeClassOrigin", "PropertyList"]);
        }
        let p = Params::new(op, params, &allowed)?;
        let f = assoc_filter(&p, associators)?;
        let object = match p.object_name("ObjectName")? {
            ObjectName::Instance(i) => i,
            ObjectName::Class(c) => {
                return self.class_assoc(ctx, method, c.class_name.as_str(), &f)
            }
        };
        let c = &self.cimom;
        let ret = match method {
            M::Associators => ReturnValue::ObjectsWithPath(
                c.associators(ctx, &object, &f, &instance_options(&p)?)
                    .await?
                    .into_iter()
                    .map(|i| ObjectWithPath::Instance(self.full_path(i)))
                    .collect(),
            ),
            M::References => ReturnValue::ObjectsWithPath(
                c.references(ctx, &object, &f, &instance_options(&p)?)
                    .await?
                    .into_iter()
                    .map(|i| ObjectWithPath::Instance(self.full_path(i)))
                    .collect(),
            ),
            M::AssociatorNames => ReturnValue::ObjectPaths(
                c.associator_names(ctx, &object, &f)
                    .await?
                    .into_iter()
                    .map(|n| ObjectName::Instance(self.host_path(n)))
                    .collect(),
            ),
            _ => ReturnValue::ObjectPaths(
                c.reference_names(ctx, &object, &f)
                    .await?
                    .into_iter()
                    .map(|n| ObjectName::Instance(self.host_path(n)))
                    .collect(),
            ),
        };
        Ok(IntrinsicResponse::new(ret))
    }

    /// Associators, References and their name forms on a class: classes
    /// with full class paths.
    fn class_assoc(
        &self,
        ctx: &RequestContext,
        method: &IntrinsicMethod,
        class: &str,
        f: &AssocFilter,
    ) -> CimResult<IntrinsicResponse> {
        use IntrinsicMethod as M;
        let ns = ctx.namespace.as_str();
        let links = self.cimom.class_links(ns, class, f)?;
        let mut names: Vec<CimName> = Vec::new();
        for l in &links {
            let found: Vec<CimName> = match method {
                M::References | M::ReferenceNames => vec![l.assoc.name.clone()],
                _ => l.far.clone(),
            };
            for n in found {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let path = |n: &CimName| vine_cim::CimClassName {
            class_name: n.clone(),
            namespace: Some(ctx.namespace.clone()),
            host: Some(self.cimom.config.host.clone()),
        };
        let ret = match method {
            M::AssociatorNames | M::ReferenceNames => {
                ReturnValue::ObjectPaths(names.iter().map(|n| ObjectName::Class(path(n))).collect())
            }
            _ => {
                let repo = self.cimom.repo();
                let mut v = Vec::new();
                for n in &names {
                    v.push(ObjectWithPath::Class(
                        path(n),
                        repo.get_class(ns, n.as_str())?.clone(),
                    ));
                }
                ReturnValue::ObjectsWithPath(v)
            }
        };
        Ok(IntrinsicResponse::new(ret))
    }

    async fn query(
        &self,
        ctx: &RequestContext,
        lang: &str,
        text: &str,
    ) -> CimResult<Vec<CimInstance>> {
        let lang: QueryLanguage = lang.parse().map_err(CimError::from)?;
        let q = query::parse(lang, text).map_err(CimError::from)?;
        let class = self
            .cimom
            .class_for_instances(&ctx.namespace, q.class_name.as_str())?;
        for prop in q.referenced_properties() {
            if class.property(prop.as_str()).is_none()
                && !self.any_subclass_has(ctx, &class, prop.as_str())
            {
                return Err(CimError::new(
                    CimStatus::InvalidQuery,
                    format!("{} has no property {prop}", class.name),
                ));
            }
        }
        let all = self
            .cimom
            .enumerate_instances(ctx, class.name.as_str(), true, &InstanceOptions::default())
            .await?;
        let repo = self.cimom.repo();
        let isa = |cls: &str, ancestor: &str| repo.is_subclass_of(&ctx.namespace, cls, ancestor);
        Ok(all
            .into_iter()
            .filter(|i| q.matches(i, &isa))
            .map(|i| q.project(i))
            .collect())
    }

    fn any_subclass_has(
        &self,
        ctx: &RequestContext,
        class: &vine_cim::CimClass,
        prop: &str,
    ) -> bool {
        self.cimom
            .class_and_descendants(&ctx.namespace, class)
            .iter()
            .any(|c| c.property(prop).is_some())
    }

    async fn open(
        &self,
        ctx: &RequestContext,
        method: &IntrinsicMethod,
        params: &[(CimName, ParamValue)],
    ) -> CimResult<IntrinsicResponse> {
        use IntrinsicMethod as M;
        let op = method.as_str();
        let common = [
            "FilterQueryLanguage",
            "FilterQuery",
            "OperationTimeout",
            "ContinueOnError",
            "MaxObjectCount",
        ];
        let mut allowed: Vec<&str> = common.to_vec();
        match method {
            M::OpenEnumerateInstances => allowed.extend([
                "ClassName",
                "DeepInheritance",
                "IncludeClassOrigin",
                "PropertyList",
                "IncludeQualifiers",
                "LocalOnly",
            ]),
            M::OpenEnumerateInstancePaths => allowed.push("ClassName"),
            M::OpenReferenceInstances => allowed.extend([
                "InstanceName",
                "ResultClass",
                "Role",
                "IncludeClassOrigin",
                "PropertyList",
            ]),
            M::OpenReferenceInstancePaths => {
                allowed.extend(["InstanceName", "ResultClass", "Role"])
            }
            M::OpenAssociatorInstances => allowed.extend([
                "InstanceName",
                "AssocClass",
                "ResultClass",
                "Role",
                "ResultRole",
                "IncludeClassOrigin",
                "PropertyList",
            ]),
            M::OpenAssociatorInstancePaths => allowed.extend([
                "InstanceName",
                "AssocClass",
                "ResultClass",
                "Role",
                "ResultRole",
            ]),
            _ => allowed.push("ReturnQueryResultClass"),
        }
        let p = Params::new(op, params, &allowed)?;
        let timeout = self.operation_timeout(&p)?;
        if p.bool("ContinueOnError", false)? {
            return Err(CimError::new(
                CimStatus::ContinuationOnErrorNotSupported,
                "ContinueOnError is not supported",
            ));
        }
        let max = p
            .u32("MaxObjectCount")?
            .unwrap_or(0)
            .min(self.cimom.config.max_object_count);
        let filter_lang = p.string("FilterQueryLanguage")?;
        let filter = p.string("FilterQuery")?;
        let c = &self.cimom;
        let items = if *method == M::OpenQueryInstances {
            let (Some(lang), Some(text)) = (filter_lang, filter) else {
                return Err(CimError::invalid_parameter(
                    "OpenQueryInstances needs FilterQueryLanguage and FilterQuery",
                ));
            };
            if p.bool("ReturnQueryResultClass", false)? {
                return Err(CimError::not_supported(
                    "ReturnQueryResultClass is not supported",
                ));
            }
            PullItems::Instances(
                self.query(ctx, &lang, &text)
                    .await?
                    .into_iter()
                    .map(|i| self.full_path(i))
                    .collect(),
            )
        } else {
            if filter.is_some() || filter_lang.is_some() {
                if filter.is_none() {
                    return Err(CimError::invalid_parameter(
                        "FilterQueryLanguage given without FilterQuery",
                    ));
                }
                return Err(CimError::new(
                    CimStatus::FilteredEnumerationNotSupported,
                    "filtered pull enumerations are not supported",
                ));
            }
            match method {
                M::OpenEnumerateInstances => {
                    let class = p.required_class_name("ClassName")?;
                    let v = c
                        .enumerate_instances(
                            ctx,
                            class.as_str(),
                            p.bool("DeepInheritance", true)?,
                            &instance_options(&p)?,
                        )
                        .await?;
                    PullItems::Instances(v.into_iter().map(|i| self.full_path(i)).collect())
                }
                M::OpenEnumerateInstancePaths => {
                    let v = c
                        .enumerate_instance_names(ctx, p.required_class_name("ClassName")?.as_str())
                        .await?;
                    PullItems::Paths(v.into_iter().map(|n| self.host_path(n)).collect())
                }
                _ => {
                    let object = p.instance_name("InstanceName")?;
                    let associators = matches!(
                        method,
                        M::OpenAssociatorInstances | M::OpenAssociatorInstancePaths
                    );
                    let f = assoc_filter(&p, associators)?;
                    match method {
                        M::OpenReferenceInstances => PullItems::Instances(
                            c.references(ctx, &object, &f, &instance_options(&p)?)
                                .await?
                                .into_iter()
                                .map(|i| self.full_path(i))
                                .collect(),
                        ),
                        M::OpenAssociatorInstances => PullItems::Instances(
                            c.associators(ctx, &object, &f, &instance_options(&p)?)
                                .await?
                                .into_iter()
                                .map(|i| self.full_path(i))
                                .collect(),
                        ),
                        M::OpenReferenceInstancePaths => PullItems::Paths(
                            c.reference_names(ctx, &object, &f)
                                .await?
                                .into_iter()
                                .map(|n| self.host_path(n))
                                .collect(),
                        ),
                        _ => PullItems::Paths(
                            c.associator_names(ctx, &object, &f)
                                .await?
                                .into_iter()
                                .map(|n| self.host_path(n))
                                .collect(),
                        ),
                    }
                }
            }
        };
        let r = c.pulls.open(&ctx.namespace, items, max, timeout)?;
        Ok(self.pull_response(method, r))
    }

    fn operation_timeout(&self, p: &Params<'_>) -> CimResult<Duration> {
        let cfg = &self.cimom.config;
        match p.u32("OperationTimeout")? {
            None => Ok(cfg.default_operation_timeout),
            // 0 asks for no timeout at all; contexts must end, so refuse.
            Some(0) => Err(CimError::new(
                CimStatus::InvalidOperationTimeout,
                "OperationTimeout 0 (never expire) is not supported",
            )),
            Some(s) if Duration::from_secs(s as u64) > cfg.max_operation_timeout => {
                Err(CimError::new(
                    CimStatus::InvalidOperationTimeout,
                    format!(
                        "OperationTimeout {s} s exceeds the server maximum of {} s",
                        cfg.max_operation_timeout.as_secs()
                    ),
                ))
            }
            Some(s) => Ok(Duration::from_secs(s as u64)),
        }
    }

    fn pull_response(&self, method: &IntrinsicMethod, r: PullResult) -> IntrinsicResponse {
        use IntrinsicMethod as M;
        let end = r.end_of_sequence();
        let ret = match r.batch {
            PullBatch::Paths(v) => ReturnValue::InstancePaths(v),
            PullBatch::Instances(v)
                if matches!(method, M::PullInstances | M::OpenQueryInstances) =>
            {
                ReturnValue::Instances(v)
            }
            PullBatch::Instances(v) => ReturnValue::InstancesWithPath(v),
        };
        IntrinsicResponse {
            ret,
            out_params: vec![
                (CimName::new("EndOfSequence"), CimValue::Boolean(end)),
                (
                    CimName::new("EnumerationContext"),
                    CimValue::String(r.context.unwrap_or_default()),
                ),
            ],
        }
    }

    fn host_path(&self, mut n: CimInstanceName) -> CimInstanceName {
        if n.host.is_none() {
            n.host = Some(self.cimom.config.host.clone());
        }
        n
    }

    fn full_path(&self, mut i: CimInstance) -> CimInstance {
        i.path = i.path.map(|p| self.host_path(p));
        i
    }
}

impl OperationHandler for Dispatcher {
    fn handle(&self, req: OperationRequest) -> HandlerFuture<'_, OperationResponse> {
        Box::pin(self.answer(req))
    }
}

fn body(xml: Vec<u8>, err: Option<&CimError>) -> OperationResponse {
    OperationResponse::Body {
        xml,
        status: err.map(|e| e.status.code()).unwrap_or(0),
        description: err.map(|e| e.description.clone()),
    }
}

fn log_result<T>(user: &str, op: &str, r: &CimResult<T>) {
    match r {
        Ok(_) => tracing::debug!(user, op, "ok"),
        Err(e) => {
            tracing::info!(user, op, status = %e.status, error = %e.description, "operation failed")
        }
    }
}

/// Operations a `reader` may run.
fn is_read_only(m: &IntrinsicMethod) -> bool {
    use IntrinsicMethod as M;
    !matches!(
        m,
        M::CreateClass
            | M::ModifyClass
            | M::DeleteClass
            | M::CreateInstance
            | M::ModifyInstance
            | M::DeleteInstance
            | M::SetProperty
            | M::SetQualifier
            | M::DeleteQualifier
    )
}

/// DSP0200 §7.3.2: CIMMethod names the operation, CIMObject the namespace
/// (intrinsic) or the target object (extrinsic).
fn headers_agree(req: &OperationRequest, body: &Request) -> bool {
    if !req.cim_method.eq_ignore_ascii_case(body.method_name()) {
        return false;
    }
    match body {
        Request::Intrinsic { namespace, .. } => {
            vine_cim::name::namespace_eq(&req.cim_object, namespace)
        }
        Request::Extrinsic { target, .. } => {
            let Ok(header) = CimInstanceName::parse(&req.cim_object) else {
                return false;
            };
            let ns_ok = match (header.namespace.as_deref(), target.namespace()) {
                (Some(a), Some(b)) => vine_cim::name::namespace_eq(a, b),
                _ => true,
            };
            ns_ok
                && header.class_name == *target.class_name()
                && match target {
                    vine_cimxml::MethodTarget::Instance(p) => p.same_object(&header),
                    vine_cimxml::MethodTarget::Class(_) => header.key_bindings.is_empty(),
                }
        }
    }
}

fn class_options(p: &Params<'_>) -> CimResult<ClassOptions> {
    Ok(ClassOptions {
        local_only: p.bool("LocalOnly", true)?,
        include_qualifiers: p.bool("IncludeQualifiers", true)?,
        include_class_origin: p.bool("IncludeClassOrigin", false)?,
        property_list: p.property_list("PropertyList")?,
    })
}

fn instance_options(p: &Params<'_>) -> CimResult<InstanceOptions> {
    // LocalOnly and IncludeQualifiers on instance operations are deprecated
    // (DSP0200 1.4) and ambiguous across servers; vine accepts and ignores
    // them, returning all properties and no qualifiers.
    let _ = p.bool("LocalOnly", false)?;
    let _ = p.bool("IncludeQualifiers", false)?;
    Ok(InstanceOptions {
        include_class_origin: p.bool("IncludeClassOrigin", false)?,
        property_list: p.property_list("PropertyList")?,
    })
}

fn assoc_filter(p: &Params<'_>, associators: bool) -> CimResult<AssocFilter> {
    let name =
        |n: &str| -> CimResult<Option<String>> { Ok(p.class_name(n)?.map(|c| c.to_string())) };
    Ok(if associators {
        AssocFilter {
            assoc_class: name("AssocClass")?,
            result_class: name("ResultClass")?,
            role: p.string("Role")?,
            result_role: p.string("ResultRole")?,
        }
    } else {
        AssocFilter {
            assoc_class: name("ResultClass")?,
            result_class: None,
            role: p.string("Role")?,
            result_role: None,
        }
    })
}

fn local_path(i: &mut CimInstance) {
    if let Some(p) = i.path.as_mut() {
        p.namespace = None;
        p.host = None;
    }
}

/// Types a method's IN parameters from its declaration: CIM-XML gives
/// PARAMTYPE only sometimes, and untyped values arrive as strings.
fn type_params(
    decl: &vine_cim::CimMethod,
    params: Vec<CimParamValue>,
) -> CimResult<Vec<CimParamValue>> {
    params
        .into_iter()
        .map(|mut pv| {
            let d = decl.parameter(pv.name.as_str()).ok_or_else(|| {
                CimError::invalid_parameter(format!("{} has no parameter {}", decl.name, pv.name))
            })?;
            if !d.is_in() {
                return Err(CimError::invalid_parameter(format!(
                    "{} is an output parameter of {}",
                    d.name, decl.name
                )));
            }
            if let Some(v) = pv.value.take() {
                pv.value = Some(match d.cim_type {
                    vine_cim::CimType::Reference | vine_cim::CimType::Instance => v,
                    // An EmbeddedInstance string parameter may already have
                    // been decoded as an instance; keep it.
                    vine_cim::CimType::String
                        if matches!(v, CimValue::Instance(_)) || d.embedded_class.is_some() =>
                    {
                        v
                    }
                    t => v.coerce(t).map_err(|e| {
                        CimError::invalid_parameter(format!("parameter {}: {e}", d.name))
                    })?,
                });
            }
            pv.cim_type = Some(d.cim_type);
            pv.name = d.name.clone();
            Ok(pv)
        })
        .collect()
}
