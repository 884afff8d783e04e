//! `chronous logs` on AWS: the service's CloudWatch log group, stream by stream.

use crate::AwsProvider;

/// One log event, as `chronous logs` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub stream: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("reading log group `{group}`: {message}")]
pub struct LogsError {
    pub group: String,
    pub message: String,
}

impl AwsProvider {
    /// Events of `group` in streams starting with `stream_prefix`, from
    /// `start_ms` on (inclusive), oldest first; at most `limit` events.
    pub async fn log_events(
        &self,
        group: &str,
        stream_prefix: Option<&str>,
        start_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LogEvent>, LogsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .clients()
                .logs
                .filter_log_events()
                .log_group_name(group);
            if let Some(p) = stream_prefix {
                req = req.log_stream_name_prefix(p);
            }
            if let Some(s) = start_ms {
                req = req.start_time(s);
            }
            if let Some(t) = &token {
                req = req.next_token(t);
            }
            let page = req.send().await.map_err(|e| LogsError {
                group: group.to_string(),
                message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            })?;
            for e in page.events() {
                out.push(LogEvent {
                    stream: e.log_stream_name().unwrap_or_default().to_string(),
                    timestamp: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().trim_end().to_string(),
                });
            }
            token = page
                .next_token()
                .map(str::to_string)
                .filter(|t| Some(t) != token.as_ref());
            if token.is_none() || out.len() >= limit {
                break;
            }
        }
        out.sort_by_key(|e| e.timestamp);
        out.truncate(limit);
        Ok(out)
    }
}
