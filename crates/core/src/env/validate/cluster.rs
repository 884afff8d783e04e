//! The `[cluster]` section: the ECS cluster's container instances (instance
//! type, count, AMI, subnets, security groups).

use super::{sp, Refs, Validator, S};
use crate::env::raw;
use crate::env::{instance_type, Cluster, INSTANCE_TYPES};

impl Validator {
    pub(super) fn cluster(&mut self, c: &raw::Cluster, refs: &Refs) -> Cluster {
        if instance_type(c.instance_type.get_ref()).is_none() {
            let known: Vec<&str> = INSTANCE_TYPES.iter().map(|t| t.0).collect();
            self.err(
                "E0701",
                format!("unknown instance type `{}`", c.instance_type.get_ref()),
                sp(&c.instance_type),
                "unknown instance type",
                format!("use one of: {}", known.join(", ")),
            );
        }
        for s in &c.subnets {
            self.known_subnet(refs, s);
        }
        for s in &c.security_groups {
            self.known_sg(refs, s);
        }
        if c.subnets.is_empty() {
            self.err(
                "E0702",
                "the cluster names no subnet",
                sp(&c.name),
                "in this cluster",
                "list the private subnets its instances run in",
            );
        }
        let instance_count = match &c.instance_count {
            Some(v) => self.positive(
                "cluster.instance_count",
                v,
                0,
                100,
                "use 0 to 100 container instances",
            ),
            None => 1,
        };
        self.ami(c);
        let ami = c.ami.get_ref();
        let text = |v: &Option<S<String>>| v.as_ref().map(|v| v.get_ref().clone());
        Cluster {
            name: self.name("cluster name", &c.name),
            instance_type: c.instance_type.get_ref().clone(),
            instance_count,
            ami_name: text(&ami.name)
                .filter(|_| ami.ssm_parameter.is_none())
                .unwrap_or_default(),
            ami_owner: text(&ami.owner)
                .filter(|_| ami.ssm_parameter.is_none())
                .unwrap_or_default(),
            ami_ssm_parameter: text(&ami.ssm_parameter),
            subnets: c.subnets.iter().map(|s| s.get_ref().clone()).collect(),
            security_groups: c
                .security_groups
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
        }
    }

    /// How the AMI is found: an SSM parameter, or a name search with an owner.
    fn ami(&mut self, c: &raw::Cluster) {
        let ami = c.ami.get_ref();
        match (&ami.ssm_parameter, &ami.name, &ami.owner) {
            (Some(p), None, None) => {
                if !p.get_ref().starts_with('/') || p.get_ref().contains(char::is_whitespace) {
                    self.err(
                        "E0704",
                        format!("`{}` is not an SSM parameter name", p.get_ref()),
                        sp(p),
                        "not a parameter name",
                        "give the full name, e.g. /aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
                    );
                }
            }
            (Some(p), _, _) => self.err(
                "E0703",
                "cluster.ami gives both an SSM parameter and a name search",
                sp(p),
                "the parameter",
                "keep one: ssm_parameter (the AMI id AWS publishes, e.g. the recommended ECS-optimized AMI) or name + owner (the newest matching image)",
            ),
            (None, Some(_), Some(_)) => {}
            (None, _, _) => self.err(
                "E0703",
                "cluster.ami needs name and owner, or ssm_parameter",
                sp(&c.ami),
                "how to find the AMI",
                "e.g. ami = { name = \"amzn2-ami-ecs-hvm-*-x86_64-ebs\", owner = \"amazon\" } or ami = { ssm_parameter = \"/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id\" }",
            ),
        }
    }
}
