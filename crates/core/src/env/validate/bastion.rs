//! The `[bastion]` section: the SSH jump host, in a public subnet.

use super::{sp, Refs, Validator};
use crate::env::raw;
use crate::env::{instance_type, Bastion, Network, Tier};

impl Validator {
    pub(super) fn bastion(&mut self, b: &raw::Bastion, network: &Network, refs: &Refs) -> Bastion {
        self.known_subnet(refs, &b.subnet);
        if let Some(sn) = network
            .subnets
            .iter()
            .find(|x| &x.name == b.subnet.get_ref())
        {
            if sn.tier != Tier::Public {
                self.err(
                    "E1301",
                    format!(
                        "the bastion is in subnet `{}`, which is {}",
                        sn.name,
                        sn.tier.as_str()
                    ),
                    sp(&b.subnet),
                    "not a public subnet",
                    "a bastion needs a public subnet to be reached from outside",
                );
            }
        }
        if instance_type(b.instance_type.get_ref()).is_none() {
            self.err(
                "E0701",
                format!("unknown instance type `{}`", b.instance_type.get_ref()),
                sp(&b.instance_type),
                "unknown instance type",
                "use e.g. t2.nano",
            );
        }
        for s in &b.security_groups {
            self.known_sg(refs, s);
        }
        Bastion {
            subnet: b.subnet.get_ref().clone(),
            instance_type: b.instance_type.get_ref().clone(),
            security_groups: b
                .security_groups
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
        }
    }
}
