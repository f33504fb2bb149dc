//! Every name toolgate exports, in one place (docs/telemetry.md has the table, and says
//! which names are registered OpenTelemetry semantic conventions and which come from the
//! GenAI guardrail proposal). `oap.*` carry Open Agent Passport fields; `toolgate.*` are
//! toolgate's own.
//!
//! A decision is a guardrail run, not a tool execution (a denied tool never runs), so the
//! decision span follows the GenAI guardrail conventions: operation `run_guardrail`, span
//! name `run_guardrail {gen_ai.guardrail.component.name}`, the tool call as its target.

/// The guardrail component, as the span name and `gen_ai.guardrail.component.name` give it.
pub const COMPONENT_NAME: &str = "toolgate";
/// `run_guardrail {gen_ai.guardrail.component.name}`.
pub const SPAN_NAME: &str = "run_guardrail toolgate";
pub const CHECK_SPAN_PREFIX: &str = "toolgate.check";
pub const METRIC_DECISIONS: &str = "toolgate.decisions";
pub const METRIC_DURATION: &str = "toolgate.decision.duration";

pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub const RUN_GUARDRAIL: &str = "run_guardrail";
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// `function` (a tool the agent's host runs itself) or `extension` (an MCP server's tool).
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
pub const ERROR_TYPE: &str = "error.type";

// The GenAI guardrail proposal (development status; see docs/telemetry.md).
pub const GUARDRAIL_COMPONENT_NAME: &str = "gen_ai.guardrail.component.name";
/// `input`: the call is checked before it enters the tool.
pub const GUARDRAIL_TARGET_TYPE: &str = "gen_ai.guardrail.target.type";
/// `tool_call`.
pub const GUARDRAIL_TARGET_SUBTYPE: &str = "gen_ai.guardrail.target.subtype";
/// The host's tool-use id.
pub const GUARDRAIL_TARGET_ID: &str = "gen_ai.guardrail.target.id";
/// `allow`, `deny` or `escalate` (review).
pub const GUARDRAIL_VERDICT_TYPE: &str = "gen_ai.guardrail.verdict.type";
/// The first `oap.*` reason code of a deny or review.
pub const GUARDRAIL_VERDICT_CODE: &str = "gen_ai.guardrail.verdict.code";
/// `allow`, `block` or `escalate`: what the host was told to do.
pub const GUARDRAIL_ACTION_TYPE: &str = "gen_ai.guardrail.action.type";
/// The policy pack id.
pub const GUARDRAIL_POLICY_ID: &str = "gen_ai.guardrail.security.policy.id";
/// The pack version is not recorded; the deciding check (`policy/check`) is the rule.
pub const GUARDRAIL_POLICY_RULE_ID: &str = "gen_ai.guardrail.security.policy.rule.id";
/// `sha256:` of the JCS of the tool input.
pub const GUARDRAIL_INPUT_HASH: &str = "gen_ai.guardrail.security.content.input.hash";

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
