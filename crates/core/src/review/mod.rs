//! The review of an environment file (`chronous check`): lints with stable
//! ids, a severity, a one-line message, the place in chronous.toml and a
//! fix; and the monthly cost estimate (`chronous cost`, [`cost`]) from the
//! dated price table ([`prices`]). Pure: the file's text and the validated
//! environment in, findings out.
//!
//! Lint ids read `CHR-<AREA>-<NNN>` (SG security groups, DB database, NET
//! what reaches the API, LB load balancer, BAS bastion, IAM roles and
//! policies, SEC secrets, DEP deployments). The lints about who reaches
//! what ask the reachability engine (`crate::reach`) and quote its verdict. An id is never reused or
//! renamed: [`LintId`] is the one table of them, with severity and title.
//! One function per lint in `lints.rs`.
//!
//! What validation already refuses (a password in the file, E0901) is not
//! repeated here: [`secrets`] is the one classifier both use.

pub mod cost;
pub mod deploy;
mod lints;
pub mod prices;
pub mod secrets;

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor};
use serde::{Serialize, Serializer};

use crate::diag::Diagnostics;
use crate::env::{raw, Environment};
use crate::reach::{Facts, Network};
use crate::resources::{expand, Resource};

pub(crate) use lints::broad_policy;

/// How bad a finding is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!("unknown severity `{s}`: expected info, low, medium, high or critical")
            })
    }
}

/// Every lint, one row each: its id, severity and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LintId {
    SshOpenToWorld,
    DatabasePortOpenToWorld,
    DatabaseInPublicSubnet,
    ProductionDatabaseWithoutFinalSnapshot,
    DatabaseReachableFromInternet,
    ProductionApiReachableFromInternet,
    ProductionApiAdmitsInternet,
    LoadBalancerOpenToWorld,
    BastionUnreachable,
    BroadManagedPolicy,
    WildcardPolicyAction,
    SecretInFile,
    DeploymentDowntime,
}

impl LintId {
    pub const ALL: [LintId; 13] = [
        LintId::SshOpenToWorld,
        LintId::DatabasePortOpenToWorld,
        LintId::DatabaseInPublicSubnet,
        LintId::ProductionDatabaseWithoutFinalSnapshot,
        LintId::DatabaseReachableFromInternet,
        LintId::ProductionApiReachableFromInternet,
        LintId::ProductionApiAdmitsInternet,
        LintId::LoadBalancerOpenToWorld,
        LintId::BastionUnreachable,
        LintId::BroadManagedPolicy,
        LintId::WildcardPolicyAction,
        LintId::SecretInFile,
        LintId::DeploymentDowntime,
    ];

    /// The stable id, as printed and as `--json` gives it.
    pub fn code(self) -> &'static str {
        match self {
            LintId::SshOpenToWorld => "CHR-SG-001",
            LintId::DatabasePortOpenToWorld => "CHR-SG-002",
            LintId::DatabaseInPublicSubnet => "CHR-DB-001",
            LintId::ProductionDatabaseWithoutFinalSnapshot => "CHR-DB-002",
            LintId::DatabaseReachableFromInternet => "CHR-DB-003",
            LintId::ProductionApiReachableFromInternet => "CHR-NET-001",
            LintId::ProductionApiAdmitsInternet => "CHR-NET-002",
            LintId::LoadBalancerOpenToWorld => "CHR-LB-001",
            LintId::BastionUnreachable => "CHR-BAS-001",
            LintId::BroadManagedPolicy => "CHR-IAM-001",
            LintId::WildcardPolicyAction => "CHR-IAM-002",
            LintId::SecretInFile => "CHR-SEC-001",
            LintId::DeploymentDowntime => "CHR-DEP-001",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            LintId::SshOpenToWorld => Severity::High,
            LintId::DatabasePortOpenToWorld => Severity::High,
            LintId::DatabaseInPublicSubnet => Severity::Medium,
            LintId::ProductionDatabaseWithoutFinalSnapshot => Severity::Low,
            LintId::DatabaseReachableFromInternet => Severity::Critical,
            LintId::ProductionApiReachableFromInternet => Severity::Critical,
            LintId::ProductionApiAdmitsInternet => Severity::High,
            LintId::LoadBalancerOpenToWorld => Severity::Medium,
            LintId::BastionUnreachable => Severity::Medium,
            LintId::BroadManagedPolicy => Severity::Medium,
            LintId::WildcardPolicyAction => Severity::High,
            LintId::SecretInFile => Severity::High,
            LintId::DeploymentDowntime => Severity::Medium,
        }
    }

    /// What the lint looks for, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            LintId::SshOpenToWorld => "SSH open to the whole internet",
            LintId::DatabasePortOpenToWorld => "database port open to the whole internet",
            LintId::DatabaseInPublicSubnet => "database in a public subnet",
            LintId::ProductionDatabaseWithoutFinalSnapshot => {
                "production database destroyed without a final snapshot"
            }
            LintId::DatabaseReachableFromInternet => "database reachable from the internet",
            LintId::ProductionApiReachableFromInternet => {
                "production API reachable from the internet"
            }
            LintId::ProductionApiAdmitsInternet => "production API admits the internet",
            LintId::LoadBalancerOpenToWorld => "load balancer open to the whole internet",
            LintId::BastionUnreachable => "nobody can reach the bastion",
            LintId::BroadManagedPolicy => "broad AWS managed policy",
            LintId::WildcardPolicyAction => "wildcard action in a policy",
            LintId::SecretInFile => "secret written in the file",
            LintId::DeploymentDowntime => "every deployment has downtime",
        }
    }

    fn run(self, cx: &Cx<'_>) -> Vec<Finding> {
        match self {
            LintId::SshOpenToWorld => lints::ssh_open_to_world(cx),
            LintId::DatabasePortOpenToWorld => lints::database_port_open_to_world(cx),
            LintId::DatabaseInPublicSubnet => lints::database_in_public_subnet(cx),
            LintId::ProductionDatabaseWithoutFinalSnapshot => {
                lints::production_database_without_final_snapshot(cx)
            }
            LintId::DatabaseReachableFromInternet => lints::database_reachable_from_internet(cx),
            LintId::ProductionApiReachableFromInternet => {
                lints::production_api_reachable_from_internet(cx)
            }
            LintId::ProductionApiAdmitsInternet => lints::production_api_admits_internet(cx),
            LintId::LoadBalancerOpenToWorld => lints::load_balancer_open_to_world(cx),
            LintId::BastionUnreachable => lints::bastion_unreachable(cx),
            LintId::BroadManagedPolicy => lints::broad_managed_policy(cx),
            LintId::WildcardPolicyAction => lints::wildcard_policy_action(cx),
            LintId::SecretInFile => lints::secret_in_file(cx),
            LintId::DeploymentDowntime => lints::deployment_downtime(cx),
        }
    }
}

impl Serialize for LintId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl std::fmt::Display for LintId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One finding of one lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: LintId,
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Byte range in chronous.toml (None: nothing in the file says it,
    /// e.g. a policy chronous attaches itself).
    #[serde(skip)]
    pub span: Option<Range<usize>>,
    /// Short text under the place.
    pub label: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    fn new(id: LintId, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            id,
            severity: id.severity(),
            message: message.into(),
            span: None,
            label: String::new(),
            fix: fix.into(),
        }
    }
    fn at(mut self, span: Option<Range<usize>>, label: impl Into<String>) -> Finding {
        self.span = span;
        self.label = label.into();
        self
    }
}

/// What a lint looks at: the validated environment, the file as written
/// (for places), the resources it expands to (for what chronous makes) and
/// their network (for who reaches what: `crate::reach`).
pub struct Cx<'a> {
    pub env: &'a Environment,
    pub raw: Option<raw::File>,
    pub resources: Vec<Resource>,
    pub net: Network,
}

/// The findings of every lint on one file, in the order of the table.
#[derive(Debug, Clone)]
pub struct Report {
    pub file: String,
    pub source: String,
    pub findings: Vec<Finding>,
}

/// Run every lint on `env`, the validated form of `source` (the text of
/// `file`, for the places), and on the resources it expands to.
pub fn check(file: &str, source: &str, env: &Environment) -> Report {
    check_with(file, source, env, expand(env))
}

/// [`check`] with the resources given (expanded from the file, or recorded
/// or imported ones): the IAM lints look at these.
pub fn check_with(file: &str, source: &str, env: &Environment, resources: Vec<Resource>) -> Report {
    let net = Network::from_resources(&resources, &Facts::from_env(env));
    let cx = Cx {
        env,
        raw: toml::from_str(source).ok(),
        resources,
        net,
    };
    let findings = LintId::ALL.iter().flat_map(|id| id.run(&cx)).collect();
    Report {
        file: file.to_string(),
        source: source.to_string(),
        findings,
    }
}

/// A finding with its place resolved, for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedFinding<'a> {
    pub file: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    #[serde(flatten)]
    pub finding: &'a Finding,
}

impl Report {
    /// The findings at or above `at`.
    pub fn at_or_above(&self, at: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= at).count()
    }

    pub fn located(&self) -> Vec<LocatedFinding<'_>> {
        let d = Diagnostics {
            file: self.file.clone(),
            source: self.source.clone(),
            items: vec![],
        };
        self.findings
            .iter()
            .map(|f| {
                let (line, column) = match &f.span {
                    Some(s) => {
                        let (l, c) = d.line_col(s.start);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                LocatedFinding {
                    file: &self.file,
                    line,
                    column,
                    finding: f,
                }
            })
            .collect()
    }

    /// Every finding as a person reads it, like validate's diagnostics:
    /// `high[CHR-SG-001]: message`, the place in the file, the fix.
    pub fn render(&self) -> String {
        let file = SimpleFile::new(self.file.as_str(), self.source.as_str());
        let config = term::Config::default();
        let mut text = String::new();
        for f in &self.findings {
            let mut cs = CsDiagnostic::note()
                .with_code(f.id.code())
                .with_message(&f.message);
            match &f.span {
                Some(span) => {
                    let span = span.start.min(self.source.len())..span.end.min(self.source.len());
                    cs = cs.with_labels(vec![Label::primary((), span).with_message(&f.label)]);
                }
                None => {
                    cs = cs.with_notes(vec![format!(
                        "in what chronous makes for {}, not written in it",
                        self.file
                    )])
                }
            }
            cs = cs.with_notes(vec![format!("fix: {}", f.fix)]);
            let mut out = NoColor::new(Vec::new());
            // Writing into a Vec cannot fail.
            let _ = term::emit(&mut out, &config, &file, &cs);
            let one = String::from_utf8_lossy(&out.into_inner()).into_owned();
            // codespan heads it `note[CODE]`: the lint's severity instead.
            text.push_str(f.severity.as_str());
            text.push_str(one.strip_prefix("note").unwrap_or(&one));
        }
        text
    }

    /// The one-line summary: how many findings of each severity, and
    /// whether `--fail-on` fails.
    pub fn summary(&self, fail_on: Severity) -> String {
        let counts: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .map(|s| {
                let n = self.findings.iter().filter(|f| f.severity == *s).count();
                format!("{n} {}", s.as_str())
            })
            .collect();
        let failing = self.at_or_above(fail_on);
        format!(
            "{} finding(s): {}; {}",
            self.findings.len(),
            counts.join(", "),
            if failing == 0 {
                format!("none at or above {} (--fail-on)", fail_on.as_str())
            } else {
                format!(
                    "{failing} at or above {} (--fail-on): failing",
                    fail_on.as_str()
                )
            }
        )
    }
}
