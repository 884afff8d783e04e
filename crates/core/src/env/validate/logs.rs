//! The `[logs]` section: the CloudWatch log group, stream prefix and a
//! retention period CloudWatch offers.

use super::{sp, Validator};
use crate::env::raw;
use crate::env::{Logs, LOG_RETENTION_DAYS};

impl Validator {
    pub(super) fn logs(&mut self, l: &raw::Logs) -> Logs {
        Logs {
            group: l.group.get_ref().clone(),
            stream_prefix: l.stream_prefix.get_ref().clone(),
            retention_days: l.retention_days.as_ref().map(|v| {
                if !LOG_RETENTION_DAYS.contains(v.get_ref()) {
                    self.err("E1101", format!("log retention {} days is not one CloudWatch offers", v.get_ref()), sp(v), "not allowed", "use 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827 or 3653");
                }
                *v.get_ref() as u32
            }),
        }
    }
}
