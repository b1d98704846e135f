//! The syntax tree of one MOF production, before values are typed against
//! qualifier declarations and classes (that happens in `compile`).

/// A source position (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub col: u32,
}

/// A literal as written; typed later.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    /// Integer with its sign applied.
    Int(i128),
    Real(f64),
    /// Adjacent string literals already joined.
    Str(String),
    Char(char),
    Bool(bool),
    Null,
    /// `$Alias`, a reference to an instance declared earlier.
    Alias(String),
    /// `{a, b}`; elements are never arrays themselves.
    Array(Vec<(Lit, Pos)>),
}

/// `Name`, `Name(value)` or `Name{values}`, optionally `: Flavor ...`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QualAst {
    pub name: String,
    pub value: Option<(Lit, Pos)>,
    pub flavors: Vec<(String, Pos)>,
    pub pos: Pos,
}

/// A data type: an intrinsic type name or `Class REF`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TypeAst {
    Named(String, Pos),
    Ref(String, Pos),
}

/// `[]` → `Some(None)`, `[N]` → `Some(Some(N))`, no brackets → `None`.
pub(crate) type ArraySpec = Option<Option<u32>>;

/// A property or reference declaration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PropAst {
    pub quals: Vec<QualAst>,
    pub ty: TypeAst,
    pub name: String,
    pub array: ArraySpec,
    pub default: Option<(Lit, Pos)>,
    pub pos: Pos,
}

/// A method declaration; parameters reuse [`PropAst`] (their default is
/// always `None`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MethodAst {
    pub quals: Vec<QualAst>,
    pub ty: TypeAst,
    pub name: String,
    pub params: Vec<PropAst>,
    pub pos: Pos,
}

/// A class declaration. `keyword` records `association`/`indication` used
/// in place of `class` (MOF 3.0 style), which imply the qualifier.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClassAst {
    pub quals: Vec<QualAst>,
    pub keyword: String,
    pub name: String,
    pub superclass: Option<(String, Pos)>,
    pub props: Vec<PropAst>,
    pub methods: Vec<MethodAst>,
    pub pos: Pos,
}

/// `Name = value;` inside an instance declaration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PropValueAst {
    pub quals: Vec<QualAst>,
    pub name: String,
    pub value: (Lit, Pos),
    pub pos: Pos,
}

/// `instance of Class [as $Alias] { ... };`
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InstanceAst {
    pub quals: Vec<QualAst>,
    pub class: String,
    pub alias: Option<String>,
    pub props: Vec<PropValueAst>,
    pub pos: Pos,
}

/// `Qualifier Name : type[array] = default, Scope(...), Flavor(...);`
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QualDeclAst {
    pub name: String,
    pub ty: (String, Pos),
    pub array: ArraySpec,
    pub default: Option<(Lit, Pos)>,
    pub scopes: Vec<(String, Pos)>,
    pub flavors: Vec<(String, Pos)>,
    pub pos: Pos,
}

/// One top-level MOF production.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Production {
    Pragma {
        name: String,
        value: String,
        pos: Pos,
    },
    QualifierDecl(QualDeclAst),
    Class(ClassAst),
    Instance(InstanceAst),
}
