//! Providers whose AWS answers come from aws-smithy-mocks, for the tests of
//! other crates (feature `test-util`): they may not name aws-sdk types.

use aws_config::{BehaviorVersion, Region};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use base64::Engine as _;

use crate::{AwsClients, AwsOptions, AwsProvider};

/// A provider whose ECR GetAuthorizationToken answers `username:password` for
/// the registry at `proxy_endpoint` (`http://127.0.0.1:PORT` for a local
/// registry); no other service is reachable.
pub fn with_registry_token(
    opts: AwsOptions,
    proxy_endpoint: &str,
    username: &str,
    password: &str,
) -> AwsProvider {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let endpoint = proxy_endpoint.to_string();
    let rule = mock!(aws_sdk_ecr::Client::get_authorization_token).then_output(move || {
        aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenOutput::builder()
            .authorization_data(
                aws_sdk_ecr::types::AuthorizationData::builder()
                    .authorization_token(token.clone())
                    .proxy_endpoint(endpoint.clone())
                    .build(),
            )
            .build()
    });
    let conf = aws_config::SdkConfig::builder()
        .region(Region::new(opts.region.clone()))
        .behavior_version(BehaviorVersion::latest())
        .build();
    let mut c = AwsClients::from_conf(&conf, false);
    c.ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&rule]);
    AwsProvider::with_clients(c, opts)
}
