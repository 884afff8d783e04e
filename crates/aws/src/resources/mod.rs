//! One module per resource kind, like a Terraform provider's resource files:
//! each holds `read`, `create` (with the look-up that adopts what an
//! interrupted apply made), `update` and `delete` of its kind, as free
//! functions over the [`AwsProvider`](crate::AwsProvider). `lib.rs`
//! dispatches to them with one exhaustive `match` per operation.
//! `common` and `ec2_common` hold what the modules share.

pub(crate) mod common;
pub(crate) mod ec2_common;

pub(crate) mod ami_lookup;
pub(crate) mod autoscaling_group;
pub(crate) mod cloudwatch_log_group;
pub(crate) mod data;
pub(crate) mod db_instance;
pub(crate) mod db_subnet_group;
pub(crate) mod ecr_repository;
pub(crate) mod ecs_cluster;
pub(crate) mod ecs_service;
pub(crate) mod ecs_task_definition;
pub(crate) mod eip;
pub(crate) mod elb;
pub(crate) mod iam_instance_profile;
pub(crate) mod iam_role;
pub(crate) mod iam_role_policy;
pub(crate) mod iam_role_policy_attachment;
pub(crate) mod instance;
pub(crate) mod internet_gateway;
pub(crate) mod key_pair;
pub(crate) mod launch_configuration;
pub(crate) mod launch_template;
pub(crate) mod nat_gateway;
pub(crate) mod route_table;
pub(crate) mod route_table_association;
pub(crate) mod s3_bucket;
pub(crate) mod s3_object;
pub(crate) mod security_group;
pub(crate) mod security_group_rule;
pub(crate) mod ssm_parameter;
pub(crate) mod subnet;
pub(crate) mod vpc;
