"""Every attribute, span and metric name hyperion-otel emits, in one place.

OTel semantic-convention names are used where one exists (GenAI, process, error,
exception, code). Hyperion's own names start with ``hyperion.``. Histogram bucket
boundaries follow the GenAI semantic-convention advice (the Python semconv helpers do not
set it, so instruments pass it explicitly).
"""

from __future__ import annotations

from typing import Final

SCOPE_NAME: Final = "hyperion_otel"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"  # names checked: semconv 0.66b2

# --- GenAI (semconv "Development" status) -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"

GEN_AI_OPERATION_TEXT_COMPLETION: Final = "text_completion"
GEN_AI_PROVIDER_HYPERION: Final = "hyperion"
# transformers run in-process (hyperion_otel.integrations.transformers): the engine that ran
# the model, as "hyperion" names ours; no hosted service is involved.
GEN_AI_PROVIDER_TRANSFORMERS: Final = "transformers"
GEN_AI_TOKEN_TYPE_INPUT: Final = "input"
GEN_AI_TOKEN_TYPE_OUTPUT: Final = "output"

METRIC_GEN_AI_SERVER_REQUEST_DURATION: Final = "gen_ai.server.request.duration"
METRIC_GEN_AI_SERVER_TIME_TO_FIRST_TOKEN: Final = "gen_ai.server.time_to_first_token"
METRIC_GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN: Final = "gen_ai.server.time_per_output_token"
METRIC_GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"

# Bucket advice from the GenAI semantic conventions.
BUCKETS_TOKEN_USAGE: Final = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
BUCKETS_REQUEST_DURATION: Final = tuple(0.01 * 2**i for i in range(14))  # 0.01 ... 81.92
BUCKETS_TIME_TO_FIRST_TOKEN: Final = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
BUCKETS_TIME_PER_OUTPUT_TOKEN: Final = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
)

# Opt-in switch for prompt/output text in telemetry (GenAI instrumentations share it).
ENV_CAPTURE_MESSAGE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# --- Errors and exceptions -------------------------------------------------------------------
ERROR_TYPE: Final = "error.type"
EVENT_EXCEPTION: Final = "exception"  # span event (deprecated by semconv for log records)
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
CODE_FUNCTION_NAME: Final = "code.function.name"
CODE_FILE_PATH: Final = "code.file.path"
CODE_LINE_NUMBER: Final = "code.line.number"
CODE_STACKTRACE: Final = "code.stacktrace"
THREAD_ID: Final = "thread.id"
THREAD_NAME: Final = "thread.name"
ENV_EXCEPTION_SIGNAL_OPT_IN: Final = "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN"

METRIC_ERRORS: Final = "hyperion.errors"
HYPERION_ERROR_CATEGORY: Final = "hyperion.error.category"  # ErrorType value
# HyperionError.details become attributes named with this prefix plus the detail key.
HYPERION_ERROR_DETAIL_PREFIX: Final = "hyperion.error.detail."
# The exception a recorded error was raised from (``__cause__``, else ``__context__``).
HYPERION_ERROR_CAUSE_TYPE: Final = "hyperion.error.cause.type"
HYPERION_ERROR_CAUSE_MESSAGE: Final = "hyperion.error.cause.message"
HYPERION_CLEANUP_RESOURCE: Final = "hyperion.cleanup.resource"  # bounded repr of the resource
HYPERION_CLEANUP_FUNCTION: Final = "hyperion.cleanup.function"  # qualname of the cleanup func

# --- Process metrics (semconv) ---------------------------------------------------------------
METRIC_PROCESS_CPU_TIME: Final = "process.cpu.time"
METRIC_PROCESS_CPU_UTILIZATION: Final = "process.cpu.utilization"
METRIC_PROCESS_MEMORY_USAGE: Final = "process.memory.usage"
METRIC_PROCESS_MEMORY_VIRTUAL: Final = "process.memory.virtual"
METRIC_PROCESS_THREAD_COUNT: Final = "process.thread.count"
METRIC_PROCESS_FD_COUNT: Final = "process.unix.file_descriptor.count"
CPU_MODE: Final = "cpu.mode"

# --- Resource limits -------------------------------------------------------------------------
METRIC_RESOURCE_LIMIT: Final = "hyperion.resource.limit"
METRIC_RESOURCE_THROTTLE_TIME: Final = "hyperion.resource.throttle.time"
HYPERION_RESOURCE_KIND: Final = "hyperion.resource.kind"  # cpu_percent | memory_mb | threads

# --- Memory ----------------------------------------------------------------------------------
METRIC_MEMORY_POOL_USAGE: Final = "hyperion.memory.pool.usage"
METRIC_MEMORY_ALLOCATIONS: Final = "hyperion.memory.allocations"
METRIC_MEMORY_ACTIVE_ALLOCATIONS: Final = "hyperion.memory.active_allocations"
METRIC_MEMORY_FRAGMENTATION: Final = "hyperion.memory.fragmentation"
HYPERION_MEMORY_STATE: Final = "hyperion.memory.state"  # used | free
HYPERION_MEMORY_ALLOCATED_BYTES: Final = "hyperion.memory.allocated_bytes"
HYPERION_MEMORY_PEAK_BYTES: Final = "hyperion.memory.peak_bytes"
HYPERION_MEMORY_LEAKED_BYTES: Final = "hyperion.memory.leaked_bytes"  # leak report log record
HYPERION_MEMORY_LEAKED_ALLOCATIONS: Final = "hyperion.memory.leaked_allocations"
HYPERION_MEMORY_LEAK_SITE: Final = "hyperion.memory.leak_site"  # "file:line" of the largest site
HYPERION_MEMORY_SEGMENT_BYTES: Final = "hyperion.memory.segment_bytes"  # pool grown/released log
HYPERION_MEMORY_POOL_BYTES: Final = "hyperion.memory.pool_bytes"

# --- KV cache --------------------------------------------------------------------------------
METRIC_KV_CACHE_USAGE: Final = "hyperion.kv_cache.usage"
HYPERION_KV_CACHE_BLOCKS: Final = "hyperion.kv_cache.blocks"
HYPERION_KV_CACHE_BLOCK_SIZE: Final = "hyperion.kv_cache.block_size"

# --- Runtime spans and attributes ------------------------------------------------------------
SPAN_MODEL_LOAD: Final = "hyperion.model.load"
SPAN_PREFILL: Final = "hyperion.prefill"
SPAN_DECODE: Final = "hyperion.decode"
SPAN_DECODE_STEP: Final = "hyperion.decode.step"
HYPERION_MODEL_NAME: Final = "hyperion.model.name"  # model load (generate uses gen_ai.*)
HYPERION_MODEL_PATH: Final = "hyperion.model.path"
HYPERION_MODEL_ARCHITECTURE: Final = "hyperion.model.architecture"
HYPERION_MODEL_FORMAT: Final = "hyperion.model.format"
HYPERION_MODEL_PARAMETERS: Final = "hyperion.model.parameters"
HYPERION_STEP: Final = "hyperion.decode.step_index"
HYPERION_TOKEN_ID: Final = "hyperion.token.id"
HYPERION_TOKEN_PROBABILITY: Final = "hyperion.token.probability"
HYPERION_PREFILL_TOKENS: Final = "hyperion.prefill.tokens"
HYPERION_DECODE_STEPS: Final = "hyperion.decode.steps"
HYPERION_MODEL_DTYPE: Final = "hyperion.model.dtype"

# --- Ops (library API and profiler) ----------------------------------------------------------
HYPERION_OP_NAME: Final = "hyperion.op.name"
HYPERION_OP_LAYER: Final = "hyperion.op.layer"
HYPERION_OP_FLOPS: Final = "hyperion.op.flops"
HYPERION_OP_BYTES: Final = "hyperion.op.bytes"
# Op names the runtime marks through ``_ops.op(name, layer=, shape=, flops=, nbytes=)``.
OP_MATMUL: Final = "matmul"
OP_ATTENTION: Final = "attention"
OP_NORM: Final = "norm"
OP_MLP: Final = "mlp"  # activation of the MLP (GELU / SwiGLU); its GEMMs are OP_MATMUL
OP_SAMPLING: Final = "sampling"
OP_KV_CACHE: Final = "kv_cache"
OP_TOKENIZE: Final = "tokenize"

# --- Library API (hyperion_otel.api) -------------------------------------------------------
EVENT_TENSOR: Final = "hyperion.tensor"
HYPERION_TENSOR_NAME: Final = "hyperion.tensor.name"
HYPERION_TENSOR_SHAPE: Final = "hyperion.tensor.shape"
HYPERION_TENSOR_DTYPE: Final = "hyperion.tensor.dtype"
HYPERION_TENSOR_BYTES: Final = "hyperion.tensor.bytes"
HYPERION_TENSOR_FINITE: Final = "hyperion.tensor.finite"
EVENT_ALLOCATION: Final = "hyperion.allocation"
HYPERION_ALLOCATION_BYTES: Final = "hyperion.allocation.bytes"
HYPERION_ALLOCATION_SITE: Final = "hyperion.allocation.site"
METRIC_LIBRARY_ALLOCATED: Final = "hyperion.library.allocated"

# --- Profiler --------------------------------------------------------------------------------
SPAN_PROFILE: Final = "hyperion.profile"
HYPERION_PROFILE_ID: Final = "hyperion.profile.id"
HYPERION_PROFILE_INTERVAL_MS: Final = "hyperion.profile.sample_interval_ms"
HYPERION_PROFILE_SAMPLES: Final = "hyperion.profile.samples"
HYPERION_PROFILE_OPS: Final = "hyperion.profile.ops"
HYPERION_PROFILE_DROPPED: Final = "hyperion.profile.dropped"  # samples + ops + calls lost to bounds
HYPERION_PROFILE_HOTSPOT_PERCENT: Final = "hyperion.profile.hotspot.percent"
EVENT_PROFILE_HOTSPOTS: Final = "hyperion.profile.hotspots"  # log record summarising hotspots

# --- Logging ---------------------------------------------------------------------------------
# ``extra=`` key of a stdlib record that the OTLP bridge sends as the log record's event
# name field (not an attribute); the JSON file writes it as a top-level field.
LOG_EVENT_NAME_FIELD: Final = "event_name"
HYPERION_LOG_CATEGORY: Final = "hyperion.log.category"

# --- Telemetry pipeline health ---------------------------------------------------------------
METRIC_TELEMETRY_DROPPED: Final = "hyperion.telemetry.dropped"
UNIT_TELEMETRY_DROPPED: Final = "{item}"  # spans, metric data points or log records
HYPERION_SIGNAL: Final = "hyperion.signal"  # traces | metrics | logs
# refused | failed | dropped | unconfirmed: see ``hyperion_otel.sdk.ShutdownReport``
HYPERION_TELEMETRY_OUTCOME: Final = "hyperion.telemetry.outcome"
OTEL_COMPONENT_TYPE: Final = "otel.component.type"  # which exporter, e.g. otlp_grpc_span_exporter

# --- Doctor (test items that ``hyperion-otel doctor`` exports to check each pipeline) -------
SPAN_DOCTOR_PROBE: Final = "hyperion.doctor.probe"
METRIC_DOCTOR_PROBE: Final = "hyperion.doctor.probe"
HYPERION_DOCTOR_RUN_ID: Final = "hyperion.doctor.run_id"
