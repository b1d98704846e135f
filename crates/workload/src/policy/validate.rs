//! Raw file → [`Policy`]: every problem is collected (not just the first)
//! with its position and a suggestion.

use std::ops::Range;

use toml::Spanned;

use super::raw::*;
use super::*;

/// The most CPU shares a policy may give (libvirt's limit for qemu).
const MAX_SHARES: i64 = 262_144;

struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
            help: Some(help.into()),
        });
    }

    fn fraction(&mut self, v: &S<f64>, key: &str, default: f64) -> f64 {
        match v {
            None => default,
            Some(s) => {
                let x = *s.get_ref();
                if !(0.0..=1.0).contains(&x) || x.is_nan() {
                    self.at(
                        s.span(),
                        format!("{key} = {x} is not a fraction"),
                        format!("write a number between 0 and 1, e.g. {key} = {default}"),
                    );
                    default
                } else {
                    x
                }
            }
        }
    }

    fn count(&mut self, v: &S<i64>, key: &str, min: i64, default: i64) -> i64 {
        match v {
            None => default,
            Some(s) => {
                let x = *s.get_ref();
                if x < min {
                    self.at(
                        s.span(),
                        format!("{key} = {x} is below {min}"),
                        format!("write a whole number of at least {min}"),
                    );
                    default
                } else {
                    x
                }
            }
        }
    }

    fn band(&mut self, raw: Option<&Spanned<RawBand>>, what: &str, default: Band) -> Band {
        let Some(b) = raw else { return default };
        let span = b.span();
        let b = b.get_ref();
        let upper = self.fraction(&b.upper, &format!("thresholds.{what}.upper"), default.upper);
        let lower = self.fraction(&b.lower, &format!("thresholds.{what}.lower"), default.lower);
        if upper <= lower {
            let at = b.upper.as_ref().map_or(span, |s| s.span());
            self.at(
                at,
                format!("thresholds.{what}: upper ({upper}) must be above lower ({lower})"),
                format!(
                    "swap them or lower `lower`, e.g. upper = {:.2}, lower = {:.2}",
                    upper.max(lower),
                    upper.min(lower).min(upper.max(lower) - 0.05).max(0.0)
                ),
            );
        }
        Band { upper, lower }
    }
}

fn name_list() -> String {
    PredictorKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn predictor(c: &mut Checker, s: &Spanned<String>) -> Option<PredictorKind> {
    let p = PredictorKind::parse(s.get_ref());
    if p.is_none() {
        c.at(
            s.span(),
            format!("unknown predictor {:?}", s.get_ref()),
            format!("use auto or one of: {}", name_list()),
        );
    }
    p
}

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// A message for a TOML error that came without one.
fn no_message(text: &str) -> String {
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => format!(
            "control character U+{:04X} is not allowed in TOML",
            c as u32
        ),
        None => "this is not valid TOML".to_string(),
    }
}

/// Parses and validates; `Err` holds every problem found.
pub(super) fn validate(text: &str) -> std::result::Result<Policy, Vec<Problem>> {
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            let msg = match e.message().trim() {
                // toml says nothing for some lexer errors (a control
                // character in a comment): name the culprit instead.
                "" => no_message(text),
                m => m.to_string(),
            };
            let help = if msg.contains("unknown field") {
                "remove the key or fix its spelling (see `vine policy schema`)"
            } else if msg.contains("missing field") {
                "add the key; every policy needs at least `name`"
            } else {
                "fix the TOML syntax or the value's type"
            };
            return Err(vec![Problem {
                line,
                column,
                message: msg,
                help: Some(help.into()),
            }]);
        }
    };
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        c.at(
            raw.name.span(),
            "name is empty",
            "give the policy a name, e.g. name = \"web-tier\"",
        );
    }

    let scope = match &raw.scope {
        None => Scope::Datacenter,
        Some(s) => {
            let span = s.span();
            let s = s.get_ref();
            match s.kind.get_ref().as_str() {
                "datacenter" => Scope::Datacenter,
                k @ ("pool" | "virtual-server") => match &s.name {
                    Some(n) if !n.trim().is_empty() => {
                        if k == "pool" {
                            Scope::Pool { name: n.clone() }
                        } else {
                            Scope::VirtualServer { name: n.clone() }
                        }
                    }
                    _ => {
                        c.at(
                            span,
                            format!("scope kind {k:?} needs a name"),
                            "add name = \"...\" to [scope]",
                        );
                        Scope::Datacenter
                    }
                },
                "hosts" => match &s.labels {
                    Some(l) if !l.is_empty() => Scope::Hosts { labels: l.clone() },
                    _ => {
                        c.at(
                            span,
                            "scope kind \"hosts\" needs labels",
                            "add labels = [\"rack=a\"] to [scope]",
                        );
                        Scope::Datacenter
                    }
                },
                other => {
                    c.at(
                        s.kind.span(),
                        format!("unknown scope kind {other:?}"),
                        "use datacenter, pool, virtual-server or hosts",
                    );
                    Scope::Datacenter
                }
            }
        }
    };

    let t = raw.thresholds.as_ref();
    let cpu = c.band(
        t.and_then(|t| t.cpu.as_ref()),
        "cpu",
        Band {
            upper: 0.85,
            lower: 0.3,
        },
    );
    let memory = c.band(
        t.and_then(|t| t.memory.as_ref()),
        "memory",
        Band {
            upper: 0.95,
            lower: 0.0,
        },
    );
    let network = c.band(
        t.and_then(|t| t.network.as_ref()),
        "network",
        Band {
            upper: 0.9,
            lower: 0.0,
        },
    );

    let o = raw.observation.as_ref();
    let window = c.count(
        &o.and_then(|o| o.window.clone()),
        "observation.window",
        2,
        12,
    );
    let k = c.count(&o.and_then(|o| o.k.clone()), "observation.k", 1, 2);
    let n = c.count(&o.and_then(|o| o.n.clone()), "observation.n", 1, 3);
    if k > n {
        let span = o
            .and_then(|o| o.k.as_ref().map(|s| s.span()))
            .unwrap_or(0..0);
        c.at(
            span,
            format!("observation.k = {k} is larger than n = {n}"),
            "k counts how many of the last n observations cross a threshold: make k <= n",
        );
    }
    if n > window {
        let span = o
            .and_then(|o| o.n.as_ref().map(|s| s.span()))
            .unwrap_or(0..0);
        c.at(
            span,
            format!("observation.n = {n} exceeds the window ({window})"),
            "raise observation.window or lower n",
        );
    }

    let p = raw.prediction.as_ref();
    let candidates: Vec<PredictorKind> = match p.and_then(|p| p.candidates.as_ref()) {
        None => PredictorKind::ALL.to_vec(),
        Some(list) => list.iter().filter_map(|s| predictor(&mut c, s)).collect(),
    };
    let choice = match p.and_then(|p| p.predictor.as_ref()) {
        Some(s) if s.get_ref() != "auto" => predictor(&mut c, s).map_or(
            PredictorChoice::Auto {
                candidates: candidates.clone(),
            },
            PredictorChoice::Fixed,
        ),
        _ => PredictorChoice::Auto { candidates },
    };
    let horizon = c.count(
        &p.and_then(|p| p.horizon.clone()),
        "prediction.horizon",
        1,
        1,
    );
    let backtest = c.count(
        &p.and_then(|p| p.backtest.clone()),
        "prediction.backtest",
        1,
        8,
    );
    let safety_margin = match p.and_then(|p| p.safety_margin.clone()) {
        Some(s) if *s.get_ref() < 0.0 || s.get_ref().is_nan() => {
            c.at(
                s.span(),
                format!("prediction.safety_margin = {} is negative", s.get_ref()),
                "write 0 for no headroom, 1 for one back-test error",
            );
            1.0
        }
        Some(s) => *s.get_ref(),
        None => 1.0,
    };
    if backtest >= window {
        let span = p
            .and_then(|p| p.backtest.as_ref().map(|s| s.span()))
            .unwrap_or(0..0);
        c.at(
            span,
            format!(
                "prediction.backtest = {backtest} leaves no history to fit on (window {window})"
            ),
            "make backtest smaller than observation.window",
        );
    }

    let m = raw.migration.as_ref();
    let max_concurrent = c.count(
        &m.and_then(|m| m.max_concurrent.clone()),
        "migration.max_concurrent",
        1,
        8,
    );
    let opt =
        |c: &mut Checker, v: &S<i64>, key: &str| v.as_ref().map(|_| c.count(v, key, 1, 1) as usize);
    let max_per_round = opt(
        &mut c,
        &m.and_then(|m| m.max_per_round.clone()),
        "migration.max_per_round",
    );
    let max_per_hour = opt(
        &mut c,
        &m.and_then(|m| m.max_per_hour.clone()),
        "migration.max_per_hour",
    );
    let vm_cooldown_rounds = c.count(
        &m.and_then(|m| m.vm_cooldown_rounds.clone()),
        "migration.vm_cooldown_rounds",
        0,
        6,
    ) as u64;
    let host_cooldown_rounds = c.count(
        &m.and_then(|m| m.host_cooldown_rounds.clone()),
        "migration.host_cooldown_rounds",
        0,
        3,
    ) as u64;
    let hysteresis = c.fraction(
        &m.and_then(|m| m.hysteresis.clone()),
        "migration.hysteresis",
        0.05,
    );
    if hysteresis >= cpu.upper - cpu.lower && cpu.upper > cpu.lower {
        let span = m
            .and_then(|m| m.hysteresis.as_ref().map(|s| s.span()))
            .unwrap_or(0..0);
        c.at(span, format!("migration.hysteresis = {hysteresis} swallows the whole band between lower ({}) and upper ({})", cpu.lower, cpu.upper), "use a margin well inside the band, e.g. 0.05");
    }
    let destination = match m.and_then(|m| m.destination.as_ref()) {
        None => Destination::BestFit,
        Some(s) => match s.get_ref().as_str() {
            "best-fit" => Destination::BestFit,
            "least-loaded" => Destination::LeastLoaded,
            other => {
                c.at(
                    s.span(),
                    format!("unknown destination rule {other:?}"),
                    "use best-fit or least-loaded",
                );
                Destination::BestFit
            }
        },
    };
    let vm_choice = match m.and_then(|m| m.vm_choice.as_ref()) {
        None => VmChoice::FewestMoves,
        Some(s) => match s.get_ref().as_str() {
            "fewest-moves" => VmChoice::FewestMoves,
            "volume-size-ratio" => VmChoice::VolumeSizeRatio,
            other => {
                c.at(
                    s.span(),
                    format!("unknown vm_choice {other:?}"),
                    "use fewest-moves or volume-size-ratio",
                );
                VmChoice::FewestMoves
            }
        },
    };

    let mut placement = Placement::default();
    if let Some(pl) = &raw.placement {
        placement.host_labels = pl.host_labels.clone().unwrap_or_default();
        for (list, out, what) in [
            (&pl.affinity, &mut placement.affinity, "affinity"),
            (
                &pl.anti_affinity,
                &mut placement.anti_affinity,
                "anti_affinity",
            ),
        ] {
            for g in list.iter().flatten() {
                let mut names = g.get_ref().clone();
                let len = names.len();
                names.sort();
                names.dedup();
                if len < 2 || names.len() != len {
                    c.at(
                        g.span(),
                        format!(
                            "placement.{what} group {:?} needs at least two distinct VMs",
                            g.get_ref()
                        ),
                        "list each VM once, two or more per group",
                    );
                }
                out.push(g.get_ref().clone());
            }
        }
        for g in placement.anti_affinity.clone() {
            for a in &placement.affinity {
                let shared: Vec<&String> = g.iter().filter(|v| a.contains(v)).collect();
                if shared.len() >= 2 {
                    let span = pl
                        .anti_affinity
                        .as_ref()
                        .and_then(|l| l.iter().find(|s| s.get_ref() == &g))
                        .map_or(0..0, |s| s.span());
                    c.at(
                        span,
                        format!(
                            "{:?} must share a host (affinity) and must not (anti_affinity)",
                            shared
                        ),
                        "drop one of the two rules",
                    );
                }
            }
        }
    }

    let pw = raw.power.as_ref();
    let power = Power {
        consolidate: pw.and_then(|p| p.consolidate).unwrap_or(true),
        power_off_idle: pw.and_then(|p| p.power_off_idle).unwrap_or(true),
        spare_hosts: c.count(
            &pw.and_then(|p| p.spare_hosts.clone()),
            "power.spare_hosts",
            0,
            0,
        ) as usize,
    };

    let scaling = raw.scaling.as_ref().map(|s| {
        let span = s.span();
        let s = s.get_ref();
        let min_nodes = c.count(&s.min_nodes, "scaling.min_nodes", 1, 1) as u32;
        let max_nodes = c.count(
            &s.max_nodes,
            "scaling.max_nodes",
            1,
            i64::from(min_nodes.max(1)),
        ) as u32;
        let out = c.fraction(&s.scale_out_above, "scaling.scale_out_above", 0.8);
        let inn = c.fraction(&s.scale_in_below, "scaling.scale_in_below", 0.3);
        if min_nodes > max_nodes {
            c.at(
                span.clone(),
                format!("scaling.min_nodes ({min_nodes}) is above max_nodes ({max_nodes})"),
                "make min_nodes <= max_nodes",
            );
        }
        if inn >= out {
            c.at(
                span,
                format!("scaling.scale_in_below ({inn}) must be below scale_out_above ({out})"),
                "leave a gap, e.g. scale_in_below = 0.3, scale_out_above = 0.8",
            );
        }
        Scaling {
            service: s.service.clone(),
            min_nodes,
            max_nodes,
            scale_out_above: out,
            scale_in_below: inn,
        }
    });

    let a = raw.allocation.as_ref();
    // The hypervisor's CPU shares: libvirt's range for qemu (2..=262144).
    let raw_shares = a.and_then(|a| a.shares.clone());
    let mut shares = c.count(&raw_shares, "allocation.shares", 2, 1024);
    if let Some(s) = raw_shares.as_ref().filter(|_| shares > MAX_SHARES) {
        c.at(
            s.span(),
            format!("allocation.shares = {shares} is above {MAX_SHARES}"),
            format!("write a whole number from 2 to {MAX_SHARES} (1024 is the usual default)"),
        );
        shares = 1024;
    }
    let shares = shares as u32;
    let reservation = c.fraction(
        &a.and_then(|a| a.reservation.clone()),
        "allocation.reservation",
        0.0,
    );
    let limit = c.fraction(&a.and_then(|a| a.limit.clone()), "allocation.limit", 1.0);
    if reservation > limit {
        let span = a
            .and_then(|a| a.reservation.as_ref().map(|s| s.span()))
            .unwrap_or(0..0);
        c.at(
            span,
            format!("allocation.reservation ({reservation}) is above the limit ({limit})"),
            "a VM cannot be guaranteed more than its cap: make reservation <= limit",
        );
    }

    let mut active_minutes = Vec::new();
    for r in raw
        .schedule
        .iter()
        .flat_map(|s| s.active_hours.iter().flatten())
    {
        let parsed = r
            .get_ref()
            .split_once('-')
            .and_then(|(a, b)| Some((hhmm(a)?, hhmm(b)?)));
        match parsed {
            Some((a, b)) if a < b => active_minutes.push((a, b)),
            _ => c.at(
                r.span(),
                format!("bad active-hours range {:?}", r.get_ref()),
                "write \"HH:MM-HH:MM\" with start before end, e.g. \"08:00-20:00\"",
            ),
        }
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Policy {
        name,
        description: raw.description.clone().unwrap_or_default(),
        scope,
        cpu,
        memory,
        network,
        observation: Observation {
            window: window as usize,
            k: k as usize,
            n: n as usize,
        },
        prediction: Prediction {
            predictor: choice,
            horizon: horizon as usize,
            backtest: backtest as usize,
            safety_margin,
        },
        migration: Migration {
            max_concurrent: max_concurrent as usize,
            max_per_round,
            max_per_hour,
            vm_cooldown_rounds,
            host_cooldown_rounds,
            hysteresis,
            destination,
            vm_choice,
        },
        placement,
        power,
        scaling,
        allocation: Allocation {
            shares,
            reservation,
            limit,
        },
        active_minutes,
    })
}
