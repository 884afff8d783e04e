//! The `[security_groups.NAME]` sections: each group's ingress and egress
//! rules (protocol, ports, source), with no rule written twice.

use ipnet::IpNet;

use super::{sp, Refs, Validator};
use crate::env::raw;
use crate::env::{Protocol, Rule, SecurityGroup, Source, Tier};

impl Validator {
    pub(super) fn security_groups(&mut self, r: &raw::File, refs: &Refs) -> Vec<SecurityGroup> {
        let has_bastion = r.bastion.is_some();
        let mut security_groups = Vec::new();
        for (k, g) in &r.security_groups {
            let gname = self.name("security group name", k);
            let ingress = self.rules(&g.ingress, "ingress", &gname, refs, has_bastion);
            let egress = self.rules(&g.egress, "egress", &gname, refs, has_bastion);
            security_groups.push(SecurityGroup {
                name: gname.clone(),
                description: g
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("{gname} (managed by chronous)")),
                ingress,
                egress,
            });
        }
        security_groups
    }

    /// The rules of one direction of group `gname`.
    fn rules(
        &mut self,
        list: &[raw::Rule],
        direction: &str,
        gname: &str,
        refs: &Refs,
        has_bastion: bool,
    ) -> Vec<Rule> {
        let mut out: Vec<Rule> = Vec::new();
        for x in list {
            let Some(rule) = self.rule(x, refs, has_bastion) else {
                continue;
            };
            if out.iter().any(|o| {
                o.protocol == rule.protocol
                    && o.from_port == rule.from_port
                    && o.to_port == rule.to_port
                    && o.source == rule.source
            }) {
                self.err(
                    "E0308",
                    format!("security group `{gname}` has this {direction} rule twice"),
                    sp(&x.source),
                    "same protocol, ports and source as an earlier rule",
                    "remove one of the two (AWS keeps one rule per protocol, ports and source)",
                );
                continue;
            }
            out.push(rule);
        }
        out
    }

    fn rule(&mut self, r: &raw::Rule, refs: &Refs, has_bastion: bool) -> Option<Rule> {
        let (protocol, from, to) = self.rule_ports(r)?;
        let source = self.rule_source(r, refs, has_bastion)?;
        Some(Rule {
            protocol,
            from_port: from,
            to_port: to,
            source,
            description: r.description.clone(),
        })
    }

    /// The protocol and port range of a rule (-1, -1 for icmp and all).
    fn rule_ports(&mut self, r: &raw::Rule) -> Option<(Protocol, i64, i64)> {
        let protocol = match r.protocol.get_ref().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "all" | "-1" => Protocol::All,
            other => {
                self.err(
                    "E0302",
                    format!("unknown protocol `{other}`"),
                    sp(&r.protocol),
                    "unknown protocol",
                    "use tcp, udp, icmp or all",
                );
                return None;
            }
        };
        let (from, to) = match protocol {
            Protocol::Icmp | Protocol::All => {
                if let Some(p) = r.port.as_ref().or(r.from_port.as_ref()) {
                    self.err(
                        "E0303",
                        format!("an `{}` rule takes no port", protocol.as_str()),
                        sp(p),
                        "port not allowed here",
                        "remove the port, or use protocol = \"tcp\"",
                    );
                }
                (-1, -1)
            }
            Protocol::Tcp | Protocol::Udp => match (&r.port, &r.from_port, &r.to_port) {
                (Some(p), None, None) => {
                    let p2 = self.port("port", p) as i64;
                    (p2, p2)
                }
                (None, Some(f), Some(t)) => {
                    let a = self.port("from_port", f) as i64;
                    let b = self.port("to_port", t) as i64;
                    if (0..=65535).contains(f.get_ref())
                        && (0..=65535).contains(t.get_ref())
                        && a > b
                    {
                        self.err(
                            "E0304",
                            format!("port range {a}-{b} runs backwards"),
                            sp(f),
                            "from_port is above to_port",
                            format!("write from_port = {b}, to_port = {a}"),
                        );
                    }
                    (a, b)
                }
                _ => {
                    self.err(
                        "E0305",
                        format!(
                            "a `{}` rule needs `port`, or both `from_port` and `to_port`",
                            protocol.as_str()
                        ),
                        sp(&r.protocol),
                        "ports missing",
                        "add port = 80, or from_port = 8000 and to_port = 8080",
                    );
                    return None;
                }
            },
        };
        Some((protocol, from, to))
    }

    /// Where a rule's traffic comes from or goes to.
    fn rule_source(&mut self, r: &raw::Rule, refs: &Refs, has_bastion: bool) -> Option<Source> {
        let s = r.source.get_ref();
        let source = if let Some(g) = s.strip_prefix("sg:") {
            if !self.sg_exists(refs, g, sp(&r.source)) {
                return None;
            }
            Source::Group(g.to_string())
        } else if let Some(t) = s.strip_prefix("tier:") {
            match t {
                "public" => Source::Tier(Tier::Public),
                "private" => Source::Tier(Tier::Private),
                "database" => Source::Tier(Tier::Database),
                _ => {
                    self.err(
                        "E0209",
                        format!("unknown subnet tier `{t}`"),
                        sp(&r.source),
                        "unknown tier",
                        "use tier:public, tier:private or tier:database",
                    );
                    return None;
                }
            }
        } else if s == "bastion" {
            if !has_bastion {
                self.err(
                    "E0306",
                    "rule source `bastion` but the environment has no [bastion]",
                    sp(&r.source),
                    "no bastion",
                    "add a [bastion] section or use another source",
                );
                return None;
            }
            Source::Bastion
        } else if s == "operator" {
            Source::Operator
        } else {
            match s.parse::<IpNet>() {
                Ok(n) if n.trunc() == n => Source::Cidr(n),
                Ok(n) => {
                    self.err(
                        "E0202",
                        format!("rule source `{s}` has host bits set"),
                        sp(&r.source),
                        "not a network address",
                        format!("did you mean `{}`?", n.trunc()),
                    );
                    return None;
                }
                Err(_) => {
                    self.err(
                        "E0307",
                        format!("rule source `{s}` is neither a CIDR block nor a known source"),
                        sp(&r.source),
                        "unknown source",
                        "write a CIDR (a.b.c.d/n), sg:<group>, tier:<public|private|database>, bastion or operator",
                    );
                    return None;
                }
            }
        };
        Some(source)
    }
}
