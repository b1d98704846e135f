//! `vine cim …`: a small CIM client for any WBEM server, in the spirit of
//! wbemcli: enumerate, get, follow associations, invoke, query.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use vine_cim::mof::{class_to_mof, instance_to_mof};
use vine_cim::{CimInstance, CimInstanceName, CimName, CimParamValue, CimValue};
use vine_wbem::client::{AssocArgs, ClientConfig, EnumArgs, TlsVerify, WbemClient};

/// Connection flags shared by every `vine cim` command.
#[derive(Debug, clap::Args)]
pub struct CimArgs {
    /// Server URL
    #[arg(
        long,
        global = true,
        env = "VINE_URL",
        default_value = "http://127.0.0.1:5988"
    )]
    url: String,
    /// User name
    #[arg(
        long,
        short = 'u',
        global = true,
        env = "VINE_USER",
        default_value = "admin"
    )]
    user: String,
    /// Password (better given through VINE_PASSWORD)
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "VINE_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    password: String,
    /// Namespace
    #[arg(long, short = 'n', global = true, default_value = "root/interop")]
    namespace: String,
    /// Trust this PEM certificate for https (default: accept the server's)
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Output format
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Mof)]
    output: Output,
    #[command(subcommand)]
    cmd: CimCmd,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    /// MOF-like text, one object after another
    Mof,
    /// Only object paths
    Paths,
}

#[derive(Debug, clap::Subcommand)]
enum CimCmd {
    /// EnumerateClassNames [of subclasses of CLASS]
    Ecn {
        class: Option<String>,
        /// All descendants, not only direct subclasses
        #[arg(long)]
        deep: bool,
    },
    /// GetClass
    Gc { class: String },
    /// EnumerateInstances of CLASS (use --pull N for pull operations)
    Ei {
        class: String,
        /// Only these properties (repeat the flag)
        #[arg(long = "property", short = 'P')]
        properties: Vec<String>,
        /// Enumerate with OpenEnumerateInstances/Pull, N per page
        #[arg(long, value_name = "N")]
        pull: Option<u32>,
    },
    /// EnumerateInstanceNames of CLASS
    Ein { class: String },
    /// GetInstance of PATH (e.g. 'CIM_Namespace.Name="root/interop",…')
    Gi { path: String },
    /// Associators of PATH
    Ai {
        path: String,
        #[command(flatten)]
        filter: AssocFlags,
    },
    /// AssociatorNames of PATH
    An {
        path: String,
        #[command(flatten)]
        filter: AssocFlags,
    },
    /// References to PATH
    Ri {
        path: String,
        #[command(flatten)]
        filter: AssocFlags,
    },
    /// ReferenceNames of PATH
    Rn {
        path: String,
        #[command(flatten)]
        filter: AssocFlags,
    },
    /// InvokeMethod METHOD on PATH with NAME=VALUE parameters
    Im {
        path: String,
        method: String,
        params: Vec<String>,
    },
    /// ExecQuery, e.g. "SELECT * FROM CIM_Namespace WHERE Name = 'root/interop'"
    Query {
        query: String,
        /// WQL or DMTF:CQL
        #[arg(long, default_value = "WQL")]
        lang: String,
    },
}

#[derive(Debug, clap::Args)]
struct AssocFlags {
    #[arg(long)]
    assoc_class: Option<String>,
    #[arg(long)]
    result_class: Option<String>,
    #[arg(long)]
    role: Option<String>,
    #[arg(long)]
    result_role: Option<String>,
}

impl From<AssocFlags> for AssocArgs {
    fn from(f: AssocFlags) -> Self {
        AssocArgs {
            assoc_class: f.assoc_class,
            result_class: f.result_class,
            role: f.role,
            result_role: f.result_role,
        }
    }
}

fn parse_path(s: &str, ns: &str) -> Result<CimInstanceName> {
    let mut p = CimInstanceName::parse(s)
        .with_context(|| format!("`{s}` is not an instance path like Class.Key=\"value\""))?;
    p.namespace.get_or_insert_with(|| ns.to_string());
    Ok(p)
}

fn print_instances(out: Output, v: &[CimInstance]) {
    for i in v {
        match (out, &i.path) {
            (Output::Paths, Some(p)) => println!("{p}"),
            (Output::Paths, None) => println!("{}", i.class_name),
            (Output::Mof, p) => {
                if let Some(p) = p {
                    println!("// {p}");
                }
                println!("{}", instance_to_mof(i));
            }
        }
    }
}

/// `NAME=VALUE` → an untyped parameter; the server types it from the
/// method's declaration. `NAME=Class.Key="v"` becomes a reference.
fn parse_param(s: &str) -> Result<CimParamValue> {
    let Some((name, value)) = s.split_once('=') else {
        bail!("parameter `{s}` must be NAME=VALUE");
    };
    let v = match CimInstanceName::parse(value) {
        Ok(p) if !p.key_bindings.is_empty() => CimValue::Reference(Box::new(p)),
        _ => CimValue::String(value.to_string()),
    };
    Ok(CimParamValue {
        name: CimName::new(name),
        cim_type: None,
        value: Some(v),
    })
}

/// Runs a `vine cim` command.
pub async fn run(args: CimArgs) -> Result<()> {
    let client = WbemClient::new(&ClientConfig {
        url: args.url.clone(),
        user: args.user.clone(),
        password: args.password.clone(),
        tls: args
            .ca
            .clone()
            .map(TlsVerify::CaFile)
            .unwrap_or(TlsVerify::Insecure),
        timeout: Duration::from_secs(120),
    })?;
    let ns = args.namespace.as_str();
    let out = args.output;
    match args.cmd {
        CimCmd::Ecn { class, deep } => {
            for n in client
                .enumerate_class_names(ns, class.as_deref(), deep)
                .await?
            {
                println!("{n}");
            }
        }
        CimCmd::Gc { class } => println!(
            "{}",
            class_to_mof(&client.get_class(ns, &class, false).await?)
        ),
        CimCmd::Ei {
            class,
            properties,
            pull,
        } => {
            let args = EnumArgs {
                property_list: (!properties.is_empty()).then_some(properties),
                ..Default::default()
            };
            let v = match pull {
                Some(n) if n > 0 => {
                    let mut v = Vec::new();
                    let mut page = client
                        .open_enumerate_instances(ns, &class, n, &args)
                        .await?;
                    v.append(&mut page.items);
                    while let Some(c) = page.context.take() {
                        page = client.pull_instances_with_path(ns, &c, n).await?;
                        v.append(&mut page.items);
                    }
                    v
                }
                Some(_) => bail!("--pull needs a page size above 0"),
                None => client.enumerate_instances(ns, &class, &args).await?,
            };
            print_instances(out, &v);
        }
        CimCmd::Ein { class } => {
            for p in client.enumerate_instance_names(ns, &class).await? {
                println!("{p}");
            }
        }
        CimCmd::Gi { path } => {
            let p = parse_path(&path, ns)?;
            print_instances(
                out,
                &[client.get_instance(ns, &p, &EnumArgs::default()).await?],
            );
        }
        CimCmd::Ai { path, filter } => {
            let p = parse_path(&path, ns)?;
            print_instances(
                out,
                &client
                    .associators(ns, &p, &filter.into(), &EnumArgs::default())
                    .await?,
            );
        }
        CimCmd::An { path, filter } => {
            for p in client
                .associator_names(ns, &parse_path(&path, ns)?, &filter.into())
                .await?
            {
                println!("{p}");
            }
        }
        CimCmd::Ri { path, filter } => {
            let p = parse_path(&path, ns)?;
            print_instances(
                out,
                &client
                    .references(ns, &p, &filter.into(), &EnumArgs::default())
                    .await?,
            );
        }
        CimCmd::Rn { path, filter } => {
            for p in client
                .reference_names(ns, &parse_path(&path, ns)?, &filter.into())
                .await?
            {
                println!("{p}");
            }
        }
        CimCmd::Im {
            path,
            method,
            params,
        } => {
            let p = parse_path(&path, ns)?;
            let params = params
                .iter()
                .map(|s| parse_param(s))
                .collect::<Result<Vec<_>>>()?;
            let r = client
                .invoke_method(vine_cimxml::MethodTarget::Instance(p), &method, params)
                .await?;
            match r.return_value {
                Some(v) => println!("ReturnValue = {v}"),
                None => println!("ReturnValue = NULL"),
            }
            for o in r.out_params {
                match o.value {
                    Some(v) => println!("{} = {v}", o.name),
                    None => println!("{} = NULL", o.name),
                }
            }
        }
        CimCmd::Query { query, lang } => {
            print_instances(out, &client.exec_query(ns, &lang, &query).await?)
        }
    }
    Ok(())
}
