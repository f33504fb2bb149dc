//! Every name toolgate exports, in one place (docs/telemetry.md has the table).
//! `gen_ai.*` and `error.type` are OpenTelemetry semantic-convention names; `oap.*` carry
//! Open Agent Passport fields; `toolgate.*` are toolgate's own.

pub const SPAN_NAME: &str = "toolgate.authorize";
pub const CHECK_SPAN_PREFIX: &str = "toolgate.check";
pub const METRIC_DECISIONS: &str = "toolgate.decisions";
pub const METRIC_DURATION: &str = "toolgate.decision.duration";

pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub const EXECUTE_TOOL: &str = "execute_tool";
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
pub const ERROR_TYPE: &str = "error.type";

pub const OAP_DECISION_ID: &str = "oap.decision.id";
pub const OAP_DECISION_ALLOW: &str = "oap.decision.allow";
pub const OAP_PASSPORT_ID: &str = "oap.passport.id";
pub const OAP_PASSPORT_VERSION: &str = "oap.passport.version";
pub const OAP_PASSPORT_DIGEST: &str = "oap.passport.digest";
pub const OAP_POLICY_ID: &str = "oap.policy.id";
pub const OAP_REASON_CODES: &str = "oap.reason.codes";
pub const OAP_REASON_CODE: &str = "oap.reason.code";
pub const OAP_ON_BEHALF_OF: &str = "oap.on_behalf_of";

pub const TOOLGATE_VERDICT: &str = "toolgate.verdict";
pub const TOOLGATE_HOST: &str = "toolgate.host";
pub const TOOLGATE_DECIDING_CHECK: &str = "toolgate.deciding_check";
pub const TOOLGATE_DECIDING_LAYER: &str = "toolgate.deciding_layer";
pub const TOOLGATE_ON_BEHALF_OF_CHAIN: &str = "toolgate.on_behalf_of.chain";
pub const TOOLGATE_STATUS_SOURCE: &str = "toolgate.status.source";
pub const TOOLGATE_STATUS_AGE: &str = "toolgate.status.age_s";
pub const TOOLGATE_STATUS_SEQUENCE: &str = "toolgate.status.sequence";
pub const TOOLGATE_AUDIT_SEQ: &str = "toolgate.audit.seq";
pub const TOOLGATE_AUDIT_HASH: &str = "toolgate.audit.hash";
/// The chain's id (its first record's hash).
pub const TOOLGATE_AUDIT_LOG_ID: &str = "toolgate.audit.log_id";
/// The signed checkpoint of the record, as JSON: `toolgate verify-log --checkpoint` reads it.
pub const TOOLGATE_AUDIT_CHECKPOINT: &str = "toolgate.audit.checkpoint";
pub const TOOLGATE_INPUT_DIGEST: &str = "toolgate.input.digest";
pub const TOOLGATE_CHECK_NAME: &str = "toolgate.check.name";
pub const TOOLGATE_CHECK_OUTCOME: &str = "toolgate.check.outcome";
pub const TOOLGATE_CHECK_DETAIL: &str = "toolgate.check.detail";
