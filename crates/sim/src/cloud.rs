//! The simulated cloud's control plane: every object the simulator holds for
//! one environment, with AWS-like ids and ARNs, kept under
//! `<env>/.chronous/sim/` as a snapshot plus an append-only log.
//!
//! Like AWS it refuses what AWS refuses: a second object with a name that is
//! taken, and deleting an object that another one still refers to
//! (`DependencyViolation`). The [`Cloud::console_set`] and
//! [`Cloud::console_delete`] calls change objects behind chronous's back, as a
//! person in the AWS console would; refresh then shows them as drift.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chronous_core::resources::Kind;
use chronous_store::{atomic_write, private_dir, Log, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The output of a service counting the deployments forced on it
/// (UpdateService with forceNewDeployment).
pub const FORCED_DEPLOYMENTS: &str = "forced_deployments";
/// The output of an auto scaling group listing the replacements of lost
/// instances still to launch.
pub const PENDING_INSTANCES: &str = "pending_instances";

/// One object of the simulated cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub id: String,
    pub kind: Kind,
    /// The `chronous:address` tag.
    pub address: String,
    /// A unique name, where the kind has one (IAM role, bucket, ELB ...).
    pub name: Option<String>,
    pub attrs: Value,
    pub outputs: BTreeMap<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LogRecord {
    Put {
        object: Object,
        seq: u64,
    },
    Delete {
        id: String,
    },
    /// A task definition deregistered: INACTIVE, still described (a service
    /// rolled back to it runs it), never listed among the live objects.
    Deregister {
        object: Object,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    environment: String,
    seq: u64,
    objects: BTreeMap<String, Object>,
    #[serde(default)]
    inactive: BTreeMap<String, Object>,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: corrupt simulator store: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("DependencyViolation: {kind} {id} cannot be deleted while {other_kind} {other_id} ({other_address}) refers to it")]
    DependencyViolation {
        kind: Kind,
        id: String,
        other_kind: Kind,
        other_id: String,
        other_address: String,
    },
    #[error("no simulated object for `{0}`")]
    NoObject(String),
    #[error("object has no attributes")]
    NoAttributes,
    #[error("`{address}` has no attribute `{attr}`; it has: {keys:?}")]
    NoAttribute {
        address: String,
        attr: String,
        keys: Vec<String>,
    },
}

/// The simulated control plane of one environment.
pub struct Cloud {
    dir: PathBuf,
    env: String,
    seq: u64,
    objects: HashMap<String, Object>,
    names: HashMap<(Kind, String), String>,
    /// id -> ids of live objects whose attributes mention it.
    referrers: HashMap<String, HashSet<String>>,
    by_address: HashMap<String, Vec<String>>,
    /// name -> ids of objects of any kind with that name (references by name).
    by_name: HashMap<String, Vec<String>>,
    /// Deregistered task definitions (INACTIVE), by ARN.
    inactive: BTreeMap<String, Object>,
    log: Option<Log>,
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

impl Cloud {
    pub fn dir_of(env_state_dir: &Path) -> PathBuf {
        env_state_dir.join("sim")
    }

    /// Open (or start) the simulated cloud of environment `env`.
    pub fn open(dir: &Path, env: &str) -> Result<Cloud, CloudError> {
        let snap_path = dir.join("objects.json");
        let snap: Snapshot = match std::fs::read(&snap_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| CloudError::Corrupt {
                path: snap_path.clone(),
                detail: e.to_string(),
            })?,
            Err(_) => Snapshot {
                environment: env.to_string(),
                ..Default::default()
            },
        };
        let mut c = Cloud {
            dir: dir.to_path_buf(),
            env: env.to_string(),
            seq: snap.seq,
            objects: HashMap::new(),
            names: HashMap::new(),
            referrers: HashMap::new(),
            by_address: HashMap::new(),
            by_name: HashMap::new(),
            inactive: snap.inactive,
            log: None,
        };
        for o in snap.objects.into_values() {
            c.insert(o);
        }
        for r in Log::read::<LogRecord>(&dir.join("objects.log"))? {
            match r {
                LogRecord::Put { object, seq } => {
                    c.seq = c.seq.max(seq);
                    c.remove(&object.id.clone());
                    c.insert(object);
                }
                LogRecord::Delete { id } => {
                    c.remove(&id);
                }
                LogRecord::Deregister { object } => {
                    c.remove(&object.id);
                    c.inactive.insert(object.id.clone(), object);
                }
            }
        }
        // References are indexed once every object is known.
        let all: Vec<Object> = c.objects.values().cloned().collect();
        c.referrers.clear();
        for o in &all {
            c.index_refs(o);
        }
        Ok(c)
    }

    fn logged(&mut self, r: LogRecord) -> Result<(), CloudError> {
        if self.log.is_none() {
            private_dir(&self.dir)?;
            // Not fsynced: the log survives a killed process; after a power
            // loss the simulated cloud may have lost its newest objects, which
            // the next refresh reports as deleted.
            self.log = Some(Log::open(&self.dir.join("objects.log"), false)?);
        }
        self.log.as_mut().expect("opened").append(&[r])?;
        Ok(())
    }

    /// Fold the log into the snapshot.
    pub fn compact(&mut self) -> Result<(), CloudError> {
        private_dir(&self.dir)?;
        let snap = Snapshot {
            environment: self.env.clone(),
            seq: self.seq,
            objects: self
                .objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            inactive: self.inactive.clone(),
        };
        atomic_write(
            &self.dir.join("objects.json"),
            &serde_json::to_vec(&snap).expect("serializes"),
        )?;
        self.log = None;
        let _ = std::fs::remove_file(self.dir.join("objects.log"));
        Ok(())
    }

    fn index_refs(&mut self, o: &Object) {
        let mut s = Vec::new();
        strings(&o.attrs, &mut s);
        for x in s {
            if x != o.id && self.objects.contains_key(x) {
                self.referrers
                    .entry(x.to_string())
                    .or_default()
                    .insert(o.id.clone());
            } else if let Some(ids) = self.by_name.get(x).filter(|_| o.name.as_deref() != Some(x)) {
                for id in ids.clone() {
                    if id != o.id {
                        self.referrers.entry(id).or_default().insert(o.id.clone());
                    }
                }
            }
        }
    }

    fn insert(&mut self, o: Object) {
        self.index_refs(&o);
        self.by_address
            .entry(o.address.clone())
            .or_default()
            .push(o.id.clone());
        if let Some(n) = &o.name {
            self.names.insert((o.kind, n.clone()), o.id.clone());
            self.by_name
                .entry(n.clone())
                .or_default()
                .push(o.id.clone());
        }
        self.objects.insert(o.id.clone(), o);
    }

    fn remove(&mut self, id: &str) -> Option<Object> {
        let o = self.objects.remove(id)?;
        let mut s = Vec::new();
        strings(&o.attrs, &mut s);
        for x in s {
            if let Some(r) = self.referrers.get_mut(x) {
                r.remove(id);
            }
            if let Some(ids) = self.by_name.get(x) {
                for t in ids.clone() {
                    if let Some(r) = self.referrers.get_mut(&t) {
                        r.remove(id);
                    }
                }
            }
        }
        if let Some(n) = &o.name {
            self.names.remove(&(o.kind, n.clone()));
            if let Some(v) = self.by_name.get_mut(n) {
                v.retain(|x| x != id);
            }
        }
        if let Some(v) = self.by_address.get_mut(&o.address) {
            v.retain(|x| x != id);
        }
        Some(o)
    }

    pub fn get(&self, id: &str) -> Option<&Object> {
        self.objects.get(id)
    }

    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.objects.values()
    }

    /// An object this environment created for `address`, other than `exclude`.
    pub fn find_by_address(
        &self,
        kind: Kind,
        address: &str,
        exclude: &[String],
    ) -> Option<&Object> {
        let ids = self.by_address.get(address)?;
        let mut found: Vec<&Object> = ids
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter(|o| o.kind == kind && !exclude.contains(&o.id))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.into_iter().next()
    }

    /// A fresh AWS-like identifier with `prefix`, deterministic for the environment.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        let h = Sha256::digest(format!("{}/{}/{}", self.env, prefix, self.seq).as_bytes());
        format!("{prefix}-{}", &hex::encode(h)[..17])
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether a name is taken by another object of the kind.
    pub fn name_taken(&self, kind: Kind, name: &str, except: Option<&str>) -> bool {
        self.names
            .get(&(kind, name.to_string()))
            .is_some_and(|id| Some(id.as_str()) != except)
    }

    pub fn put(&mut self, o: Object) -> Result<(), CloudError> {
        self.seq += 1;
        self.logged(LogRecord::Put {
            object: o.clone(),
            seq: self.seq,
        })?;
        self.remove(&o.id.clone());
        self.insert(o);
        Ok(())
    }

    /// Delete an object, refusing while another object refers to it.
    pub fn delete(&mut self, id: &str) -> Result<(), CloudError> {
        let Some(o) = self.objects.get(id) else {
            return Ok(());
        };
        if let Some(r) = self
            .referrers
            .get(id)
            .and_then(|r| r.iter().find(|x| self.objects.contains_key(*x)))
        {
            let other = &self.objects[r];
            return Err(CloudError::DependencyViolation {
                kind: o.kind,
                id: id.to_string(),
                other_kind: other.kind,
                other_id: other.id.clone(),
                other_address: other.address.clone(),
            });
        }
        if o.kind == Kind::EcsTaskDefinition {
            // DeregisterTaskDefinition: the revision stays, INACTIVE.
            let object = o.clone();
            self.logged(LogRecord::Deregister {
                object: object.clone(),
            })?;
            self.remove(id);
            self.inactive.insert(object.id.clone(), object);
            return Ok(());
        }
        self.logged(LogRecord::Delete { id: id.to_string() })?;
        self.remove(id);
        Ok(())
    }

    /// A task definition by ARN, ACTIVE or deregistered (INACTIVE), as
    /// DescribeTaskDefinition answers: a service can run an INACTIVE revision.
    pub fn task_definition(&self, arn: &str) -> Option<&Object> {
        self.objects
            .get(arn)
            .filter(|o| o.kind == Kind::EcsTaskDefinition)
            .or_else(|| self.inactive.get(arn))
    }

    /// The service's task definition set by ECS itself, as a circuit-breaker
    /// rollback does: DescribeServices then shows the revision rolled back to.
    pub fn ecs_set_task_definition(
        &mut self,
        service_id: &str,
        task_definition: &str,
    ) -> Result<(), CloudError> {
        let mut o = self
            .objects
            .get(service_id)
            .cloned()
            .ok_or_else(|| CloudError::NoObject(service_id.to_string()))?;
        let obj = o.attrs.as_object_mut().ok_or(CloudError::NoAttributes)?;
        obj.insert(
            "task_definition".into(),
            Value::String(task_definition.into()),
        );
        self.put(o)
    }

    /// UpdateService with forceNewDeployment: the service's count of forced
    /// deployments goes up by one (the controller starts a new deployment of
    /// the same revision when it sees it move). Returns the new count.
    pub fn force_new_deployment(&mut self, service_id: &str) -> Result<u64, CloudError> {
        let mut o = self
            .objects
            .get(service_id)
            .cloned()
            .ok_or_else(|| CloudError::NoObject(service_id.to_string()))?;
        let n = o
            .outputs
            .get(FORCED_DEPLOYMENTS)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        o.outputs.insert(FORCED_DEPLOYMENTS.into(), Value::from(n));
        self.put(o)?;
        Ok(n)
    }

    /// A container instance of an auto scaling group is lost (terminated):
    /// it leaves the group's instances now and a replacement is launched at
    /// `replace_at` (the group's own health check finds it gone). Returns the
    /// group's id.
    pub fn instance_lost(
        &mut self,
        instance: &str,
        replace_at: std::time::SystemTime,
    ) -> Result<String, CloudError> {
        let mut asg = self
            .objects
            .values()
            .find(|o| {
                o.kind == Kind::AutoScalingGroup
                    && o.outputs
                        .get("instance_ids")
                        .and_then(Value::as_array)
                        .is_some_and(|ids| ids.iter().any(|i| i == instance))
            })
            .cloned()
            .ok_or_else(|| CloudError::NoObject(instance.to_string()))?;
        if let Some(Value::Array(ids)) = asg.outputs.get_mut("instance_ids") {
            ids.retain(|i| i != instance);
        }
        let at = replace_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let pending = asg
            .outputs
            .entry(PENDING_INSTANCES.into())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(v) = pending {
            v.push(serde_json::json!({"replaces": instance, "at_unix_ms": at}));
        }
        let id = asg.id.clone();
        self.put(asg)?;
        Ok(id)
    }

    /// Launch the replacements of lost instances that are due at `now`: the
    /// ids of the new instances.
    pub fn replace_due_instances(
        &mut self,
        now: std::time::SystemTime,
    ) -> Result<Vec<String>, CloudError> {
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let due = |p: &Value| p.get("at_unix_ms").and_then(Value::as_u64).unwrap_or(0) <= now;
        let groups: Vec<Object> = self
            .objects
            .values()
            .filter(|o| o.kind == Kind::AutoScalingGroup)
            .filter(|o| {
                o.outputs
                    .get(PENDING_INSTANCES)
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().any(due))
            })
            .cloned()
            .collect();
        let mut launched = Vec::new();
        for mut asg in groups {
            let Some(Value::Array(pending)) = asg.outputs.remove(PENDING_INSTANCES) else {
                continue;
            };
            let (now_due, later): (Vec<Value>, Vec<Value>) = pending.into_iter().partition(due);
            if !later.is_empty() {
                asg.outputs
                    .insert(PENDING_INSTANCES.into(), Value::Array(later));
            }
            for _ in now_due {
                let id = self.new_id("i");
                if let Some(Value::Array(ids)) = asg.outputs.get_mut("instance_ids") {
                    ids.push(Value::String(id.clone()));
                }
                launched.push(id);
            }
            self.put(asg)?;
        }
        Ok(launched)
    }

    /// Remove an object that is gone from the runtime (a database container
    /// removed with docker): no dependency check, as a failed instance.
    pub fn forget(&mut self, id: &str) -> Result<(), CloudError> {
        if self.objects.contains_key(id) {
            self.logged(LogRecord::Delete { id: id.to_string() })?;
            self.remove(id);
        }
        Ok(())
    }

    /// Change an attribute behind chronous's back, as the AWS console would.
    pub fn console_set(
        &mut self,
        address: &str,
        attr: &str,
        value: Value,
    ) -> Result<String, CloudError> {
        let mut o = self
            .by_address
            .get(address)
            .and_then(|ids| {
                ids.iter()
                    .filter_map(|id| self.objects.get(id))
                    .min_by(|a, b| a.id.cmp(&b.id))
            })
            .cloned()
            .ok_or_else(|| CloudError::NoObject(address.to_string()))?;
        let obj = o.attrs.as_object_mut().ok_or(CloudError::NoAttributes)?;
        if !obj.contains_key(attr) {
            return Err(CloudError::NoAttribute {
                address: address.to_string(),
                attr: attr.to_string(),
                keys: obj.keys().cloned().collect(),
            });
        }
        obj.insert(attr.to_string(), value);
        let id = o.id.clone();
        self.put(o)?;
        Ok(id)
    }

    /// Delete an object behind chronous's back (no dependency check, as a
    /// forced console delete).
    pub fn console_delete(&mut self, address: &str) -> Result<Vec<String>, CloudError> {
        let ids: Vec<String> = self.by_address.get(address).cloned().unwrap_or_default();
        if ids.is_empty() {
            return Err(CloudError::NoObject(address.to_string()));
        }
        for id in &ids {
            self.logged(LogRecord::Delete { id: id.clone() })?;
            self.remove(id);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, SystemTime};

    fn object(id: &str, kind: Kind, address: &str, attrs: Value) -> Object {
        Object {
            id: id.into(),
            kind,
            address: address.into(),
            name: None,
            attrs,
            outputs: BTreeMap::new(),
        }
    }

    /// A deregistered task definition stays INACTIVE (DescribeTaskDefinition
    /// still answers), through the log and through a compaction; a service
    /// rolled back to it refers to it.
    #[test]
    fn a_deleted_task_definition_stays_inactive_and_a_rollback_points_the_service_at_it() {
        let dir = tempfile::tempdir().unwrap();
        let td1 = "arn:aws:ecs:us-east-2:123456789012:task-definition/f:1";
        let td2 = "arn:aws:ecs:us-east-2:123456789012:task-definition/f:2";
        let mut c = Cloud::open(dir.path(), "e").unwrap();
        for td in [td1, td2] {
            c.put(object(
                td,
                Kind::EcsTaskDefinition,
                "aws_ecs_task_definition.t",
                json!({"family": "f"}),
            ))
            .unwrap();
        }
        c.put(object(
            "svc",
            Kind::EcsService,
            "aws_ecs_service.s",
            json!({"task_definition": td2}),
        ))
        .unwrap();
        c.delete(td1).unwrap();
        assert!(c.get(td1).is_none());
        assert!(c.objects().all(|o| o.id != td1));
        assert_eq!(c.task_definition(td1).map(|o| o.id.as_str()), Some(td1));
        c.ecs_set_task_definition("svc", td1).unwrap();
        assert_eq!(c.force_new_deployment("svc").unwrap(), 1);
        let c = Cloud::open(dir.path(), "e").unwrap();
        assert_eq!(c.task_definition(td1).map(|o| o.id.as_str()), Some(td1));
        assert_eq!(c.get("svc").unwrap().attrs["task_definition"], td1);
        assert_eq!(c.get("svc").unwrap().outputs[FORCED_DEPLOYMENTS], 1);
        let mut c = c;
        c.compact().unwrap();
        let c = Cloud::open(dir.path(), "e").unwrap();
        assert!(c.get(td1).is_none());
        assert_eq!(c.task_definition(td1).map(|o| o.id.as_str()), Some(td1));
    }

    /// A lost instance leaves its group at once; the replacement joins when due.
    #[test]
    fn a_lost_instance_is_replaced_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cloud::open(dir.path(), "e").unwrap();
        let mut asg = object(
            "asg",
            Kind::AutoScalingGroup,
            "aws_autoscaling_group.g",
            json!({}),
        );
        asg.outputs
            .insert("instance_ids".into(), json!(["i-1", "i-2"]));
        c.put(asg).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(matches!(
            c.instance_lost("i-9", t0),
            Err(CloudError::NoObject(_))
        ));
        assert_eq!(
            c.instance_lost("i-1", t0 + Duration::from_secs(6)).unwrap(),
            "asg"
        );
        assert_eq!(
            c.get("asg").unwrap().outputs["instance_ids"],
            json!(["i-2"])
        );
        assert!(c.replace_due_instances(t0).unwrap().is_empty());
        let new = c
            .replace_due_instances(t0 + Duration::from_secs(6))
            .unwrap();
        assert_eq!(new.len(), 1);
        let o = c.get("asg").unwrap();
        assert_eq!(o.outputs["instance_ids"], json!(["i-2", new[0]]));
        assert!(!o.outputs.contains_key(PENDING_INSTANCES));
        assert!(c
            .replace_due_instances(t0 + Duration::from_secs(60))
            .unwrap()
            .is_empty());
    }
}
