//! `chronous init --from-terraform`: an environment file written from a
//! Terraform state, describing what exists, so that the plan after `chronous
//! import terraform` changes only what chronous adds itself. What the file
//! cannot express is returned as located notes (Terraform address and
//! attribute), never silently dropped. Pure: the caller writes the files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::matcher::match_state;
use super::tfstate::TfObject;
use crate::resources::{expand, name_of, tags_of};

/// Something of the estate the file does not say, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub tf_address: String,
    pub attribute: String,
    pub message: String,
}

/// The file and what goes beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct InitFile {
    pub toml: String,
    /// (file name, content): the key pair's public key.
    pub public_key: Option<(String, String)>,
    pub notes: Vec<Note>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InitError {
    #[error("the state has no {0}: chronous describes one ECS service on EC2 behind its network; import what exists with `chronous import aws` into a file written by hand")]
    Missing(&'static str),
    #[error("the file written from the state does not validate (a bug in chronous, or an estate chronous cannot describe):\n{0}")]
    Invalid(String),
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", v.join(", "))
}

struct St<'a> {
    objects: &'a [TfObject],
    notes: Vec<Note>,
    /// subnet id -> its name in the file.
    subnets: BTreeMap<String, String>,
    /// security group id -> its key in the file.
    groups: BTreeMap<String, String>,
}

impl<'a> St<'a> {
    fn all(&self, t: &str) -> impl Iterator<Item = &'a TfObject> + '_ {
        let t = t.to_string();
        self.objects
            .iter()
            .filter(move |o| o.tf_type == t && o.mode == "managed")
    }
    fn one(&self, t: &'static str) -> Result<&'a TfObject, InitError> {
        self.all(t).next().ok_or(InitError::Missing(t))
    }
    fn note(&mut self, o: &TfObject, attribute: &str, message: impl Into<String>) {
        self.notes.push(Note {
            tf_address: o.address.clone(),
            attribute: attribute.into(),
            message: message.into(),
        });
    }
    fn subnet_names(&self, ids: &[String]) -> Vec<String> {
        ids.iter()
            .filter_map(|i| self.subnets.get(i).cloned())
            .collect()
    }
    fn group_keys(&self, ids: &[String]) -> Vec<String> {
        ids.iter()
            .filter_map(|i| self.groups.get(i).cloned())
            .collect()
    }
}

fn num(o: &TfObject, k: &str) -> i64 {
    match o.attrs.get(k) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Write the environment file for the objects of a Terraform state.
pub fn from_terraform(
    objects: &[TfObject],
    name: &str,
    backup_file: &str,
) -> Result<InitFile, InitError> {
    write(
        objects,
        name,
        backup_file,
        None,
        None,
        "`chronous init --from-terraform` from the objects a Terraform state records",
    )
}

/// Write the environment file for the objects read from an AWS account
/// (`chronous_aws::discover`, in the shape of a Terraform state's).
pub fn from_aws(
    objects: &[TfObject],
    name: &str,
    backup_file: &str,
    account_id: &str,
    prefix: Option<&str>,
) -> Result<InitFile, InitError> {
    write(
        objects,
        name,
        backup_file,
        Some(account_id),
        prefix,
        "`chronous init --from-aws` from the objects found in the account",
    )
}

fn write(
    objects: &[TfObject],
    name: &str,
    backup_file: &str,
    account_id: Option<&str>,
    prefix: Option<&str>,
    by: &str,
) -> Result<InitFile, InitError> {
    let mut st = St {
        objects,
        notes: Vec::new(),
        subnets: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    let mut t = String::new();
    let cluster = st.one("aws_ecs_cluster")?;
    let cluster_name = cluster.str("name").unwrap_or_default().to_string();
    // Given, or what the cluster's name starts with (`cak-cluster-1`: `cak`).
    let prefix = prefix.map(str::to_string).unwrap_or_else(|| {
        cluster_name
            .split(['-', '_'])
            .next()
            .unwrap_or("env")
            .to_string()
    });
    let region = super::tfstate::regions(objects)
        .first()
        .map(|(r, _)| r.clone())
        .unwrap_or_default();
    let _ = writeln!(t, "# Written by {by}.\n# The database password is never written here: it comes at run time from\n# CHRONOUS_DB_PASSWORD (or the file named by database.password_file).\n");
    let bastion_ip = st
        .all("aws_instance")
        .next()
        .and_then(|i| i.str("private_ip"))
        .map(str::to_string);
    let operator = operator_cidr(&st, bastion_ip.as_deref());
    let _ = writeln!(
        t,
        "[environment]\nname = {}\nprefix = {}\nregion = {}\n{}operator_cidr = {}\n",
        q(name),
        q(&prefix),
        q(&region),
        account_id
            .map(|a| format!("account_id = {}\n", q(a)))
            .unwrap_or_default(),
        q(&operator)
    );
    network(&mut st, &mut t)?;
    security_groups(&mut st, &mut t, bastion_ip.as_deref(), &operator);
    let key = st.all("aws_key_pair").next();
    let public_key = key.map(|k| {
        let n = k.str("key_name").unwrap_or("key").to_string();
        let _ = writeln!(
            t,
            "[key_pair]\nname = {}\npublic_key_file = {}\n",
            q(&n),
            q(&format!("{n}.pub"))
        );
        (
            format!("{n}.pub"),
            format!("{}\n", k.str("public_key").unwrap_or_default()),
        )
    });
    compute(&mut st, &mut t, &cluster_name)?;
    load_balancer(&mut st, &mut t);
    database(&mut st, &mut t, backup_file);
    if let Some(b) = st.all("aws_instance").next() {
        let subnet = st.subnet_names(&[b.str("subnet_id").unwrap_or_default().to_string()]);
        let groups = st.group_keys(&b.strs("vpc_security_group_ids"));
        let _ = writeln!(
            t,
            "[bastion]\nsubnet = {}\ninstance_type = {}\nsecurity_groups = {}\n",
            q(subnet.first().map(String::as_str).unwrap_or("")),
            q(b.str("instance_type").unwrap_or("t2.nano")),
            list(&groups)
        );
    }
    let existing = existing(objects, &t)?;
    t.push_str(&existing);
    Ok(InitFile {
        toml: t,
        public_key,
        notes: st.notes,
    })
}

/// The operator's address: the /32 that the bastion's SSH (or the ELB) admits, other than the bastion.
fn operator_cidr(st: &St, bastion_ip: Option<&str>) -> String {
    let bastion = bastion_ip.map(|b| format!("{b}/32"));
    st.all("aws_security_group_rule")
        .filter(|r| r.str("type") == Some("ingress"))
        .flat_map(|r| r.strs("cidr_blocks"))
        .find(|c| c.ends_with("/32") && Some(c) != bastion.as_ref())
        .unwrap_or_else(|| "0.0.0.0/0".into())
}

fn network(st: &mut St, t: &mut String) -> Result<(), InitError> {
    let vpc = st.one("aws_vpc")?;
    let db_subnets: BTreeSet<String> = st
        .all("aws_db_subnet_group")
        .flat_map(|g| g.strs("subnet_ids"))
        .collect();
    let mut subnets: Vec<(&TfObject, &str)> = st
        .all("aws_subnet")
        .map(|s| (s, tier_of(st, s, &db_subnets)))
        .collect();
    subnets.sort_by_key(|(s, tier)| {
        (
            ["public", "private", "database"]
                .iter()
                .position(|x| x == tier),
            s.str("availability_zone").map(str::to_string),
        )
    });
    let mut azs: Vec<String> = subnets
        .iter()
        .filter_map(|(s, _)| s.str("availability_zone").map(str::to_string))
        .collect();
    azs.sort();
    azs.dedup();
    let private = subnets.iter().filter(|(_, t)| *t == "private").count();
    let nats = st.all("aws_nat_gateway").count();
    let nat = match nats {
        0 => "none",
        1 if private != 1 => "single",
        _ => "per_subnet",
    };
    let _ = writeln!(
        t,
        "[network]\ncidr = {}\nazs = {}\nnat = {}\n",
        q(vpc.str("cidr_block").unwrap_or_default()),
        list(&azs),
        q(nat)
    );
    for (s, tier) in subnets {
        let az = s.str("availability_zone").unwrap_or_default();
        let short = if tier == "database" { "db" } else { tier };
        let mut n = format!("{short}-{}", az.chars().last().unwrap_or('x'));
        let mut i = 2;
        while st.subnets.values().any(|v| *v == n) {
            n = format!("{short}-{}{i}", az.chars().last().unwrap_or('x'));
            i += 1;
        }
        st.subnets
            .insert(s.id().unwrap_or_default().to_string(), n.clone());
        let _ = writeln!(
            t,
            "[[network.subnets]]\nname = {}\ntier = {}\ncidr = {}\naz = {}\n",
            q(&n),
            q(tier),
            q(s.str("cidr_block").unwrap_or_default()),
            q(az)
        );
    }
    Ok(())
}

/// A subnet's tier: by the default route of its route table where one is
/// associated (internet gateway: public, NAT gateway: private, neither:
/// database, or private when a DB subnet group exists without it); else by
/// whether it gives public addresses and the DB subnet group.
fn tier_of(st: &St, s: &TfObject, db_subnets: &BTreeSet<String>) -> &'static str {
    let in_db = s.id().is_some_and(|i| db_subnets.contains(i));
    let table = st
        .all("aws_route_table_association")
        .find(|a| a.str("subnet_id").is_some() && a.str("subnet_id") == s.id())
        .and_then(|a| {
            st.all("aws_route_table")
                .find(|t| t.id().is_some() && t.id() == a.str("route_table_id"))
        });
    if let Some(t) = table {
        let routes = t.attrs.get("route").and_then(Value::as_array);
        let via = |k: &str, pre: &str| {
            routes.into_iter().flatten().any(|r| {
                r.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|g| g.starts_with(pre))
            })
        };
        return if via("gateway_id", "igw-") {
            "public"
        } else if via("nat_gateway_id", "nat-") {
            "private"
        } else if in_db || db_subnets.is_empty() {
            "database"
        } else {
            "private"
        };
    }
    if s.attrs.get("map_public_ip_on_launch") == Some(&Value::Bool(true)) {
        "public"
    } else if in_db {
        "database"
    } else {
        "private"
    }
}

/// A group's key in the file: its Name tag, or its name without Terraform's `name_prefix` suffix.
fn group_key(g: &TfObject) -> String {
    if let Some(n) = g.name_tag() {
        return crate::resources::ident(n);
    }
    let name = g.str("name").unwrap_or("group");
    let base = match name.rsplit_once('-') {
        Some((b, suffix)) if suffix.chars().all(|c| c.is_ascii_digit()) && suffix.len() > 8 => b,
        _ => name,
    };
    crate::resources::ident(base)
}

fn security_groups(st: &mut St, t: &mut String, bastion_ip: Option<&str>, operator: &str) {
    let groups: Vec<&TfObject> = st.all("aws_security_group").collect();
    for g in &groups {
        st.groups
            .insert(g.id().unwrap_or_default().to_string(), group_key(g));
    }
    // Subnet CIDRs by tier, for `tier:` sources.
    let tiers = tier_cidrs(st);
    for g in groups {
        let key = group_key(g);
        let _ = writeln!(
            t,
            "[security_groups.{key}]\ndescription = {}",
            q(g.str("description").unwrap_or_default())
        );
        for dir in ["ingress", "egress"] {
            let rules: Vec<&TfObject> = st
                .all("aws_security_group_rule")
                .filter(|r| r.str("security_group_id") == g.id() && r.str("type") == Some(dir))
                .collect();
            let mut lines = Vec::new();
            for r in rules {
                match rule(st, r, bastion_ip, operator, &tiers) {
                    Some(l) => lines.push(l),
                    None => st.note(r, "cidr_blocks", "a rule with several CIDR blocks that are not one tier's subnets: chronous.toml has one source per rule; write one rule per block"),
                }
            }
            let _ = writeln!(
                t,
                "{dir} = [\n{}]",
                lines
                    .iter()
                    .map(|l| format!("  {l},\n"))
                    .collect::<String>()
            );
        }
        t.push('\n');
    }
}

fn tier_cidrs(st: &St) -> BTreeMap<BTreeSet<String>, String> {
    let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let db: BTreeSet<String> = st
        .all("aws_db_subnet_group")
        .flat_map(|g| g.strs("subnet_ids"))
        .collect();
    for s in st.all("aws_subnet") {
        let tier = tier_of(st, s, &db);
        by.entry(tier.to_string())
            .or_default()
            .insert(s.str("cidr_block").unwrap_or_default().to_string());
    }
    by.into_iter().map(|(t, c)| (c, t)).collect()
}

fn rule(
    st: &St,
    r: &TfObject,
    bastion_ip: Option<&str>,
    operator: &str,
    tiers: &BTreeMap<BTreeSet<String>, String>,
) -> Option<String> {
    let proto = match r.str("protocol").unwrap_or("-1") {
        "-1" | "all" => "all",
        p => p,
    };
    let cidrs = r.strs("cidr_blocks");
    let source = if let Some(sg) = r.str("source_security_group_id") {
        format!("sg:{}", st.groups.get(sg).cloned().unwrap_or_default())
    } else if cidrs.len() == 1 && bastion_ip.is_some_and(|b| cidrs[0] == format!("{b}/32")) {
        "bastion".into()
    } else if cidrs.len() == 1 && cidrs[0] == operator && operator != "0.0.0.0/0" {
        "operator".into()
    } else if cidrs.len() == 1 {
        cidrs[0].clone()
    } else {
        format!(
            "tier:{}",
            tiers.get(&cidrs.iter().cloned().collect::<BTreeSet<_>>())?
        )
    };
    let (from, to) = (num(r, "from_port"), num(r, "to_port"));
    let ports = if proto == "all" || proto == "icmp" {
        String::new()
    } else if from == to {
        format!(", port = {from}")
    } else {
        format!(", from_port = {from}, to_port = {to}")
    };
    let desc = r
        .str("description")
        .map(|d| format!(", description = {}", q(d)))
        .unwrap_or_default();
    Some(format!(
        "{{ protocol = {}{ports}, source = {}{desc} }}",
        q(proto),
        q(&source)
    ))
}

/// `[images]`, `[cluster]`, `[service]` and `[logs]`: the task definition's one container.
fn compute(st: &mut St, t: &mut String, cluster_name: &str) -> Result<(), InitError> {
    let td = st.one("aws_ecs_task_definition")?;
    let svc = st.one("aws_ecs_service")?;
    let defs: Value = td
        .str("container_definitions")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let c = defs.get(0).cloned().unwrap_or(Value::Null);
    if defs.as_array().is_some_and(|a| a.len() > 1) {
        st.note(
            td,
            "container_definitions",
            "more than one container: chronous.toml describes the first",
        );
    }
    let image = c["image"].as_str().unwrap_or_default();
    let (repo_url, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let repo = repo_url.rsplit('/').next().unwrap_or(repo_url).to_string();
    // The Terraform resource's name; for objects read from the account (no
    // Terraform address), the container's name.
    let image_key = st
        .all("aws_ecr_repository")
        .find(|r| r.str("name") == Some(repo.as_str()))
        .filter(|r| r.address.contains('.'))
        .map(|r| {
            r.address
                .rsplit('.')
                .next()
                .unwrap_or("app")
                .split('[')
                .next()
                .unwrap_or("app")
                .to_string()
        })
        .or_else(|| c["name"].as_str().map(crate::resources::ident))
        .unwrap_or_else(|| crate::resources::ident(&repo));
    let _ = writeln!(
        t,
        "[images.{image_key}]\nrepository = {}\ntag = {}\n",
        q(&repo),
        q(tag)
    );
    let lc = st
        .all("aws_launch_configuration")
        .next()
        .or_else(|| st.all("aws_launch_template").next());
    let asg = st.all("aws_autoscaling_group").next();
    let ami = st
        .objects
        .iter()
        .find(|o| o.mode == "data" && o.tf_type == "aws_ami");
    let ami_name = ami
        .and_then(|a| a.block("filter"))
        .and_then(|f| f["values"][0].as_str())
        .unwrap_or("amzn2-ami-ecs-hvm-*-x86_64-ebs")
        .to_string();
    let owner = ami
        .map(|a| a.strs("owners"))
        .and_then(|o| o.first().cloned())
        .unwrap_or_else(|| "amazon".into());
    let instance_type = lc
        .and_then(|l| l.str("instance_type"))
        .unwrap_or("t2.nano")
        .to_string();
    let subnets = st.subnet_names(
        &asg.map(|a| a.strs("vpc_zone_identifier"))
            .unwrap_or_default(),
    );
    let groups = st.group_keys(&lc.map(|l| l.strs("security_groups")).unwrap_or_default());
    let count = asg.map(|a| num(a, "desired_capacity")).unwrap_or(1);
    if let Some(l) = lc.filter(|l| l.tf_type == "aws_launch_configuration") {
        st.note(l, "", "a launch configuration: chronous uses a launch template, made before the launch configuration is destroyed (the plan after import shows it)");
    }
    let _ = writeln!(t, "[cluster]\nname = {}\ninstance_type = {}\ninstance_count = {count}\nami = {{ name = {}, owner = {} }}\nsubnets = {}\nsecurity_groups = {}\n", q(cluster_name), q(&instance_type), q(&ami_name), q(&owner), list(&subnets), list(&groups));
    let pm = &c["portMappings"][0];
    let mut env_lines = Vec::new();
    for e in c["environment"].as_array().into_iter().flatten() {
        let (k, v) = (
            e["name"].as_str().unwrap_or_default(),
            e["value"].as_str().unwrap_or_default(),
        );
        match k {
            // chronous sets these from the database it manages.
            "DB_HOST" | "DB_PORT" | "DB_USER" => {}
            k if k.contains("PASSWORD") || k.contains("SECRET") => st.note(td, &format!("container_definitions.environment.{k}"), "a secret in the task definition's plain environment: not written; chronous gives the database password through SSM (rotate this one)"),
            k => env_lines.push(format!("{k} = {}", q(v))),
        }
    }
    let _ = writeln!(t, "[service]\nname = {}\ntask_family = {}\ncontainer_name = {}\nimage = {}\ncontainer_port = {}\nhost_port = {}\nmemory = {}\ncpu = {}\nessential = {}\ndesired_count = {}\nminimum_healthy_percent = {}\nmaximum_percent = {}\nenvironment = {{ {} }}\n",
        q(svc.str("name").unwrap_or_default()), q(td.str("family").unwrap_or_default()), q(c["name"].as_str().unwrap_or_default()), q(&image_key),
        pm["containerPort"].as_i64().unwrap_or(80), pm["hostPort"].as_i64().unwrap_or(0), c["memory"].as_i64().unwrap_or(128), c["cpu"].as_i64().unwrap_or(0),
        c["essential"].as_bool().unwrap_or(true), num(svc, "desired_count"), num(svc, "deployment_minimum_healthy_percent"), num(svc, "deployment_maximum_percent"), env_lines.join(", "));
    let logs = &c["logConfiguration"]["options"];
    let group = logs["awslogs-group"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            st.all("aws_cloudwatch_log_group")
                .next()
                .and_then(|g| g.str("name"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let retention = st
        .all("aws_cloudwatch_log_group")
        .find(|g| g.str("name") == Some(group.as_str()))
        .map(|g| num(g, "retention_in_days"))
        .unwrap_or(0);
    let retention = if retention > 0 {
        format!("retention_days = {retention}\n")
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "[logs]\ngroup = {}\nstream_prefix = {}\n{retention}",
        q(&group),
        q(logs["awslogs-stream-prefix"].as_str().unwrap_or("ecs"))
    );
    Ok(())
}

fn load_balancer(st: &mut St, t: &mut String) {
    let Some(lb) = st.all("aws_elb").next() else {
        return;
    };
    let l = lb.block("listener").cloned().unwrap_or(Value::Null);
    let h = lb.block("health_check").cloned().unwrap_or(Value::Null);
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let subnets = st.subnet_names(&lb.strs("subnets"));
    let groups = st.group_keys(&lb.strs("security_groups"));
    let internal = if lb.attrs.get("internal") == Some(&Value::Bool(true)) {
        "internal = true\n"
    } else {
        ""
    };
    let _ = writeln!(t, "[load_balancer]\nname = {}\n{internal}subnets = {}\nsecurity_groups = {}\nlistener = {{ lb_port = {}, instance_port = {}, protocol = {} }}\nhealth_check = {{ target = {}, interval = {}, timeout = {}, healthy_threshold = {}, unhealthy_threshold = {} }}\n",
        q(lb.str("name").unwrap_or_default()), list(&subnets), list(&groups), n(&l, "lb_port"), n(&l, "instance_port"), q(&l["lb_protocol"].as_str().unwrap_or("http").to_uppercase()),
        q(h["target"].as_str().unwrap_or_default()), n(&h, "interval"), n(&h, "timeout"), n(&h, "healthy_threshold"), n(&h, "unhealthy_threshold"));
}

fn database(st: &mut St, t: &mut String, backup_file: &str) {
    let Some(db) = st.all("aws_db_instance").next() else {
        return;
    };
    let group = db.str("db_subnet_group_name").unwrap_or_default();
    let subnet_ids = st
        .all("aws_db_subnet_group")
        .find(|g| g.str("name") == Some(group))
        .map(|g| g.strs("subnet_ids"))
        .unwrap_or_default();
    let subnets = st.subnet_names(&subnet_ids);
    let groups = st.group_keys(&db.strs("vpc_security_group_ids"));
    let name = db.str("db_name").or(db.str("name")).unwrap_or_default();
    let skip = db.attrs.get("skip_final_snapshot") == Some(&Value::Bool(true));
    let _ = writeln!(t, "[database]\nidentifier = {}\nengine = {}\nengine_version = {}\ninstance_class = {}\nallocated_storage = {}\nusername = {}\nname = {}\nskip_final_snapshot = {skip}\nsubnets = {}\nsecurity_groups = {}\n",
        q(db.str("identifier").unwrap_or_default()), q(db.str("engine").unwrap_or("mysql")), q(db.str("engine_version").unwrap_or_default()), q(db.str("instance_class").unwrap_or_default()),
        num(db, "allocated_storage"), q(db.str("username").unwrap_or_default()), q(name), list(&subnets), list(&groups));
    if let Some(s3) = db.block("s3_import").cloned() {
        let bucket = s3["bucket_name"].as_str().unwrap_or_default().to_string();
        let prefix = s3["bucket_prefix"].as_str().unwrap_or_default().to_string();
        let key = st
            .all("aws_s3_bucket_object")
            .chain(st.all("aws_s3_object"))
            .find(|o| {
                o.str("bucket") == Some(bucket.as_str())
                    && o.str("key").is_some_and(|k| k.starts_with(&prefix))
            })
            .and_then(|o| o.str("key"))
            .unwrap_or_default()
            .to_string();
        st.note(db, "s3_import", format!("the backup file is not in the state: the file says {backup_file}; put the XtraBackup there (or change database.restore.backup_file) before the first plan"));
        let _ = writeln!(t, "[database.restore]\nbackup_file = {}\nbucket = {}\nkey = {}\nsource_engine_version = {}\n", q(backup_file), q(&bucket), q(&key), q(s3["source_engine_version"].as_str().unwrap_or_default()));
    }
}

/// `[existing]`: the tags every tagged object shares, and the names and
/// `Name` tags where they differ from what chronous derives, found by
/// matching the state to the file written so far.
fn existing(objects: &[TfObject], toml: &str) -> Result<String, InitError> {
    let loaded = crate::env::load("chronous.toml", toml);
    let Some(env) = loaded.env else {
        return Err(InitError::Invalid(loaded.diagnostics.render()));
    };
    let desired = expand(&env);
    let m = match_state(objects, &desired, &env.prefix)
        .map_err(|e| InitError::Invalid(e.to_string()))?;
    let (mut names, mut name_tags) = (Vec::new(), Vec::new());
    let mut common: Option<BTreeMap<String, String>> = None;
    for a in &m.adopted {
        let (Some(r), Some(o)) = (
            desired.iter().find(|r| r.address == a.address),
            objects.iter().find(|o| o.address == a.tf_address),
        ) else {
            continue;
        };
        if let (Some(want), Some(have)) = (name_of(&r.spec), super::matcher::tf_name_of(a.kind, o))
        {
            if want != have {
                names.push(format!("{} = {}", q(&a.address), q(&have)));
            }
        }
        if let Some(tags) = tags_of(&r.spec) {
            let have: BTreeMap<String, String> = o
                .attrs
                .get("tags")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(n) = have.get("Name").filter(|n| tags.get("Name") != Some(*n)) {
                name_tags.push(format!("{} = {}", q(&a.address), q(n)));
            }
            let rest: BTreeMap<String, String> =
                have.into_iter().filter(|(k, _)| k != "Name").collect();
            common = Some(match common {
                None => rest,
                Some(c) => c
                    .into_iter()
                    .filter(|(k, v)| rest.get(k) == Some(v))
                    .collect(),
            });
        }
    }
    let tags: Vec<String> = common
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k} = {}", q(v)))
        .collect();
    Ok(format!(
        "# What the objects that exist are called and tagged, where it differs from\n# what chronous derives (`<prefix>-...`): keys are chronous addresses.\n[existing]\ntags = {{ {} }}\n\n[existing.names]\n{}\n[existing.name_tags]\n{}",
        tags.join(", "),
        names.iter().map(|l| format!("{l}\n")).collect::<String>(),
        name_tags.iter().map(|l| format!("{l}\n")).collect::<String>()
    ))
}
