//! The DSP0200 operations as typed methods of [`WbemClient`].

use vine_cim::{CimClass, CimInstance, CimInstanceName, CimName, CimValue, QualifierDecl};
use vine_cimxml::{
    IntrinsicMethod as M, IntrinsicResponse, ObjectName, ObjectWithPath, ParamValue, ReturnValue,
};

use super::{ClientError, Result, WbemClient};

/// Options of EnumerateInstances / GetInstance / Associators.
#[derive(Clone, Debug, Default)]
pub struct EnumArgs {
    /// `Some(false)` sends DeepInheritance=false; `None` keeps the default.
    pub deep_inheritance: Option<bool>,
    pub include_class_origin: bool,
    pub property_list: Option<Vec<String>>,
}

/// Filters of the association operations.
#[derive(Clone, Debug, Default)]
pub struct AssocArgs {
    pub assoc_class: Option<String>,
    pub result_class: Option<String>,
    pub role: Option<String>,
    pub result_role: Option<String>,
}

/// One page of a pull enumeration.
#[derive(Clone, Debug)]
pub struct PullPage<T> {
    pub items: Vec<T>,
    /// The context to pull the rest with; `None` at the end of the sequence.
    pub context: Option<String>,
}

type P = Vec<(CimName, ParamValue)>;

fn p(params: &mut P, name: &str, v: ParamValue) {
    params.push((CimName::new(name), v));
}

fn b(v: bool) -> ParamValue {
    ParamValue::Value(CimValue::Boolean(v))
}

fn enum_params(params: &mut P, a: &EnumArgs) {
    if let Some(d) = a.deep_inheritance {
        p(params, "DeepInheritance", b(d));
    }
    if a.include_class_origin {
        p(params, "IncludeClassOrigin", b(true));
    }
    if let Some(list) = &a.property_list {
        p(
            params,
            "PropertyList",
            ParamValue::PropertyList(list.clone()),
        );
    }
}

fn assoc_params(params: &mut P, a: &AssocArgs, associators: bool) {
    let class = |v: &Option<String>| {
        v.as_ref()
            .map(|c| ParamValue::ClassName(CimName::new(c.as_str())))
    };
    if associators {
        if let Some(v) = class(&a.assoc_class) {
            p(params, "AssocClass", v);
        }
        if let Some(v) = class(&a.result_class) {
            p(params, "ResultClass", v);
        }
        if let Some(r) = &a.result_role {
            p(
                params,
                "ResultRole",
                ParamValue::Value(CimValue::String(r.clone())),
            );
        }
    } else if let Some(v) = class(&a.result_class).or_else(|| class(&a.assoc_class)) {
        p(params, "ResultClass", v);
    }
    if let Some(r) = &a.role {
        p(
            params,
            "Role",
            ParamValue::Value(CimValue::String(r.clone())),
        );
    }
}

fn unexpected(op: &str, got: &ReturnValue) -> ClientError {
    ClientError::Unexpected {
        op: op.into(),
        detail: format!("{got:?}").chars().take(200).collect(),
    }
}

fn ns_of(name: &CimInstanceName, fallback: &str) -> String {
    name.namespace
        .clone()
        .unwrap_or_else(|| fallback.to_string())
}

fn objects_to_instances(op: &str, v: Vec<ObjectWithPath>) -> Result<Vec<CimInstance>> {
    v.into_iter()
        .map(|o| match o {
            ObjectWithPath::Instance(i) => Ok(i),
            ObjectWithPath::Class(..) => Err(ClientError::Unexpected {
                op: op.into(),
                detail: "a class where instances were expected".into(),
            }),
        })
        .collect()
}

fn paths_of(op: &str, v: Vec<ObjectName>) -> Result<Vec<CimInstanceName>> {
    v.into_iter()
        .map(|o| match o {
            ObjectName::Instance(i) => Ok(i),
            ObjectName::Class(_) => Err(ClientError::Unexpected {
                op: op.into(),
                detail: "a class path where instance paths were expected".into(),
            }),
        })
        .collect()
}

fn page_context(r: &IntrinsicResponse) -> Option<String> {
    let end = matches!(r.out_param("EndOfSequence"), Some(CimValue::Boolean(true)))
        || matches!(r.out_param("EndOfSequence"), Some(CimValue::String(s)) if s.eq_ignore_ascii_case("true"));
    if end {
        return None;
    }
    match r.out_param("EnumerationContext") {
        Some(CimValue::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl WbemClient {
    /// EnumerateInstances.
    pub async fn enumerate_instances(
        &self,
        ns: &str,
        class: &str,
        a: &EnumArgs,
    ) -> Result<Vec<CimInstance>> {
        let mut params = vec![(
            CimName::new("ClassName"),
            ParamValue::ClassName(CimName::new(class)),
        )];
        enum_params(&mut params, a);
        match self.intrinsic(ns, M::EnumerateInstances, params).await?.ret {
            ReturnValue::NamedInstances(v) => Ok(v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected("EnumerateInstances", &other)),
        }
    }

    /// EnumerateInstanceNames.
    pub async fn enumerate_instance_names(
        &self,
        ns: &str,
        class: &str,
    ) -> Result<Vec<CimInstanceName>> {
        let params = vec![(
            CimName::new("ClassName"),
            ParamValue::ClassName(CimName::new(class)),
        )];
        match self
            .intrinsic(ns, M::EnumerateInstanceNames, params)
            .await?
            .ret
        {
            ReturnValue::InstanceNames(v) => Ok(v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected("EnumerateInstanceNames", &other)),
        }
    }

    /// GetInstance; the namespace comes from the path, else `ns`.
    pub async fn get_instance(
        &self,
        ns: &str,
        name: &CimInstanceName,
        a: &EnumArgs,
    ) -> Result<CimInstance> {
        let mut params = vec![(
            CimName::new("InstanceName"),
            ParamValue::InstanceName(name.local()),
        )];
        enum_params(&mut params, a);
        match self
            .intrinsic(&ns_of(name, ns), M::GetInstance, params)
            .await?
            .ret
        {
            ReturnValue::Instance(mut i) => {
                i.path = Some(name.clone());
                Ok(i)
            }
            other => Err(unexpected("GetInstance", &other)),
        }
    }

    /// CreateInstance.
    pub async fn create_instance(&self, ns: &str, inst: CimInstance) -> Result<CimInstanceName> {
        let params = vec![(CimName::new("NewInstance"), ParamValue::Instance(inst))];
        match self.intrinsic(ns, M::CreateInstance, params).await?.ret {
            ReturnValue::InstanceName(mut n) => {
                n.namespace.get_or_insert_with(|| ns.to_string());
                Ok(n)
            }
            other => Err(unexpected("CreateInstance", &other)),
        }
    }

    /// ModifyInstance; `inst.path` names the instance.
    pub async fn modify_instance(
        &self,
        ns: &str,
        inst: CimInstance,
        property_list: Option<Vec<String>>,
    ) -> Result<()> {
        let ns = inst
            .path
            .as_ref()
            .map(|p| ns_of(p, ns))
            .unwrap_or_else(|| ns.to_string());
        let mut inst = inst;
        inst.path = inst.path.map(|p| p.local());
        let mut params = vec![(
            CimName::new("ModifiedInstance"),
            ParamValue::NamedInstance(inst),
        )];
        if let Some(l) = property_list {
            p(&mut params, "PropertyList", ParamValue::PropertyList(l));
        }
        self.intrinsic(&ns, M::ModifyInstance, params)
            .await
            .map(|_| ())
    }

    /// DeleteInstance.
    pub async fn delete_instance(&self, ns: &str, name: &CimInstanceName) -> Result<()> {
        let params = vec![(
            CimName::new("InstanceName"),
            ParamValue::InstanceName(name.local()),
        )];
        self.intrinsic(&ns_of(name, ns), M::DeleteInstance, params)
            .await
            .map(|_| ())
    }

    /// GetProperty.
    pub async fn get_property(
        &self,
        ns: &str,
        name: &CimInstanceName,
        property: &str,
    ) -> Result<Option<CimValue>> {
        let params = vec![
            (
                CimName::new("InstanceName"),
                ParamValue::InstanceName(name.local()),
            ),
            (
                CimName::new("PropertyName"),
                ParamValue::Value(CimValue::String(property.into())),
            ),
        ];
        match self
            .intrinsic(&ns_of(name, ns), M::GetProperty, params)
            .await?
            .ret
        {
            ReturnValue::Value(v) => Ok(v),
            ReturnValue::None => Ok(None),
            other => Err(unexpected("GetProperty", &other)),
        }
    }

    /// Associators.
    pub async fn associators(
        &self,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
        e: &EnumArgs,
    ) -> Result<Vec<CimInstance>> {
        self.assoc_instances(M::Associators, ns, name, a, e).await
    }

    /// AssociatorNames.
    pub async fn associator_names(
        &self,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
    ) -> Result<Vec<CimInstanceName>> {
        self.assoc_names(M::AssociatorNames, ns, name, a).await
    }

    /// References.
    pub async fn references(
        &self,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
        e: &EnumArgs,
    ) -> Result<Vec<CimInstance>> {
        self.assoc_instances(M::References, ns, name, a, e).await
    }

    /// ReferenceNames.
    pub async fn reference_names(
        &self,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
    ) -> Result<Vec<CimInstanceName>> {
        self.assoc_names(M::ReferenceNames, ns, name, a).await
    }

    /// Associators or References (`m`): instances with their paths.
    async fn assoc_instances(
        &self,
        m: M,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
        e: &EnumArgs,
    ) -> Result<Vec<CimInstance>> {
        let mut params = vec![(
            CimName::new("ObjectName"),
            ParamValue::InstanceName(name.local()),
        )];
        assoc_params(&mut params, a, m == M::Associators);
        // The association operations take no DeepInheritance.
        enum_params(
            &mut params,
            &EnumArgs {
                deep_inheritance: None,
                ..e.clone()
            },
        );
        let what = m.as_str().to_string();
        match self.intrinsic(&ns_of(name, ns), m, params).await?.ret {
            ReturnValue::ObjectsWithPath(v) => objects_to_instances(&what, v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// AssociatorNames or ReferenceNames (`m`).
    async fn assoc_names(
        &self,
        m: M,
        ns: &str,
        name: &CimInstanceName,
        a: &AssocArgs,
    ) -> Result<Vec<CimInstanceName>> {
        let mut params = vec![(
            CimName::new("ObjectName"),
            ParamValue::InstanceName(name.local()),
        )];
        assoc_params(&mut params, a, m == M::AssociatorNames);
        let what = m.as_str().to_string();
        match self.intrinsic(&ns_of(name, ns), m, params).await?.ret {
            ReturnValue::ObjectPaths(v) => paths_of(&what, v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// ExecQuery (`WQL` or `DMTF:CQL`).
    pub async fn exec_query(
        &self,
        ns: &str,
        language: &str,
        query: &str,
    ) -> Result<Vec<CimInstance>> {
        let params = vec![
            (
                CimName::new("QueryLanguage"),
                ParamValue::Value(CimValue::String(language.into())),
            ),
            (
                CimName::new("Query"),
                ParamValue::Value(CimValue::String(query.into())),
            ),
        ];
        match self.intrinsic(ns, M::ExecQuery, params).await?.ret {
            ReturnValue::ObjectsWithPath(v) => objects_to_instances("ExecQuery", v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected("ExecQuery", &other)),
        }
    }

    /// GetClass with qualifiers, all properties and no class origin.
    pub async fn get_class(&self, ns: &str, class: &str, local_only: bool) -> Result<CimClass> {
        let params = vec![
            (
                CimName::new("ClassName"),
                ParamValue::ClassName(CimName::new(class)),
            ),
            (CimName::new("LocalOnly"), b(local_only)),
        ];
        match self.intrinsic(ns, M::GetClass, params).await?.ret {
            ReturnValue::Classes(mut v) if v.len() == 1 => Ok(v.remove(0)),
            other => Err(unexpected("GetClass", &other)),
        }
    }

    /// EnumerateClassNames.
    pub async fn enumerate_class_names(
        &self,
        ns: &str,
        class: Option<&str>,
        deep: bool,
    ) -> Result<Vec<CimName>> {
        let mut params = vec![(CimName::new("DeepInheritance"), b(deep))];
        if let Some(c) = class {
            p(
                &mut params,
                "ClassName",
                ParamValue::ClassName(CimName::new(c)),
            );
        }
        match self
            .intrinsic(ns, M::EnumerateClassNames, params)
            .await?
            .ret
        {
            ReturnValue::ClassNames(v) => Ok(v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected("EnumerateClassNames", &other)),
        }
    }

    /// EnumerateQualifiers.
    pub async fn enumerate_qualifiers(&self, ns: &str) -> Result<Vec<QualifierDecl>> {
        match self
            .intrinsic(ns, M::EnumerateQualifiers, Vec::new())
            .await?
            .ret
        {
            ReturnValue::QualifierDecls(v) => Ok(v),
            ReturnValue::None => Ok(Vec::new()),
            other => Err(unexpected("EnumerateQualifiers", &other)),
        }
    }

    /// OpenEnumerateInstances: the first page of at most `max` instances.
    pub async fn open_enumerate_instances(
        &self,
        ns: &str,
        class: &str,
        max: u32,
        a: &EnumArgs,
    ) -> Result<PullPage<CimInstance>> {
        let mut params = vec![
            (
                CimName::new("ClassName"),
                ParamValue::ClassName(CimName::new(class)),
            ),
            (
                CimName::new("MaxObjectCount"),
                ParamValue::Value(CimValue::Uint32(max)),
            ),
        ];
        enum_params(&mut params, a);
        let r = self
            .intrinsic(ns, M::OpenEnumerateInstances, params)
            .await?;
        let context = page_context(&r);
        match r.ret {
            ReturnValue::InstancesWithPath(items) => Ok(PullPage { items, context }),
            ReturnValue::None => Ok(PullPage {
                items: Vec::new(),
                context,
            }),
            other => Err(unexpected("OpenEnumerateInstances", &other)),
        }
    }

    /// PullInstancesWithPath.
    pub async fn pull_instances_with_path(
        &self,
        ns: &str,
        context: &str,
        max: u32,
    ) -> Result<PullPage<CimInstance>> {
        let params = vec![
            (
                CimName::new("EnumerationContext"),
                ParamValue::Value(CimValue::String(context.into())),
            ),
            (
                CimName::new("MaxObjectCount"),
                ParamValue::Value(CimValue::Uint32(max)),
            ),
        ];
        let r = self.intrinsic(ns, M::PullInstancesWithPath, params).await?;
        let context = page_context(&r);
        match r.ret {
            ReturnValue::InstancesWithPath(items) => Ok(PullPage { items, context }),
            ReturnValue::None => Ok(PullPage {
                items: Vec::new(),
                context,
            }),
            other => Err(unexpected("PullInstancesWithPath", &other)),
        }
    }

    /// CloseEnumeration.
    pub async fn close_enumeration(&self, ns: &str, context: &str) -> Result<()> {
        let params = vec![(
            CimName::new("EnumerationContext"),
            ParamValue::Value(CimValue::String(context.into())),
        )];
        self.intrinsic(ns, M::CloseEnumeration, params)
            .await
            .map(|_| ())
    }

    /// Every instance of `class` through pull operations, `page` at a time.
    pub async fn pull_all_instances(
        &self,
        ns: &str,
        class: &str,
        page: u32,
    ) -> Result<Vec<CimInstance>> {
        let mut first = self
            .open_enumerate_instances(ns, class, page, &EnumArgs::default())
            .await?;
        let mut out = std::mem::take(&mut first.items);
        let mut ctx = first.context;
        while let Some(c) = ctx {
            let next = self.pull_instances_with_path(ns, &c, page).await?;
            out.extend(next.items);
            ctx = next.context;
        }
        Ok(out)
    }
}
